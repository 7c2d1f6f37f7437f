// userpilot-mock dashboard: a client of the control API (/__admin/, openapi/admin.yaml), as any other.
// No framework, no build step: plain DOM, fetch and JSON. It polls once a second while the page is visible.
// An admin token, when the fake wants one, comes from the page's URL fragment (#token=...) or a prompt, and
// stays in sessionStorage (this tab only); it is sent as "Authorization: Bearer <token>".
"use strict";

(function () {
  const API = "/__admin";
  const TOKEN_KEY = "userpilot-mock.admin-token";
  const POLL_MS = 1000;
  const JOB_LIMIT = 200;
  const JOURNAL_ROWS = 100;
  const APP_LIMIT = 200;
  const PHASES = ["queued", "validating", "processing", "pending_refresh"];
  const TERMINAL = ["completed", "failed"];

  const state = {
    app: null, apps: [], clock: null, clockAt: 0, jobs: [], faults: [], requests: [], coverage: null,
    operations: [], scenarios: [], scenario: null, tick: 0, busy: false, again: false, timer: null,
    tokenAsked: false,
  };

  // -- the control API -------------------------------------------------------------------------------
  class ApiFailure extends Error {
    constructor(status, body) {
      const item = body && Array.isArray(body.errors) && body.errors[0] ? body.errors[0] : {};
      super(item.message || `the control API answered ${status}`);
      this.status = status;
      this.code = item.error_code || "";
      this.details = item.details || "";
    }
  }

  function readFragmentToken() {
    const match = /(?:^#|&)token=([^&]*)/.exec(window.location.hash);
    if (match) {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
      history.replaceState(null, "", window.location.pathname + window.location.search);
    }
  }

  function wantsToken(failure) {
    return failure.status === 401 || (failure.status === 403 && /token/i.test(failure.code + " " + failure.message));
  }

  async function api(method, path, body, retried) {
    const headers = { Accept: "application/json" };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = "Bearer " + token;
    const init = { method, headers, cache: "no-store", credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(API + path, init);
    const text = response.status === 204 ? "" : await response.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
    if (response.ok) return data;
    const failure = new ApiFailure(response.status, data);
    if (!retried && wantsToken(failure) && !state.tokenAsked) {
      state.tokenAsked = true;
      const given = window.prompt("This fake's control API needs its admin token (--admin-token):", "");
      if (given) {
        sessionStorage.setItem(TOKEN_KEY, given);
        state.tokenAsked = false;
        return api(method, path, body, true);
      }
    }
    throw failure;
  }

  function query(params) {
    const parts = Object.entries(params).filter(([, v]) => v !== null && v !== undefined && v !== "")
      .map(([k, v]) => encodeURIComponent(k) + "=" + encodeURIComponent(v));
    return parts.length ? "?" + parts.join("&") : "";
  }

  // -- small DOM helpers -----------------------------------------------------------------------------
  const $ = (id) => document.getElementById(id);

  function h(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function fill(node, children) {
    node.replaceChildren(...children);
  }

  function setOptions(select, options, keepFirst) {
    const current = select.value;
    const first = keepFirst ? [select.options[0]] : [];
    fill(select, [...first, ...options.map(([value, label]) => h("option", { value, text: label }))]);
    if ([...select.options].some((o) => o.value === current)) select.value = current;
  }

  // -- formatting ------------------------------------------------------------------------------------
  const seconds = (iso) => Date.parse(iso) / 1000;

  function clockText(iso) {
    return iso ? iso.replace("T", " ").replace("Z", " UTC") : "…";
  }

  function duration(total) {
    total = Math.max(0, Math.round(total));
    const d = Math.floor(total / 86400), h_ = Math.floor((total % 86400) / 3600);
    const m = Math.floor((total % 3600) / 60), s = total % 60;
    if (d) return `${d}d ${String(h_).padStart(2, "0")}h`;
    if (h_) return `${h_}h ${String(m).padStart(2, "0")}m`;
    if (m) return `${m}m ${String(s).padStart(2, "0")}s`;
    return `${s}s`;
  }

  function spanText(total) {
    return total >= 86400 ? `${Math.round(total / 86400)} d` : total >= 3600 ? `${Math.round(total / 3600)} h`
      : total >= 60 ? `${Math.round(total / 60)} min` : `${Math.round(total)} s`;
  }

  function ago(iso) {
    const delta = (Date.now() - Date.parse(iso)) / 1000;
    return delta < 2 ? "just now" : `${duration(delta)} ago`;
  }

  const number = (n) => Number(n).toLocaleString("en-US");

  function statusBadge(status) {
    return h("span", { class: `status phase-${status}`, text: status });
  }

  // -- rendering -------------------------------------------------------------------------------------
  function renderClock() {
    const clock = state.clock;
    if (!clock) return;
    $("clock-now").textContent = clockText(clock.now);
    $("clock-now").setAttribute("datetime", clock.now);
    const badge = $("clock-state");
    badge.textContent = clock.frozen ? "frozen" : `running ×${number(clock.speed)}`;
    badge.className = "badge " + (clock.frozen ? "frozen" : "running");
    $("clock-toggle").textContent = clock.frozen ? "Resume" : "Freeze";
    const speed = $("speed-input");
    if (document.activeElement !== speed) speed.value = String(clock.speed);
  }

  function renderApps() {
    const body = $("apps").tBodies[0];
    $("apps-empty").hidden = state.apps.length > 0;
    fill(body, state.apps.map((app) => {
      const last = app.last_request;
      const row = h("tr", { "data-app": app.app_token, class: app.app_token === state.app ? "selected" : null },
        h("td", {}, h("button", {
          type: "button", class: "link mono", text: app.app_token, "aria-pressed": String(app.app_token === state.app),
          onclick: () => choose(app.app_token),
        })),
        h("td", { class: "num", text: number(app.jobs) }),
        h("td", { class: "num", text: number(app.in_flight) }),
        h("td", { class: "last" }, last ? [h("span", { class: "mono", text: `${last.method} ${last.path} → ${last.status}` }),
          " ", h("span", { class: "hint", text: ago(last.received_at) })] : h("span", { class: "hint", text: "none in the journal" })));
      return row;
    }));
    const apps = state.apps.map((a) => [a.app_token, a.app_token]);
    setOptions($("journal-app"), apps, true);
    const faultApp = $("fault-app");
    setOptions(faultApp, state.app ? [[state.app, `this app (${state.app})`]] : [], true);
  }

  function axis() {
    // "auto": from the earliest start to the latest planned end of the jobs in flight (now inside), with a
    // margin; with none in flight, the ten minutes before now. Otherwise a fixed span, three quarters before now.
    const now = seconds(state.clock.now);
    const span = Number($("span-select").value) || 0;
    if (span) return { from: now - span * 0.75, to: now + span * 0.25, now };
    const flying = state.jobs.filter((j) => !TERMINAL.includes(j.status));
    let from = now - 600, to = now + 60;
    if (flying.length) {
      from = Math.min(now, ...flying.map((j) => seconds(j.start_time)));
      to = Math.max(now, ...flying.map(ends));
    }
    const margin = Math.max((to - from) * 0.05, 5);
    return { from: from - margin, to: to + margin, now };
  }

  function ends(job) {
    const t = job.timeline || {};
    return seconds(t.completed || t.failed || job.start_time);
  }

  function segments(job, ax) {
    // [phase, start, end] for every phase the job reaches, then its terminal instant
    const t = job.timeline || {};
    const steps = [...PHASES, ...TERMINAL].filter((p) => t[p]).map((p) => [p, seconds(t[p])]);
    const out = [];
    for (let i = 0; i < steps.length; i += 1) {
      const [phase, start] = steps[i];
      if (TERMINAL.includes(phase)) {
        out.push([phase, start, start + Math.max((ax.to - ax.from) / 400, 0.5)]);  // a tick for the end
      } else {
        out.push([phase, start, steps[i + 1] ? steps[i + 1][1] : start]);
      }
    }
    return out;
  }

  function track(job, ax) {
    const width = ax.to - ax.from;
    const pct = (x) => (100 * (Math.min(Math.max(x, ax.from), ax.to) - ax.from)) / width;
    const bars = [];
    for (const [phase, start, end] of segments(job, ax)) {
      const pieces = [[start, Math.min(end, ax.now), false], [Math.max(start, ax.now), end, true]];
      for (const [a, b, future] of pieces) {
        if (b <= a || b <= ax.from || a >= ax.to) continue;
        const bar = h("span", { class: `seg phase-${phase}${future ? " future" : ""}`, title: `${phase} from ${clockText(new Date(start * 1000).toISOString().replace(".000", ""))}` });
        bar.style.left = pct(a) + "%";
        bar.style.width = Math.max(pct(b) - pct(a), 0.3) + "%";
        bars.push(bar);
      }
    }
    const line = h("span", { class: "now" });
    line.style.left = pct(ax.now) + "%";
    return h("div", { class: "track", "aria-label": `timeline of ${job.filename}` }, bars, line);
  }

  function renderJobs() {
    $("jobs-app").textContent = state.app ? `of ${state.app}` : "";
    const body = $("jobs").tBodies[0];
    if (!state.app || !state.clock) {
      fill(body, []);
      $("jobs-count").textContent = state.apps.length ? "Choose an app." : "";
      $("axis").textContent = "";
      return;
    }
    const app = state.apps.find((a) => a.app_token === state.app);
    const total = app ? app.jobs : state.jobs.length;
    $("jobs-count").textContent = total > state.jobs.length
      ? `The newest ${number(state.jobs.length)} of ${number(total)} jobs.` : `${number(total)} jobs, newest first.`;
    const ax = axis();
    $("axis").textContent = `(−${spanText(ax.now - ax.from)} … now … +${spanText(ax.to - ax.now)})`;
    fill(body, state.jobs.map((job) => h("tr", { "data-job-id": job.job_id, "data-status": job.status },
      h("td", {}, statusBadge(job.status)),
      h("td", { class: "opt", text: job.type }),
      h("td", { class: "opt file", title: job.filename, text: job.filename }),
      h("td", { class: "num rows", text: `${number(job.completed_rows)} / ${number(job.total_rows)}` }),
      h("td", { class: "num narrow-hide", text: duration(job.elapsed_time) }),
      h("td", { class: "timeline" }, track(job, ax)))));
  }

  function renderJournal() {
    const appFilter = $("journal-app").value;
    const opFilter = $("journal-operation").value;
    const rows = state.requests.filter((e) => (!appFilter || e.app_token === appFilter)
      && (!opFilter || e.operation === opFilter)).reverse();
    const shown = rows.slice(0, JOURNAL_ROWS);
    const violations = rows.filter((e) => e.violations.length).length;
    $("journal-count").textContent = rows.length
      ? `${number(rows.length)} requests, newest first${rows.length > shown.length ? ` (the newest ${JOURNAL_ROWS} shown)` : ""}; `
        + `${number(violations)} break the kit spec.`
      : "No request yet (the journal keeps the API's requests, not the control API's).";
    fill($("journal").tBodies[0], shown.map((e) => {
      const target = e.path + (Object.keys(e.query).length ? "?" + new URLSearchParams(
        Object.entries(e.query).flatMap(([k, vs]) => vs.map((v) => [k, v]))).toString() : "");
      const broken = e.violations.length > 0;
      return h("tr", { class: broken ? "violation" : null },
        h("td", { class: "mono", title: `received ${e.received_at}; the fake's clock: ${e.clock_now}`, text: e.received_at.slice(11, 19) }),
        h("td", { class: "mono request" }, `${e.method} ${target}`,
          broken ? h("ul", { class: "violations" }, e.violations.map((v) => h("li", { text: `${v.location} ${v.name}: ${v.message}` }))) : null),
        h("td", { class: `num code c${String(e.status)[0]}`, text: e.status }),
        h("td", { class: "opt", text: e.operation || "—" }),
        h("td", { class: "opt mono", text: e.app_token || "—" }),
        h("td", { class: "num opt", text: e.duration_ms.toFixed(1) }));
    }));
  }

  function does(rule) {
    const parts = [];
    if (rule.status !== null) parts.push(`answers ${rule.status}` + (rule.retry_after !== null ? ` (Retry-After ${rule.retry_after})` : ""));
    if (rule.fault) parts.push(rule.fault);
    if (rule.latency_ms !== null) parts.push(`waits ${Array.isArray(rule.latency_ms) ? rule.latency_ms.join("–") : rule.latency_ms} ms`);
    if (rule.probability !== null) parts.push(`p=${rule.probability}`);
    return parts.join(", ");
  }

  function renderFaults() {
    $("faults-empty").hidden = state.faults.length > 0;
    fill($("faults").tBodies[0], state.faults.map((rule) => h("tr", { "data-fault-id": rule.id, class: rule.remaining === 0 ? "spent" : null },
      h("td", { class: "mono", text: rule.id }),
      h("td", { text: rule.operation || "every operation" }),
      h("td", { class: "mono", text: rule.app_token || "every app" }),
      h("td", { text: does(rule) }),
      h("td", { class: "num", text: rule.remaining === null ? "∞" : rule.remaining }),
      h("td", { class: "num", text: rule.hits }),
      h("td", {}, h("button", { type: "button", class: "small", "aria-label": `delete ${rule.id}`, text: "Delete",
        onclick: () => act(() => api("DELETE", "/faults/" + encodeURIComponent(rule.id))) })))));
  }

  function renderCoverage() {
    const report = state.coverage;
    if (!report) return;
    const s = report.summary;
    $("coverage-percent").textContent = `${s.percent.toFixed(1)}%`;
    $("coverage-detail").textContent = `${s.exercised} of ${s.total} items exercised`;
    fill($("coverage-kinds"), Object.entries(s.by_kind).map(([kind, v]) => h("li", {},
      h("span", { text: kind }), " ", h("meter", { min: 0, max: v.total || 1, value: v.exercised, title: `${v.exercised} of ${v.total}` }),
      " ", h("span", { class: "hint", text: `${v.exercised}/${v.total}` }))));
    $("coverage-missed-count").textContent = String(report.missed.length);
    fill($("coverage-missed"), report.missed.map((m) => h("li", { text: m })));
  }

  function renderScenario() {
    const select = $("scenario-select");
    if (select.options.length !== state.scenarios.length) {
      setOptions(select, state.scenarios.map((s) => [s.name, s.name]), false);
    }
    const chosen = state.scenarios.find((s) => s.name === select.value);
    $("scenario-description").textContent = chosen ? chosen.description : "";
    $("scenario-load").textContent = state.app ? "Load into this app" : "Load";
    if (state.scenario) {
      const s = state.scenario;
      $("scenario-current").textContent = s.name === null ? "generated histories" : `${s.name} (${s.description})`;
    }
  }

  function renderOperations() {
    const ops = state.operations.map((op) => [op, op]);
    setOptions($("journal-operation"), ops, true);
    setOptions($("fault-operation"), ops, true);
  }

  function status(text, isError) {
    const node = $("status");
    node.textContent = text;
    node.className = isError ? "error" : "";
  }

  // -- polling ---------------------------------------------------------------------------------------
  async function refresh() {
    if (state.busy) { state.again = true; return; }
    state.busy = true;
    try {
      const [clock, apps, faults, requests] = await Promise.all([
        api("GET", "/clock"), api("GET", "/apps" + query({ limit: APP_LIMIT })), api("GET", "/faults"),
        api("GET", "/requests")]);
      state.clock = clock;
      state.apps = apps;
      state.faults = faults;
      state.requests = requests;
      if (!apps.some((a) => a.app_token === state.app)) state.app = apps.length ? apps[0].app_token : null;
      state.jobs = state.app ? await api("GET", "/jobs" + query({ app_token: state.app, limit: JOB_LIMIT })) : [];
      if (state.tick % 3 === 0 || !state.coverage) {
        const [coverage, scenario] = await Promise.all([api("GET", "/coverage"), api("GET", "/scenario")]);
        state.coverage = coverage;
        state.scenario = scenario;
        const ops = Object.keys(coverage.universe.operations);
        if (ops.join() !== state.operations.join()) { state.operations = ops; renderOperations(); }
      }
      state.tick += 1;
      renderClock(); renderApps(); renderJobs(); renderJournal(); renderFaults(); renderCoverage(); renderScenario();
      status(`updated ${new Date().toLocaleTimeString()} · every ${POLL_MS / 1000} s while this tab is visible`);
    } catch (error) {
      if (error instanceof ApiFailure && error.status === 404 && state.app) state.app = null;  // its app is gone
      status(`cannot read the fake: ${error.message}`, true);
    } finally {
      state.busy = false;
      if (state.again) { state.again = false; refresh(); }
    }
  }

  function schedule() {
    clearTimeout(state.timer);
    state.timer = setTimeout(async () => {
      if (!document.hidden) await refresh();
      schedule();
    }, POLL_MS);
  }

  async function act(action, errorNode) {
    if (errorNode) errorNode.hidden = true;
    try {
      await action();
    } catch (error) {
      const text = error instanceof ApiFailure ? `${error.message}${error.details && error.details !== error.message ? ` (${error.details})` : ""}` : String(error);
      if (errorNode) { errorNode.textContent = text; errorNode.hidden = false; }
      status(text, true);
    }
    await refresh();
  }

  function choose(token) {
    state.app = token;
    state.jobs = [];
    refresh();
  }

  // -- forms and buttons -----------------------------------------------------------------------------
  function faultBody() {
    const body = {};
    const operation = $("fault-operation").value;
    const app = $("fault-app").value;
    const kind = $("fault-kind").value;
    const latency = $("fault-latency").value;
    const times = $("fault-times").value;
    if (operation) body.operation = operation;
    if (app) body.app_token = app;
    if (kind === "status") body.status = Number($("fault-status").value);
    else if (kind !== "latency") body.fault = kind;
    if (latency !== "") body.latency_ms = Number(latency);
    if (times !== "") body.times = Number(times);
    return body;
  }

  function wire() {
    document.querySelectorAll("[data-advance]").forEach((button) => button.addEventListener("click",
      () => act(() => api("POST", "/clock", { advance_seconds: Number(button.dataset.advance) }))));
    $("clock-toggle").addEventListener("click", () => act(() => api("POST", "/clock", { frozen: !(state.clock && state.clock.frozen) })));
    $("speed-form").addEventListener("submit", (event) => {
      event.preventDefault();
      act(() => api("POST", "/clock", { speed: Number($("speed-input").value) }));
    });
    $("span-select").addEventListener("change", renderJobs);
    $("journal-app").addEventListener("change", renderJournal);
    $("journal-operation").addEventListener("change", renderJournal);
    $("fault-kind").addEventListener("change", () => { $("fault-status-label").hidden = $("fault-kind").value !== "status"; });
    $("fault-form").addEventListener("submit", (event) => {
      event.preventDefault();
      act(() => api("POST", "/faults", faultBody()), $("fault-error"));
    });
    $("scenario-select").addEventListener("change", renderScenario);
    $("scenario-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const body = { name: $("scenario-select").value };
      if (state.app) body.app_token = state.app;
      act(() => api("POST", "/scenario", body));
    });
    $("reset").addEventListener("click", () => act(() => api("POST", "/reset", {})));
    $("coverage-clear").addEventListener("click", () => act(() => api("DELETE", "/coverage")));
    document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
    $("apps-hint").textContent = `curl -H 'Authorization: Token demo-api-key' ${window.location.origin}/v1/background_jobs`;
  }

  async function start() {
    readFragmentToken();
    wire();
    try {
      state.scenarios = await api("GET", "/scenarios");
    } catch (error) {
      status(`cannot read the fake: ${error.message}`, true);
    }
    await refresh();
    schedule();
  }

  start();
}());
