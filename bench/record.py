"""Recording overhead: the same requests sent straight to the fake and
through ``userpilot-mock record`` in front of it, side by side.

Both servers are child processes on 127.0.0.1 (``userpilot-mock serve
--frozen --quiet`` and ``userpilot-mock record --target <it> --quiet``);
one keep-alive connection to each. Every round sends one request to each in
turn (the single-job answer and List Jobs of 25 jobs alternating), so a
direct and a recorded exchange are always measured a moment apart; the
overhead is the median of the recorded latencies minus the median of the
direct ones, per exchange. Target: at most 5 ms added per exchange.
"""
from __future__ import annotations

import http.client
import json
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from .procs import ServerProcess, fake_command
from .throughput import HEADERS, LIST, NOW

#: The target: milliseconds added per recorded exchange.
TARGET_MS = 5.0


def _connection(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)


def _timed(conn: http.client.HTTPConnection, path: str) -> tuple[float, bytes]:
    t0 = time.perf_counter()
    conn.request("GET", path, headers=HEADERS)
    answer = conn.getresponse()
    body = answer.read()
    if answer.status != 200:
        raise RuntimeError(f"GET {path}: {answer.status} {body[:200]!r}")
    return (time.perf_counter() - t0) * 1000, body


def run(requests: int = 400, log=print) -> dict:
    """``{"direct_ms", "recorded_ms", "overhead_ms", "requests", "exchanges_recorded", "rounds": [...]}``:
    medians over ``requests`` requests to each server."""
    with tempfile.TemporaryDirectory(prefix="userpilot-bench-record-") as out:
        fake = ServerProcess("fake", fake_command() + ["serve", "--port", "0", "--quiet", "--frozen", "--now", NOW])
        with fake.start():
            recorder = ServerProcess("recorder", fake_command() + ["record", "--target", fake.url, "--port", "0",
                                                                   "--quiet", "--out", out])
            with recorder.start():
                direct, recorded = _connection(fake.url), _connection(recorder.url)
                _timed(direct, LIST)  # the app's history, created once, before any measurement
                _, body = _timed(recorded, LIST)
                job = json.loads(body)[0]["job_id"]
                paths = ("/v1/background_jobs/" + job, LIST)
                times: dict[str, list[float]] = {"direct": [], "recorded": []}
                for i in range(requests):
                    path = paths[i % 2]
                    pair = (("direct", direct), ("recorded", recorded)) if i % 4 < 2 else \
                        (("recorded", recorded), ("direct", direct))
                    for name, conn in pair:
                        times[name].append(_timed(conn, path)[0])
                direct.close()
                recorded.close()
        cassettes = list(Path(out).glob("*.har"))
        kept = 0
        if cassettes:
            from mock_server.evidence.har import read_cassette  # deferred: the bench's other sections need none

            kept = len(read_cassette(cassettes[0]))
    d, r = statistics.median(times["direct"]), statistics.median(times["recorded"])
    result = {"requests": requests, "direct_ms": d, "recorded_ms": r, "overhead_ms": r - d,
              "direct_p90_ms": statistics.quantiles(times["direct"], n=10)[-1],
              "recorded_p90_ms": statistics.quantiles(times["recorded"], n=10)[-1],
              "exchanges_recorded": kept, "target_ms": TARGET_MS}
    log(f"  recording: direct {d:.2f} ms, through the recorder {r:.2f} ms: {r - d:+.2f} ms per exchange "
        f"({kept} exchanges recorded)")
    return result
