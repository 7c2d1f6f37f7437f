"""The baselines the fake is compared with, served exactly like the fake.

``python -m bench.baseline_server --kind flask|wsgi --path P --body FILE
[--server granian|waitress] [--threads N]`` serves one route returning the
bytes of FILE, precomputed, on the fake's own servers with the fake's own
settings (Granian: :class:`mock_server.granian_server.GranianServer`;
waitress: ``ident``, thread count, body limit, the constants of
:mod:`mock_server.server`). It prints ``listening http://127.0.0.1:<port>``
once bound.

* ``flask``: a one-route Flask app (the same web framework as the fake, no
  domain work): what the fake could reach if its domain cost nothing.
* ``wsgi``: a bare WSGI callable: the limit of the server itself.
"""
from __future__ import annotations

import argparse
import sys

from mock_server.server import run_server

JSON_TYPE = "application/json; charset=utf-8"


def flask_app(path: str, body: bytes):
    """A Flask app with one GET route ``path`` (a Flask rule: it may hold a
    ``<converter>``) answering ``body``."""
    from flask import Flask, Response

    app = Flask("bench_baseline")

    def view(**_path_params):
        return Response(body, content_type=JSON_TYPE)

    app.add_url_rule(path, endpoint="only", view_func=view, methods=["GET"])
    return app


def wsgi_app(path: str, body: bytes):
    """A bare WSGI callable answering ``body`` at ``path`` (a rule ending in
    ``<name>`` matches any last segment there), 404 elsewhere."""
    headers = [("Content-Type", JSON_TYPE), ("Content-Length", str(len(body)))]
    not_found = [("Content-Type", "text/plain"), ("Content-Length", "0")]

    prefix = path.split("<", 1)[0] if "<" in path else None

    def app(environ, start_response):
        route = environ.get("PATH_INFO", "")
        if route == path or (prefix is not None and route.startswith(prefix) and "/" not in route[len(prefix):]):
            start_response("200 OK", headers)
            return [body]
        start_response("404 Not Found", not_found)
        return [b""]

    return app


def make_server(kind: str, path: str, body: bytes, host: str = "127.0.0.1", port: int = 0,
                threads: int = 8, server: str = "waitress"):
    """A bound (not running) server of the baseline app: ``server`` is
    ``"waitress"`` (exactly ``create_server`` with the fake's settings and
    ``threads`` threads) or ``"granian"`` (the fake's Granian adapter)."""
    from waitress.server import create_server

    from mock_server.granian_server import GranianServer
    from mock_server.server import MAX_BODY_BYTES, SERVER_IDENT

    app = flask_app(path, body).wsgi_app if kind == "flask" else wsgi_app(path, body)
    if server == "granian":
        return GranianServer(app, host=host, port=port, threads=threads, max_body_bytes=MAX_BODY_BYTES)
    return create_server(app, host=host, port=port, ident=SERVER_IDENT, threads=threads,
                         max_request_body_size=MAX_BODY_BYTES, clear_untrusted_proxy_headers=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=("flask", "wsgi"), required=True)
    parser.add_argument("--path", required=True, help="the route, e.g. /v1/background_jobs")
    parser.add_argument("--body", required=True, help="file holding the answer's bytes")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--server", choices=("granian", "waitress"), default="waitress")
    args = parser.parse_args(argv)
    with open(args.body, "rb") as handle:
        body = handle.read()
    server = make_server(args.kind, args.path, body, threads=args.threads, server=args.server)
    print(f"listening http://127.0.0.1:{server.effective_port}", flush=True)

    run_server(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
