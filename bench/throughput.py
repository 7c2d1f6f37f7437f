"""Throughput and latency under wrk: the fake beside its baselines and Prism.

All servers run at once (idle ones cost nothing) and are loaded one at a
time, in rounds: every round loads every server once, so each ratio is
taken between runs seconds apart, and the median over rounds is reported.
"""
from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

from . import prism, wrk
from .procs import ServerProcess, fake_command, fetch, post_json

API_KEY = "bench-api-key"
HEADERS = {"Authorization": f"Token {API_KEY}"}
NOW = "2026-11-29T12:00:00Z"
LIST = "/v1/background_jobs"
#: The single-job baselines route the operation's template, as a one-route
#: app for getJob would (Flask's converter; any path under it for bare WSGI).
SINGLE_RULE = "/v1/background_jobs/<job_id>"


def fake(name: str, *args: str) -> ServerProcess:
    """``userpilot-mock serve --port 0 --quiet ARGS`` (not started)."""
    return ServerProcess(name, fake_command() + ["serve", "--port", "0", "--quiet", *args])


#: The one-route baselines: (key suffix, label, server, threads). The issue's
#: reference is the one-route Flask app on waitress with 4 threads; the same
#: app on Granian is the fake's own server with the fake's own settings.
BASELINE_SERVERS = (("w4", "waitress, 4 threads", "waitress", 4), ("gr", "Granian", "granian", 8))


def baseline(name: str, kind: str, path: str, body_file: Path, server: str = "waitress",
             threads: int = 8) -> ServerProcess:
    return ServerProcess(name, [sys.executable, "-m", "bench.baseline_server", "--kind", kind,
                                "--path", path, "--body", str(body_file), "--server", server,
                                "--threads", str(threads)])


def _get(url: str) -> bytes:
    status, body = fetch(url, HEADERS)
    if status != 200:
        raise RuntimeError(f"GET {url}: {status} {body[:200]!r}")
    return body


def _in_flight(body: bytes) -> int:
    return sum(1 for job in json.loads(body) if job["status"] not in ("completed", "failed"))


def _restart_running(server: ServerProcess) -> int:
    """Reset the running-clock fake so that its app is created now, with
    in-flight jobs (they settle within minutes at speed 1); returns how many
    are in flight."""
    status, body = post_json(server.url + "/__admin/reset", b"")
    if status != 200:
        raise RuntimeError(f"reset failed: {status} {body[:200]!r}")
    return _in_flight(_get(server.url + LIST))


class Target:
    """One URL to load: ``key`` names it in the results."""

    def __init__(self, key: str, label: str, server: ServerProcess, path: str, before=None):
        self.key = key
        self.label = label
        self.server = server
        self.path = path
        self.before = before
        self.runs: list[dict] = []
        self.notes: list[str] = []

    @property
    def url(self) -> str:
        return self.server.url + self.path


