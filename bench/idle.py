"""Idle connections: the latency of a normal request while 1,000 client
connections are open and idle, on ``userpilot-mock serve`` (Granian, the
default) and ``--server waitress``.

For each server: 200 List Jobs, each on a new connection, one after the
other (the baseline); then 1,000 connections opened and left idle (nothing
sent), and 200 List Jobs again; p50 and p99 in milliseconds.
"""
from __future__ import annotations

import resource
import socket
import statistics
import time
from urllib.parse import urlsplit

from .procs import ServerProcess, fake_command
from .throughput import API_KEY, LIST, NOW

IDLE = 1000
REQUESTS = 200


def _request_ms(host: str, port: int) -> float:
    """Milliseconds for one List Jobs on a new connection (status 200 asserted)."""
    request = (f"GET {LIST} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Token {API_KEY}\r\n"
               "Connection: close\r\n\r\n").encode()
    t0 = time.perf_counter()
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    elapsed = (time.perf_counter() - t0) * 1000
    if not data.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"List Jobs answered {data[:100]!r}")
    return elapsed


def _percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.99) - 1)]


def measure(server_kind: str, idle: int = IDLE, requests: int = REQUESTS) -> dict:
    """``{"p50_ms", "p99_ms", "baseline_p50_ms", "baseline_p99_ms", "idle",
    "requests"}`` for one server kind."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < idle + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, idle + 1000) if hard > 0 else idle + 1000, hard))
    argv = fake_command() + ["serve", "--port", "0", "--quiet", "--frozen", "--now", NOW, "--server", server_kind]
    with ServerProcess(f"fake {server_kind}", argv) as server:
        server.start()
        parts = urlsplit(server.url)
        host, port = parts.hostname, parts.port
        _request_ms(host, port)  # creates the app
        baseline = [_request_ms(host, port) for _ in range(requests)]
        sockets = []
        try:
            for _ in range(idle):
                sockets.append(socket.create_connection((host, port), timeout=10))
            time.sleep(0.2)
            loaded = [_request_ms(host, port) for _ in range(requests)]
        finally:
            for sock in sockets:
                sock.close()
    p50, p99 = _percentiles(loaded)
    b50, b99 = _percentiles(baseline)
    return {"p50_ms": p50, "p99_ms": p99, "baseline_p50_ms": b50, "baseline_p99_ms": b99, "idle": idle,
            "requests": requests}


def run(idle: int = IDLE, requests: int = REQUESTS, log=print) -> dict:
    """:func:`measure` on Granian and on waitress."""
    results = {}
    for kind in ("granian", "waitress"):
        results[kind] = measure(kind, idle, requests)
        r = results[kind]
        log(f"  {kind}: {idle} idle connections: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms "
            f"(without: p50 {r['baseline_p50_ms']:.1f} ms, p99 {r['baseline_p99_ms']:.1f} ms)")
    return results
