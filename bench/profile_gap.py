"""Where a request's time goes in-process: the fake's WSGI callable beside
the one-route Flask app and a bare WSGI callable serving the same bytes,
called directly (no server, no socket), and a cProfile of the fake.

    python -m bench.profile_gap [--requests 20000] [--top 15]

Prints µs per request (best of 5 runs) for List Jobs 25 (frozen clock) and
the single job, then the fake's top functions by own time. The difference
between the fake and the one-route app is the fake's own work per request;
what the server adds is the same for both (see bench/results/latest.md).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time

from .baseline_server import flask_app, wsgi_app
from .throughput import API_KEY, LIST, NOW, SINGLE_RULE


def _environ(path: str) -> dict:
    return {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8080", "HTTP_HOST": "127.0.0.1:8080", "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1", "HTTP_AUTHORIZATION": f"Token {API_KEY}", "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr, "wsgi.version": (1, 0),
            "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False}


def _start(status, headers, exc_info=None):
    return None


def per_request_us(app, path: str, requests: int) -> float:
    """Best of 5 runs of ``requests`` calls: µs per request."""
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(requests):
            body = app(_environ(path), _start)
            for _chunk in body:
                pass
            close = getattr(body, "close", None)
            if close is not None:
                close()
        best = min(best, (time.perf_counter() - t0) / requests * 1e6)
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    from mock_server import create_app

    fake = create_app(now=NOW, frozen=True, api_slots=8).wsgi_app
    list_body = b"".join(fake(_environ(LIST), _start))
    import json
    job_id = json.loads(list_body)[0]["job_id"]
    single_path = f"{LIST}/{job_id}"
    single_body = b"".join(fake(_environ(single_path), _start))
    rows = []
    for label, path, body, rule in (("List Jobs 25", LIST, list_body, LIST),
                                    ("single job", single_path, single_body, SINGLE_RULE)):
        times = {"fake": per_request_us(fake, path, args.requests),
                 "flask": per_request_us(flask_app(rule, body).wsgi_app, path, args.requests),
                 "wsgi": per_request_us(wsgi_app(rule, body), path, args.requests)}
        rows.append((label, times))
        print(f"{label}: fake {times['fake']:.1f} µs, one-route Flask {times['flask']:.1f} µs, "
              f"bare WSGI {times['wsgi']:.1f} µs per request (in-process, best of 5)")
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(args.requests):
        for _chunk in fake(_environ(LIST), _start):
            pass
    profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(args.top)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
