"""The results table: rows with targets, printed and written as
``latest.json`` and ``latest.md``."""
from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from .procs import ROOT

#: A figure that meets its target by less than this fraction is called out.
CLOSE = 0.10

PACKAGES = ("userpilot-mock", "granian", "flask", "werkzeug", "waitress", "faker", "click", "pyyaml")

#: Why a figure is what it is: shown under the table for every row that
#: misses its target (and kept in the JSON). Measured causes, see docs/benchmarks.md.
CAUSES = {
    "list25_running": "The fake answers from its cached body; what is left is its own request work "
                      "(Front, the pipeline's stages, authentication, a request id) and one re-render of "
                      "the list per second of the clock (in-flight jobs only).",
    "list25_running_gr": "See 'Where the time goes': the fake's own work per request beside the one-route app's.",
    "list25_frozen": "As the running clock, without the re-render.",
    "list25_frozen_gr": "See 'Where the time goes'.",
    "single_frozen": "Same request work as the list; the job's encoded form is reused within its second.",
    "single_frozen_gr": "See 'Where the time goes'.",
    "list10k_frozen": "The 4 MB answer is cached; the cost is the server writing it, as for the baselines.",
    "prism_d": "Prism -d generates every answer with json-schema-faker.",
    "startup_list": "Start-up is imports: flask (with jinja2 and werkzeug), click, PyYAML and granian "
                    "before the first answer, then faker on the first List Jobs (its package import scans "
                    "and imports all its providers and locales); on a loaded machine every import is slower.",
    "idle_granian": "Granian keeps idle connections in tokio (no Python thread each).",
    "memory": "A job takes ~0.9 KB once created (ids, file name, links, timeline) and ~0.45 KB more once "
              "listed (its encoded form, kept); the ~40 MB answer is kept as the app's cached list, and "
              "the server holds one more copy while sending it.",
    "pertest": "The fixture resets the fake over HTTP before each test.",
    "contract": "Schemathesis generates and runs every case in-process.",
    "record": "Each recorded exchange is one more HTTP hop on loopback (urllib3 to the target, a keep-alive "
              "pool) plus its redaction and one HAR entry written and flushed.",
}


def versions() -> dict:
    out = {"python": platform.python_version(), "implementation": platform.python_implementation()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def machine() -> dict:
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {"cores": os.cpu_count(), "usable_cores": usable, "cpu": model, "system": platform.platform(),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}


def git_commit() -> str | None:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + ("+changes" if dirty else "")) or None


def _fmt(value, unit="", digits=2):
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if abs(value) >= 1000:
        return f"{value:,.0f}{unit}"
    return f"{value:.{digits}f}{unit}"