def run(*, duration: float = 5.0, rounds: int = 3, connections: int = 8, threads: int = 1,
        with_prism: bool = True, log=print) -> dict:
    """Start every server, load each ``rounds`` times for ``duration``
    seconds, stop them all. Returns ``{"targets": {key: summary}, "ratios":
    {name: {...}}, "notes": [...]}``."""
    if not wrk.available():
        log(wrk.INSTALL_HINT)
        return {"skipped": wrk.INSTALL_HINT, "notes": []}
    notes: list[str] = []
    servers: list[ServerProcess] = []
    workdir = Path(tempfile.mkdtemp(prefix="userpilot-bench-"))
    try:
        def started(server: ServerProcess) -> ServerProcess:
            servers.append(server)
            return server.start()

        log("starting the fakes (userpilot-mock serve --quiet)...")
        fake_frozen = started(fake("fake frozen", "--frozen", "--now", NOW))
        fake_running = started(fake("fake running", "--speed", "1"))
        fake_10k = started(fake("fake 10k", "--frozen", "--now", NOW, "--jobs", "10000"))

        list25 = _get(fake_frozen.url + LIST)
        jobs25 = json.loads(list25)
        newest = jobs25[0]
        single_path = f"{LIST}/{quote(newest['job_id'], safe=':')}"
        single = _get(fake_frozen.url + single_path)
        list10k = _get(fake_10k.url + LIST)
        running_in_flight = _restart_running(fake_running)
        notes.append(f"List Jobs bodies: 25 jobs {len(list25):,} bytes, 10,000 jobs {len(list10k):,} bytes; "
                     f"single job {len(single):,} bytes (the newest job, status {newest['status']!r}).")
        notes.append(f"running clock: speed 1 with {running_in_flight} job(s) in flight "
                     "(the app is reset before each of its runs so that they stay in flight).")

        bodies = {}
        for name, body in (("list25", list25), ("single", single), ("list10k", list10k)):
            bodies[name] = workdir / f"{name}.json"
            bodies[name].write_bytes(body)

        log("starting the baselines (one-route Flask app on waitress with 4 threads and on Granian; bare WSGI "
            "callable on Granian)...")
        baselines = {}
        for suffix, _label, kind_server, kind_threads in BASELINE_SERVERS:
            for name, path, body in (("25", LIST, "list25"), ("single", SINGLE_RULE, "single"),
                                     ("10k", LIST, "list10k")):
                baselines[f"flask_{name}_{suffix}"] = started(baseline(
                    f"flask {name} {suffix}", "flask", path, bodies[body], kind_server, kind_threads))
        wsgi25 = started(baseline("wsgi 25 gr", "wsgi", LIST, bodies["list25"], "granian", 8))
        fake_waitress = started(fake("fake waitress", "--frozen", "--now", NOW, "--server", "waitress"))
        for key, server in baselines.items():
            path = single_path if "_single_" in key else LIST
            expected = single if "_single_" in key else (list10k if "_10k_" in key else list25)
            if _get(server.url + path) != expected:
                raise RuntimeError(f"{server.name} does not answer the fake's bytes")
        if _get(wsgi25.url + LIST) != list25:
            raise RuntimeError("the bare WSGI baseline does not answer the fake's bytes")

        targets = [
            Target("wsgi_list25", "bare WSGI on Granian, List Jobs 25", wsgi25, LIST),
            Target("flask_list25_w4", "Flask on waitress 4 threads, List Jobs 25", baselines["flask_25_w4"], LIST),
            Target("flask_list25_gr", "Flask on Granian, List Jobs 25", baselines["flask_25_gr"], LIST),
            Target("fake_list25_frozen", "fake (serve defaults), List Jobs 25, frozen clock", fake_frozen, LIST),
            Target("fake_list25_running", "fake (serve defaults), List Jobs 25, running clock", fake_running, LIST,
                   before=_restart_running),
            Target("fake_list25_waitress", "fake on waitress, List Jobs 25, frozen clock", fake_waitress, LIST),
            Target("flask_single_w4", "Flask on waitress 4 threads, single job", baselines["flask_single_w4"],
                   single_path),
            Target("flask_single_gr", "Flask on Granian, single job", baselines["flask_single_gr"], single_path),
            Target("fake_single_frozen", "fake (serve defaults), single job, frozen clock", fake_frozen, single_path),
            Target("flask_list10k_w4", "Flask on waitress 4 threads, List Jobs 10,000", baselines["flask_10k_w4"],
                   LIST),
            Target("flask_list10k_gr", "Flask on Granian, List Jobs 10,000", baselines["flask_10k_gr"], LIST),
            Target("fake_list10k_frozen", "fake (serve defaults), List Jobs 10,000, frozen clock", fake_10k, LIST),
        ]

        if with_prism:
            problem = prism.install(log)
            if problem:
                notes.append(f"Prism rows skipped: {problem}")
                log(f"warning: {problem}")
            else:
                log("starting Prism (static and -d)...")
                for dynamic in (False, True):
                    server = prism.server(dynamic)
                    servers.append(server)
                    server.launch()
                    server.wait_until_ok(server.url + LIST, HEADERS)
                    key = "prism_d_list" if dynamic else "prism_list"
                    label = "Prism -d (dynamic), List Jobs" if dynamic else "Prism (static), List Jobs"
                    targets.append(Target(key, label, server, LIST))
                notes.append("Prism runs with `-v silent` (no request log), as the fake runs `--quiet`.")

        log(f"warming up {len(targets)} servers...")
        for target in targets:
            if target.before:
                target.before(target.server)
            wrk.run(target.url, duration=1, connections=connections, threads=threads, headers=HEADERS)

        for r in range(rounds):
            order = targets if r % 2 == 0 else targets[::-1]
            for target in order:
                if target.before:
                    target.before(target.server)
                cpu0 = target.server.cpu_seconds()
                result = wrk.run(target.url, duration=duration, connections=connections, threads=threads,
                                 headers=HEADERS)
                cpu1 = target.server.cpu_seconds()
                result["cpu_us_per_request"] = (None if cpu0 is None or cpu1 is None or not result["requests"]
                                                else (cpu1 - cpu0) / result["requests"] * 1e6)
                if result["non_2xx"] or result["errors"]:
                    target.notes.append(f"round {r + 1}: {result['non_2xx']} non-2xx, "
                                        f"{result['errors']} socket errors")
                target.runs.append(result)
                log(f"  round {r + 1}/{rounds}  {target.label:45s} {result['rps']:9.1f} req/s  "
                    f"p50 {result['p50_ms']:.2f} ms  p99 {result['p99_ms']:.2f} ms  "
                    f"cpu {result['cpu_us_per_request'] or 0:.0f} us/req")
            if fake_running in [t.server for t in targets]:
                left = _in_flight(_get(fake_running.url + LIST))
                if left == 0:
                    notes.append(f"round {r + 1}: the running fake's jobs had all settled by the end")
    finally:
        for server in reversed(servers):
            server.stop()
        for path in workdir.iterdir():
            path.unlink()
        workdir.rmdir()

    by_key = {t.key: t for t in targets}
    summary = {t.key: _summary(t) for t in targets}

    def ratio(num: str, den: str) -> dict | None:
        if num not in by_key or den not in by_key:
            return None
        pairs = [a["rps"] / b["rps"] for a, b in zip(by_key[num].runs, by_key[den].runs) if b["rps"]]
        cpu = [b["cpu_us_per_request"] / a["cpu_us_per_request"]
               for a, b in zip(by_key[num].runs, by_key[den].runs)
               if a.get("cpu_us_per_request") and b.get("cpu_us_per_request")]
        return {"of": num, "to": den, "median": statistics.median(pairs) if pairs else None,
                "rounds": [round(p, 3) for p in pairs],
                "cpu_cost_ratio": statistics.median(cpu) if cpu else None}

    ratios = {
        "list25_frozen_vs_flask_w4": ratio("fake_list25_frozen", "flask_list25_w4"),
        "list25_frozen_vs_flask_gr": ratio("fake_list25_frozen", "flask_list25_gr"),
        "list25_running_vs_flask_w4": ratio("fake_list25_running", "flask_list25_w4"),
        "list25_running_vs_flask_gr": ratio("fake_list25_running", "flask_list25_gr"),
        "list25_frozen_vs_wsgi": ratio("fake_list25_frozen", "wsgi_list25"),
        "flask_gr_vs_wsgi_list25": ratio("flask_list25_gr", "wsgi_list25"),
        "list25_waitress_vs_flask_w4": ratio("fake_list25_waitress", "flask_list25_w4"),
        "list25_frozen_vs_waitress": ratio("fake_list25_frozen", "fake_list25_waitress"),
        "list25_running_vs_prism_d": ratio("fake_list25_running", "prism_d_list"),
        "list25_frozen_vs_prism_d": ratio("fake_list25_frozen", "prism_d_list"),
        "list25_running_vs_prism": ratio("fake_list25_running", "prism_list"),
        "single_frozen_vs_flask_w4": ratio("fake_single_frozen", "flask_single_w4"),
        "single_frozen_vs_flask_gr": ratio("fake_single_frozen", "flask_single_gr"),
        "list10k_frozen_vs_flask_w4": ratio("fake_list10k_frozen", "flask_list10k_w4"),
        "list10k_frozen_vs_flask_gr": ratio("fake_list10k_frozen", "flask_list10k_gr"),
    }
    return {"targets": summary, "ratios": {k: v for k, v in ratios.items() if v}, "notes": notes,
            "settings": {"duration_s": duration, "rounds": rounds, "connections": connections,
                         "wrk_threads": threads}}


