"""Start-up: from launching ``userpilot-mock serve`` to its first 200s,
beside Prism's launch, interleaved in one run.

For the fake: launch -> the first 200 of ``GET /__admin/health`` and of
``GET /v1/background_jobs`` (the first List Jobs also creates the app and
its seeded history). For Prism (``prism mock`` of the same spec, static
mode): launch -> the first 200 of List Jobs, polled every 10 ms. One
discarded launch of each warms the disk cache first; then ``runs`` launches
of each, alternating, and the median.
"""
from __future__ import annotations

import statistics
import time

from . import prism
from .procs import ServerProcess, fake_command, fetch
from .throughput import HEADERS, LIST


def launch_fake() -> dict:
    """One launch of the fake; seconds from launch to the banner, the first
    health 200, the first List Jobs 200, and the CPU seconds used by then."""
    server = ServerProcess("fake", fake_command() + ["serve", "--port", "0", "--quiet"])
    try:
        server.launch()
        server.wait_for_url(timeout=60)
        banner = time.perf_counter() - server.started_at
        status, _ = fetch(server.url + "/__admin/health")
        health = time.perf_counter() - server.started_at
        if status != 200:
            raise RuntimeError(f"health answered {status}")
        status, _ = fetch(server.url + LIST, HEADERS)
        first_list = time.perf_counter() - server.started_at
        if status != 200:
            raise RuntimeError(f"List Jobs answered {status}")
        return {"banner_s": banner, "health_s": health, "list_s": first_list,
                "cpu_s": server.cpu_seconds()}
    finally:
        server.stop()


def launch_prism() -> dict:
    """One launch of Prism (static mode); seconds to the first List Jobs 200."""
    server = prism.server(dynamic=False)
    try:
        server.launch()
        first_list = server.wait_until_ok(server.url + LIST, HEADERS, timeout=60, interval=0.01)
        return {"list_s": first_list, "cpu_s": server.cpu_seconds()}
    finally:
        server.stop()


def run(runs: int = 5, with_prism: bool = True, log=print) -> dict:
    """Median (and every run) of both launches. ``prism`` is None when Prism
    is not available (``prism_skipped`` says why)."""
    problem = prism.install(log) if with_prism else "not asked (--no-prism)"
    fake_runs, prism_runs = [], []
    launch_fake()
    if not problem:
        launch_prism()
    for i in range(runs):
        fake_runs.append(launch_fake())
        if not problem:
            prism_runs.append(launch_prism())
        log(f"  launch {i + 1}/{runs}: fake health {fake_runs[-1]['health_s']:.3f} s, "
            f"List Jobs {fake_runs[-1]['list_s']:.3f} s"
            + (f"; Prism List Jobs {prism_runs[-1]['list_s']:.3f} s" if prism_runs else ""))

    def med(rows, key):
        values = [r[key] for r in rows if r.get(key) is not None]
        return statistics.median(values) if values else None

    result = {
        "runs": runs,
        "fake": {key: med(fake_runs, key) for key in ("banner_s", "health_s", "list_s", "cpu_s")},
        "fake_runs": fake_runs,
        "prism": {key: med(prism_runs, key) for key in ("list_s", "cpu_s")} if prism_runs else None,
        "prism_runs": prism_runs,
        "prism_skipped": problem,
    }
    if prism_runs:
        pairs = [f["list_s"] / p["list_s"] for f, p in zip(fake_runs, prism_runs)]
        result["ratio_list_vs_prism"] = statistics.median(pairs)
        result["ratio_rounds"] = [round(x, 3) for x in pairs]
    return result