def build_rows(results: dict) -> list[dict]:
    """One row per figure: ``figure``, ``ours``, ``reference``, ``ratio``,
    ``target``, ``verdict`` ("pass", "MISS", "info", "not run", "not
    available yet"), ``key``."""
    rows = []
    tp = results.get("throughput") or {}
    targets = tp.get("targets") or {}
    ratios = tp.get("ratios") or {}
    skipped = tp.get("skipped") or ("not run" if not tp else None)

    def rps(key):
        t = targets.get(key)
        return f"{t['rps']:,.0f} req/s" if t and t.get("rps") else "-"

    def lat(key):
        t = targets.get(key)
        if not t or t.get("p50_ms") is None:
            return "-"
        return f"{t['rps']:,.0f} req/s, p50 {t['p50_ms']:.1f} ms, p99 {t['p99_ms']:.1f} ms"

    def ratio_row(key, figure, ours, ref, ratio_key, target=None, ours_fmt=rps):
        r = ratios.get(ratio_key)
        value = r["median"] if r else None
        if skipped:
            verdict = skipped if skipped in ("not run",) else "not run (no wrk)"
        elif value is None:
            verdict = "not run"
        elif target is None:
            verdict = "info"
        else:
            verdict = "pass" if value >= target else "MISS"
        rows.append({"key": key, "figure": figure, "ours": ours_fmt(ours), "reference": ours_fmt(ref),
                     "ratio": value, "cpu_cost_ratio": r.get("cpu_cost_ratio") if r else None,
                     "target": f">= {target:g} x" if target is not None else "",
                     "verdict": verdict,
                     "margin": value / target - 1 if value is not None and target else None})

    ratio_row("list25_running", "List Jobs 25, serve defaults: fake / Flask on waitress 4 threads",
              "fake_list25_running", "flask_list25_w4", "list25_running_vs_flask_w4", 2.0)
    ratio_row("list25_running_gr", "List Jobs 25, serve defaults: fake / Flask on Granian (same server)",
              "fake_list25_running", "flask_list25_gr", "list25_running_vs_flask_gr", 0.8)
    ratio_row("list25_frozen", "List Jobs 25, frozen clock: fake / Flask on waitress 4 threads",
              "fake_list25_frozen", "flask_list25_w4", "list25_frozen_vs_flask_w4", 2.0)
    ratio_row("list25_frozen_gr", "List Jobs 25, frozen clock: fake / Flask on Granian (same server)",
              "fake_list25_frozen", "flask_list25_gr", "list25_frozen_vs_flask_gr", 0.8)
    ratio_row("single_frozen", "single job: fake / Flask on waitress 4 threads", "fake_single_frozen",
              "flask_single_w4", "single_frozen_vs_flask_w4", 2.0)
    ratio_row("single_frozen_gr", "single job: fake / Flask on Granian (same server)", "fake_single_frozen",
              "flask_single_gr", "single_frozen_vs_flask_gr", 0.8)
    ratio_row("list10k_frozen", "List Jobs 10,000: fake / Flask on waitress 4 threads", "fake_list10k_frozen",
              "flask_list10k_w4", "list10k_frozen_vs_flask_w4", 1.0, ours_fmt=lat)
    ratio_row("list10k_frozen_gr", "List Jobs 10,000: fake / Flask on Granian", "fake_list10k_frozen",
              "flask_list10k_gr", "list10k_frozen_vs_flask_gr", ours_fmt=lat)
    ratio_row("prism_d", "List Jobs: fake (serve defaults) / Prism -d", "fake_list25_running", "prism_d_list",
              "list25_running_vs_prism_d", 20.0)
    ratio_row("prism_static", "List Jobs: fake (serve defaults) / Prism static", "fake_list25_running",
              "prism_list", "list25_running_vs_prism")
    ratio_row("list25_waitress", "List Jobs 25, frozen: fake on waitress / Flask on waitress 4 threads",
              "fake_list25_waitress", "flask_list25_w4", "list25_waitress_vs_flask_w4")
    ratio_row("granian_vs_waitress", "List Jobs 25, frozen: fake on Granian / fake on waitress",
              "fake_list25_frozen", "fake_list25_waitress", "list25_frozen_vs_waitress")
    ratio_row("list25_frozen_wsgi", "List Jobs 25, frozen: fake / bare WSGI on Granian (the limit)",
              "fake_list25_frozen", "wsgi_list25", "list25_frozen_vs_wsgi")
    ratio_row("flask_wsgi", "List Jobs 25: Flask / bare WSGI, both on Granian", "flask_list25_gr", "wsgi_list25",
              "flask_gr_vs_wsgi_list25")

    st = results.get("startup")
    if st:
        fake = st["fake"]
        prism_list = (st.get("prism") or {}).get("list_s")
        ratio = st.get("ratio_list_vs_prism")
        rows.append({"key": "startup_list", "figure": f"start-up to first List Jobs 200 (median of {st['runs']})",
                     "ours": f"{fake['list_s']:.3f} s (health {fake['health_s']:.3f} s)",
                     "reference": f"Prism {prism_list:.3f} s" if prism_list else
                     f"Prism: {st.get('prism_skipped')}",
                     "ratio": ratio, "target": "<= 0.5 s", "verdict": "pass" if fake["list_s"] <= 0.5 else "MISS",
                     "margin": 1 - fake["list_s"] / 0.5})
    else:
        rows.append({"key": "startup_list", "figure": "start-up", "ours": "-", "reference": "-",
                     "ratio": None, "target": "<= 0.5 s", "verdict": "not run"})

    idle = results.get("idle")
    for key, label in (("granian", "serve defaults"), ("waitress", "--server waitress")):
        part = (idle or {}).get(key)
        target = "< 100 ms" if key == "granian" else ""
        if not part:
            rows.append({"key": f"idle_{key}", "figure": f"1,000 idle connections open: p99 of a request ({label})",
                         "ours": "-", "reference": "", "ratio": None, "target": target, "verdict": "not run"})
            continue
        verdict = ("pass" if part["p99_ms"] < 100 else "MISS") if key == "granian" else "info"
        rows.append({"key": f"idle_{key}", "figure": f"1,000 idle connections open: p99 of a request ({label})",
                     "ours": f"p99 {part['p99_ms']:.1f} ms, p50 {part['p50_ms']:.1f} ms over {part['requests']} "
                             f"requests", "reference": f"without them: p99 {part['baseline_p99_ms']:.1f} ms",
                     "ratio": None, "target": target, "verdict": verdict,
                     "margin": 1 - part["p99_ms"] / 100 if key == "granian" else None})

    mem = results.get("memory")
    rows.append({"key": "memory", "figure": f"peak RSS, {mem['jobs'] if mem else 100_000:,} jobs created and listed",
                 "ours": f"{mem['peak_rss_mb']:.0f} MB ({mem['jobs']:,} jobs, {mem['create_and_list_s']:.1f} s)"
                 if mem and mem.get("peak_rss_mb") else "-",
                 "reference": "", "ratio": None, "target": "<= 300 MB",
                 "verdict": "not run" if not mem or mem.get("peak_rss_mb") is None else
                 ("pass" if mem["peak_rss_mb"] <= 300 else "MISS"),
                 "margin": 1 - mem["peak_rss_mb"] / 300 if mem and mem.get("peak_rss_mb") else None})

    pt = results.get("pertest")
    rows.append({"key": "pertest", "figure": "per-test cost of userpilot_mock (reset + handle), median",
                 "ours": f"{pt['median_ms']:.2f} ms over {pt['tests']} tests" if pt and pt.get("available") else "-",
                 "reference": f"pytest alone {pt['control_median_ms']:.2f} ms" if pt and pt.get("available") else "",
                 "ratio": None, "target": "<= 5 ms",
                 "verdict": "not run" if not pt else ("not available yet" if not pt.get("available") else
                                                      ("pass" if pt["median_ms"] <= 5 else "MISS")),
                 "margin": 1 - pt["median_ms"] / 5 if pt and pt.get("available") else None})

    ct = results.get("contract")
    rows.append({"key": "contract", "figure": "userpilot-mock contract, in-process fake",
                 "ours": f"{ct['seconds']:.1f} s (exit {ct['exit_code']})" if ct and ct.get("available") else "-",
                 "reference": "", "ratio": None, "target": "<= 60 s",
                 "verdict": "not run" if not ct else ("not available yet" if not ct.get("available") else
                                                      ("pass" if ct["seconds"] <= 60 else "MISS")),
                 "margin": 1 - ct["seconds"] / 60 if ct and ct.get("available") else None})

    rec = results.get("record")
    rows.append({"key": "record", "figure": "recording overhead per exchange (userpilot-mock record, loopback)",
                 "ours": f"+{rec['overhead_ms']:.2f} ms ({rec['recorded_ms']:.2f} ms recorded)" if rec else "-",
                 "reference": f"{rec['direct_ms']:.2f} ms direct" if rec else "", "ratio": None,
                 "target": f"<= {rec['target_ms'] if rec else 5:g} ms",
                 "verdict": "not run" if not rec else ("pass" if rec["overhead_ms"] <= rec["target_ms"] else "MISS"),
                 "margin": 1 - rec["overhead_ms"] / rec["target_ms"] if rec else None})
    return rows


