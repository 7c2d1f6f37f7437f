"""Memory: peak RSS of ``userpilot-mock serve`` while it creates 100,000
jobs for one app (``--jobs 100000``: the first request of a key creates
its history) and lists them once (one ~40 MB List Jobs answer)."""
from __future__ import annotations

import time

from .procs import ServerProcess, fake_command, fetch
from .throughput import HEADERS, LIST, NOW


def run(jobs: int = 100_000, log=print) -> dict:
    """``{"jobs", "peak_rss_mb", "idle_rss_mb", "create_and_list_s",
    "body_bytes", "second_list_s"}``; RSS figures are None off Linux."""
    server = ServerProcess("fake 100k", fake_command() + ["serve", "--port", "0", "--quiet", "--frozen",
                                                          "--now", NOW, "--jobs", str(jobs)])
    with server:
        server.start()
        idle = server.rss_bytes()
        t0 = time.perf_counter()
        status, body = fetch(server.url + LIST, HEADERS, timeout=600)
        elapsed = time.perf_counter() - t0
        if status != 200:
            raise RuntimeError(f"List Jobs answered {status}: {body[:200]!r}")
        count = body.count(b'"job_id"')
        t1 = time.perf_counter()
        fetch(server.url + LIST, HEADERS, timeout=600)
        again = time.perf_counter() - t1
        peak = server.peak_rss_bytes()
        after = server.rss_bytes()
    mb = (lambda v: None if v is None else v / 2 ** 20)
    log(f"  {count:,} jobs: peak RSS {mb(peak) or 0:.0f} MB, created and listed in {elapsed:.1f} s")
    return {"jobs": count, "peak_rss_mb": mb(peak), "idle_rss_mb": mb(idle), "final_rss_mb": mb(after),
            "create_and_list_s": elapsed, "second_list_s": again, "body_bytes": len(body)}
