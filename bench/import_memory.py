"""Peak memory of a large import upload through a real server.

Writes a multipart body holding an NDJSON (or CSV) import file of about
``--size-mib`` MiB (default: just under the 50 MiB limit) to a temporary
folder, then, in a fresh subprocess, starts a :class:`MockServer` (the default server),
warms the upload path up with a 1 MiB file, reads the RSS, uploads the big
file (streamed from disk with ``http.client``) and reads the peak RSS
(``VmHWM`` after resetting it on Linux, else ``ru_maxrss``: see
:func:`measure`). The client and the server share that process, so the
growth bounds both.

Prints one JSON object; exits 1 when the upload is not accepted with the
expected row count or when the peak grew by more than ``--max-mb`` MB
(default 10, the issue's bound: "a 50 MiB upload raises the process's peak
memory by at most 10 MB").

    python bench/import_memory.py [--size-mib 50] [--format ndjson|csv] [--max-mb 10] [--pad BYTES]

The test suite runs it with ``--pad 16000`` (about 3,000 rows of 16 KB):
the same bytes through the same path, with less validation time.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

BOUNDARY = "----userpilot-mock-bench-boundary"


def write_upload(path: str, size_bytes: int, fmt: str, pad: int = 0) -> tuple[int, int]:
    """Write a multipart body with a ``file`` part of at most ``size_bytes``
    bytes of valid rows to ``path``; ``pad`` > 0 (NDJSON only) adds a field
    of that many bytes to each row (fewer, longer rows). Returns (file
    bytes, rows)."""
    from mock_server.families.imports.models import example_rows

    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"events.{fmt}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    written = rows = 0
    lines = example_rows(10**9, fmt)
    with open(path, "wb") as out:
        out.write(head)
        batch: list[bytes] = []
        batched = 0
        padding = f',"padding":"{"x" * pad}"}}\n' if pad else ""
        for line in lines:
            if padding and line.endswith("}\n"):
                line = line[:-2] + padding
            data = line.encode()
            if written + len(data) > size_bytes:
                break
            batch.append(data)
            batched += len(data)
            written += len(data)
            if not line.startswith("event_type,"):
                rows += 1
            if batched >= 2**20:
                out.write(b"".join(batch))
                batch.clear()
                batched = 0
        out.write(b"".join(batch))
        out.write(tail)
    return written, rows


def _post(url: str, api_key: str, body_path: str) -> tuple[int, dict]:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=300)
    with open(body_path, "rb") as body:
        conn.request("POST", "/v1/imports", body=body, headers={
            "Authorization": f"Token {api_key}",
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": str(os.path.getsize(body_path))})
        response = conn.getresponse()
        data = response.read()
    conn.close()
    return response.status, json.loads(data)


def _status_kib(name: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset this process's peak RSS (Linux >= 4.0: ``/proc/self/clear_refs``)."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return _status_kib("VmHWM") is not None
    except OSError:
        return False


def measure(big: str, small: str) -> dict:
    """In this process: serve, warm up with ``small``, upload ``big``.

    A process's ``ru_maxrss`` starts at its parent's peak (Linux keeps it
    across fork and exec), which can hide any growth; so where Linux lets us
    reset the peak, the baseline is the current RSS right after the reset
    and the peak is ``VmHWM``. Elsewhere ``ru_maxrss`` before and after.
    """
    import gc
    import resource

    from mock_server import MockServer

    def maxrss() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    with MockServer(seed=1, frozen=True, jobs=0) as server:
        status, _ = _post(server.url, "bench-warm-up", small)
        assert status == 200, status
        gc.collect()
        method = "VmHWM" if _reset_peak() else "ru_maxrss"
        before = _status_kib("VmRSS") if method == "VmHWM" else maxrss()
        maxrss_before = maxrss()
        t0 = time.perf_counter()
        status, job = _post(server.url, "bench-big", big)
        seconds = time.perf_counter() - t0
        after = _status_kib("VmHWM") if method == "VmHWM" else maxrss()
        maxrss_after = maxrss()
    return {"status": status, "total_rows": job.get("total_rows"), "file_size": job.get("file_size"),
            "method": method, "rss_before_kib": before, "peak_rss_after_kib": after,
            "ru_maxrss_before_kib": maxrss_before, "ru_maxrss_after_kib": maxrss_after,
            "peak_growth_mb": round((after - before) * 1024 / 1e6, 2), "upload_seconds": round(seconds, 2)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=float, default=50.0)
    parser.add_argument("--format", choices=("ndjson", "csv"), default="ndjson")
    parser.add_argument("--max-mb", type=float, default=10.0)
    parser.add_argument("--pad", type=int, default=0,
                        help="NDJSON: bytes added to each row (fewer rows, quicker validation)")
    parser.add_argument("--measure", nargs=2, metavar=("BIG", "SMALL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return 0
    with tempfile.TemporaryDirectory(prefix="userpilot-mock-bench-") as tmp:
        big, small = os.path.join(tmp, "big.body"), os.path.join(tmp, "small.body")
        if args.pad and args.format != "ndjson":
            parser.error("--pad needs --format ndjson")
        size, rows = write_upload(big, int(args.size_mib * 2**20), args.format, args.pad)
        write_upload(small, 2**20, args.format)
        child = subprocess.run([sys.executable, __file__, "--measure", big, small],
                               capture_output=True, text=True, timeout=600)
        if child.returncode != 0:
            print(child.stdout + child.stderr, file=sys.stderr)
            return 2
        result = json.loads(child.stdout.strip().splitlines()[-1])
    result.update(expected_rows=rows, expected_file_size=size, max_growth_mb=args.max_mb)
    ok = (result["status"] == 200 and result["total_rows"] == rows and result["file_size"] == size
          and result["peak_growth_mb"] <= args.max_mb)
    result["ok"] = ok
    print(json.dumps(result))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