def table(rows: list[dict]) -> str:
    """The rows as a plain-text table for the terminal."""
    head = ("figure", "ours", "reference", "ratio", "target", "verdict")
    data = [(r["figure"], r["ours"], r["reference"], _fmt(r["ratio"], " x"), r["target"], r["verdict"])
            for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *data)]
    line = "  ".join("{:<%d}" % w for w in widths)
    out = [line.format(*head), line.format(*("-" * w for w in widths))]
    out += [line.format(*row) for row in data]
    return "\n".join(out)


def markdown(results: dict, rows: list[dict]) -> str:
    meta = results["meta"]
    m, v = meta["machine"], meta["versions"]
    lines = [
        "# Benchmark results",
        "",
        f"Run {meta['date']} with `{meta['command']}` at commit {meta.get('commit') or '?'}, "
        f"in {meta['seconds']:.0f} s."
        + "".join(f" Section(s) {', '.join(x['sections'])} run again {x['date']} at commit {x.get('commit') or '?'} "
                  f"and merged (`--merge`)." for x in meta.get("merged") or []),
        "",
        f"Machine: {m['cores']} cores ({m['usable_cores']} usable), {m.get('cpu') or '?'}; {m['system']}; "
        f"load average at start {', '.join(f'{x:.2f}' for x in m['load_average'] or [])}, at end "
        f"{', '.join(f'{x:.2f}' for x in meta.get('load_average_end') or [])}.",
        "",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val)
        + (f"; wrk {meta['wrk']}" if meta.get("wrk") else "; wrk not installed")
        + (f"; node {meta['node']}" if meta.get("node") else "")
        + (f"; Prism {meta['prism']}" if meta.get("prism") else "") + ".",
        "",
        "Ratios are medians of per-round ratios: in each round every server is loaded once, one after "
        "the other, so each ratio compares runs seconds apart on the same machine. Absolute figures are "
        "medians over the rounds.",
        "",
        "| figure | ours | reference | ratio | target | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['figure']} | {r['ours']} | {r['reference']} | {_fmt(r['ratio'], ' ×')} | "
                     f"{r['target']} | {'**MISS**' if r['verdict'] == 'MISS' else r['verdict']} |")
    tp = results.get("throughput") or {}
    if tp.get("targets"):
        s = tp["settings"]
        lines += ["", "## Load runs", "",
                  f"wrk, {s['connections']} connections, {s['wrk_threads']} thread(s), "
                  f"{s['rounds']} round(s) of {s['duration_s']:g} s per server, after a 1 s warm-up; "
                  "every server bound to 127.0.0.1 and started by the harness. `cpu µs/req` is the server "
                  "process's CPU time divided by the requests it answered: a cost per request that other "
                  "load on the machine changes less than throughput.",
                  "",
                  "| server | req/s (median) | p50 ms | p99 ms | cpu µs/req | bytes/answer | req/s per round |",
                  "|---|---|---|---|---|---|---|"]
        for key, t in tp["targets"].items():
            lines.append(f"| {t['label']} | {_fmt(t['rps'], '', 0)} | {_fmt(t['p50_ms'])} | {_fmt(t['p99_ms'])} | "
                         f"{_fmt(t.get('cpu_us_per_request'), '', 0)} | {_fmt(t.get('bytes_per_request'), '', 0)} | "
                         f"{', '.join(f'{x:,.0f}' for x in t['rounds'])} |")
        lines += ["", "CPU cost ratios (reference's cpu µs/req over ours; above 1 = we spend less per request): "
                  + "; ".join(f"{name} {r['cpu_cost_ratio']:.2f}" for name, r in tp["ratios"].items()
                              if r.get("cpu_cost_ratio"))]
    notes = list(tp.get("notes") or [])
    if tp.get("skipped"):
        notes.append(tp["skipped"])
    st = results.get("startup")
    if st:
        notes.append("start-up launches (s to first List Jobs 200): fake "
                     + ", ".join(f"{r['list_s']:.3f}" for r in st["fake_runs"])
                     + ("; Prism " + ", ".join(f"{r['list_s']:.3f}" for r in st["prism_runs"])
                        if st.get("prism_runs") else "")
                     + f". The fake's CPU time to its first List Jobs: {_fmt((st['fake'] or {}).get('cpu_s'))} s"
                     + (f", Prism's: {_fmt(st['prism'].get('cpu_s'))} s" if st.get("prism") else "") + ".")
    mem = results.get("memory")
    if mem and mem.get("peak_rss_mb"):
        notes.append(f"memory: RSS {mem['idle_rss_mb']:.0f} MB before the first request, peak "
                     f"{mem['peak_rss_mb']:.0f} MB, {mem['final_rss_mb']:.0f} MB after; the answer is "
                     f"{mem['body_bytes'] / 2 ** 20:.1f} MB; a second List Jobs took {mem['second_list_s']:.2f} s.")
    for key in ("pertest", "contract"):
        part = results.get(key)
        if part and not part.get("available"):
            notes.append(f"{key}: {part['reason']}")
        elif part and key == "contract" and part.get("exit_code"):
            notes.append("contract: the run exited " + str(part["exit_code"]) + ": " + " | ".join(part["tail"]))
    for section, error in (results.get("errors") or {}).items():
        notes.append(f"{section} did not complete: {error}")
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    missed = [r for r in rows if r["verdict"] == "MISS"]
    close = [r for r in rows if r["verdict"].startswith("pass") and r.get("margin") is not None
             and r["margin"] < CLOSE]
    lines += ["", "## Gaps and causes", ""]
    if not missed:
        lines.append("- No target missed in this run.")
    for r in missed:
        lines.append(f"- **missed: {r['figure']}** ({-r['margin']:.0%} short): "
                     f"{CAUSES.get(r['key'], 'see docs/benchmarks.md')}")
    for r in close:
        lines.append(f"- close to its target: {r['figure']} (met by {r['margin']:.0%}; a busier machine can "
                     f"tip it): {CAUSES.get(r['key'], 'see docs/benchmarks.md')}")
    extra = results.get("analysis")
    if extra:
        lines += ["", "## Where the time goes", "", extra]
    return "\n".join(lines) + "\n"


def merged(path: Path, results: dict, sections: list[str]) -> dict:
    """``results`` (of ``sections``) over the results already in ``path``:
    the other sections' figures kept, with a note naming what was merged
    and when. ``results`` alone when there is no readable file."""
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return results
    out = {k: v for k, v in old.items() if k != "rows"}
    for section in sections:
        if section in results:
            out[section] = results[section]
    out.setdefault("meta", {})["merged"] = (old.get("meta", {}).get("merged") or []) + [
        {"sections": sections, "date": results["meta"]["date"], "commit": results["meta"].get("commit"),
         "load_average": results["meta"].get("load_average_end")}]
    return out


def write(results: dict, rows: list[dict], folder: Path, stem: str) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    data = dict(results, rows=rows)
    json_path = folder / f"{stem}.json"
    md_path = folder / f"{stem}.md"
    json_path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    md_path.write_text(markdown(results, rows))
    return json_path, md_path


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
