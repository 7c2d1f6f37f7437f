"""Peak memory of downloading a large export through a real server.

In a fresh subprocess: starts a :class:`MockServer` (waitress), makes an
export of ``--events`` events (default 1,000,000) through the control API
(``POST /__admin/jobs`` with ``type: export``), moves the frozen clock to
its end, warms the download path up with a small export, reads the RSS,
downloads every file of the big one (streamed with ``http.client``, read in
64 KiB pieces, lines counted and dropped) and reads the peak RSS (``VmHWM``
after resetting it on Linux, else ``ru_maxrss``; see
``bench/import_memory.py``). Client and server share that process, so the
growth bounds both.

Prints one JSON object; exits 1 when a file is refused, the events counted
are not the export's, or the peak grew by more than ``--max-mb`` MB
(default 50, the issue's bound: "1,000,000 events download with server
memory growing under 50 MB").

    python bench/export_memory.py [--events 1000000] [--format ndjson|csv|parquet|avro] [--max-mb 50]
"""
from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import time
from urllib.parse import urlsplit

sys.path.insert(0, __file__.rsplit("/", 2)[0])  # the repository, when run as a script

from bench.import_memory import _reset_peak, _status_kib  # noqa: E402


def _call(conn, method: str, path: str, body=None, headers=None):
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers={"Content-Type": "application/json", **(headers or {})})
    response = conn.getresponse()
    return response.status, json.loads(response.read() or b"null")


def _export(conn, key: str, events: int, fmt: str) -> dict:
    """Make an export of ``events`` events, run it to its end; its detail."""
    status, job = _call(conn, "POST", "/__admin/jobs", {"api_key": key, "type": "export", "total_rows": events,
                                                        "format": fmt})
    assert status == 201, job
    end = max(job["timeline"].values())
    status, clock = _call(conn, "GET", "/__admin/clock")
    assert status == 200
    status, _ = _call(conn, "POST", "/__admin/clock", {"now": end})
    assert status == 200, _
    status, detail = _call(conn, "GET", f"/api/v1/analytics/exports/jobs/{job['job_id']}",
                           headers={"Authorization": f"Token {key}"})
    assert status == 200 and detail["status"] == "completed", detail
    return detail


def _download(url: str, fmt: str) -> tuple[int, int, int]:
    """(status, bytes, lines) of one file, read in pieces."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
    conn.request("GET", parts.path + "?" + parts.query)
    response = conn.getresponse()
    size = lines = 0
    while True:
        piece = response.read(65536)
        if not piece:
            break
        size += len(piece)
        lines += piece.count(b"\n")
    conn.close()
    return response.status, size, lines


def measure(events: int, fmt: str) -> dict:
    """In this process: serve, warm up, download every file of an export of ``events`` events."""
    import gc
    import resource

    from mock_server import MockServer

    with MockServer(seed=1, frozen=True, jobs=0) as server:
        parts = urlsplit(server.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
        warm = _export(conn, "bench-warm-up", 5000, fmt)
        for item in warm["presigned_urls"]:
            assert _download(item["url"], fmt)[0] == 200
        big = _export(conn, "bench-big", events, fmt)
        conn.close()
        gc.collect()
        method = "VmHWM" if _reset_peak() else "ru_maxrss"
        before = _status_kib("VmRSS") if method == "VmHWM" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        statuses, size, lines = [], 0, 0
        for item in big["presigned_urls"]:
            status, got, counted = _download(item["url"], fmt)
            statuses.append(status)
            size += got
            lines += counted
        seconds = time.perf_counter() - t0
        after = _status_kib("VmHWM") if method == "VmHWM" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    header_lines = len(statuses) if fmt == "csv" else 0
    return {"statuses": statuses, "files": len(statuses), "bytes": size,
            "events": lines - header_lines if fmt in ("csv", "ndjson") else None, "method": method,
            "rss_before_kib": before, "peak_rss_after_kib": after,
            "peak_growth_mb": round((after - before) * 1024 / 1e6, 2), "download_seconds": round(seconds, 2)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--format", choices=("ndjson", "csv", "parquet", "avro"), default="ndjson")
    parser.add_argument("--max-mb", type=float, default=50.0)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.events, args.format)))
        return 0
    child = subprocess.run([sys.executable, __file__, "--measure", "--events", str(args.events),
                            "--format", args.format], capture_output=True, text=True, timeout=1800)
    if child.returncode != 0:
        print(child.stdout + child.stderr, file=sys.stderr)
        return 2
    result = json.loads(child.stdout.strip().splitlines()[-1])
    result.update(expected_events=args.events, max_growth_mb=args.max_mb, format=args.format)
    ok = (all(s == 200 for s in result["statuses"]) and result["peak_growth_mb"] <= args.max_mb
          and result["events"] in (None, args.events))
    result["ok"] = ok
    print(json.dumps(result))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