def _summary(target: Target) -> dict:
    runs = target.runs

    def med(name):
        values = [r[name] for r in runs if r.get(name) is not None]
        return statistics.median(values) if values else None

    return {"label": target.label, "rps": med("rps"), "p50_ms": med("p50_ms"), "p99_ms": med("p99_ms"),
            "cpu_us_per_request": med("cpu_us_per_request"),
            "bytes_per_request": med("bytes_per_request"), "rounds": [round(r["rps"], 1) for r in runs],
            "notes": target.notes}


def mini_run(duration: float = 1.0) -> dict:
    """A smoke run (about 3 s): one frozen fake and one bare WSGI baseline
    serving its List Jobs bytes, each loaded once by wrk for ``duration``
    seconds. Returns ``{"fake": wrk result, "wsgi": wrk result, "ratio"}``.
    Raises RuntimeError when wrk is missing."""
    if not wrk.available():
        raise RuntimeError(wrk.INSTALL_HINT)
    workdir = Path(tempfile.mkdtemp(prefix="userpilot-bench-mini-"))
    body_file = workdir / "list.json"
    with fake("fake frozen", "--frozen", "--now", NOW) as fake_frozen:
        fake_frozen.start()
        body_file.write_bytes(_get(fake_frozen.url + LIST))
        with baseline("wsgi", "wsgi", LIST, body_file, "granian") as bare:
            bare.start()
            results = {name: wrk.run(server.url + LIST, duration=duration, headers=HEADERS)
                       for name, server in (("fake", fake_frozen), ("wsgi", bare))}
    body_file.unlink()
    workdir.rmdir()
    results["ratio"] = results["fake"]["rps"] / results["wsgi"]["rps"]
    return results
