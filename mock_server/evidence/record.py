"""The recording proxy (``userpilot-mock record``): clients point at it as
they would at the fake; it forwards each request to the target, streams the
target's answer back unchanged, and appends the exchange, redacted
(:mod:`.redact`), to a cassette (:mod:`.har`).

The real API lives on two hosts (the kit spec's ``servers``, docs/domain.md):
``<environment>.userpilot.io`` for the jobs, imports, bulk identify and
real-time calls, ``appex.userpilot.io`` for the exports and their lookups
(the paths under :data:`EXPORTS_PREFIX`; no EU variant is documented). The
fake answers both on one port, so the proxy does too: it forwards each
request by its path (:func:`routes_for`), and the cassette's URLs name the
host that answered. The files of an export are not recorded: their
presigned URLs point at the storage host, which a client reaches directly
(the URLs in a recorded answer keep their host and path, their signature
filtered: :mod:`.redact`).

Read-only unless told otherwise: only GET is forwarded; any other method is
answered 403 in the error shape naming ``--allow-writes``, and not sent.
Upstream requests go through one ``urllib3`` pool (keep-alive, no retries,
no redirects followed: a redirect is an answer like any other); the answer
is streamed to the client as it arrives, a copy kept for the cassette (up to
:data:`~.har.MAX_KEPT_BODY` bytes). The proxy is a WSGI app, served by the
same server as the fake (:func:`mock_server.server.make_app_server`).
"""
from __future__ import annotations

import io
import logging
import threading
import time
import zlib
from collections.abc import Iterator
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import urllib3

from ..backend.errors import ApiError
from ..http.render import encode
from ..http.violations import raw_path
from ..server import make_app_server, stop_server
from .har import MAX_KEPT_BODY, CassetteWriter, Exchange
from .redact import masked_path, redact

#: The real API's hosts (docs/domain.md, "The surface").
ENVIRONMENTS = {"analytex": "https://analytex.userpilot.io", "analytex-eu": "https://analytex-eu.userpilot.io"}
#: The exports host and the paths it serves (the kit spec's second server; one host for every environment).
EXPORTS_HOST = "https://appex.userpilot.io"
EXPORTS_PREFIX = "/api/v1/analytics/exports"
#: Headers that belong to one connection, never forwarded (RFC 9110 section 7.6.1).
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade", "proxy-connection"})
#: Request bodies above this are refused (413), as the fake refuses them.
MAX_REQUEST_BODY = 64 * 1024 * 1024
#: Bytes read from the target at a time.
CHUNK = 64 * 1024

log = logging.getLogger("userpilot_mock.record")


def target_url(environment: str | None, target: str | None) -> str:
    """The base URL to record: ``target`` (http or https, no path beyond
    ``/``), else the environment's host. Raises ValueError naming what is
    wrong."""
    if (environment is None) == (target is None):
        raise ValueError("give --environment or --target (one of them)")
    if environment is not None:
        if environment not in ENVIRONMENTS:
            raise ValueError(f"--environment must be one of {', '.join(ENVIRONMENTS)}, not {environment!r}")
        return ENVIRONMENTS[environment]
    assert target is not None
    return _checked_url(target, "--target")


def routes_for(environment: str | None, exports_target: str | None) -> tuple[tuple[str, str], ...]:
    """The ``(path prefix, base URL)`` routes of a recording besides its
    target: the exports paths to ``exports_target`` when given (an http(s)
    URL, checked as ``--target`` is), else to :data:`EXPORTS_HOST` when
    recording the real API (``environment``), else none (a single server,
    such as a fake, answers every path). Raises ValueError."""
    if exports_target is not None:
        return ((EXPORTS_PREFIX, _checked_url(exports_target, "--exports-target")),)
    if environment is not None:
        return ((EXPORTS_PREFIX, EXPORTS_HOST),)
    return ()


def _checked_url(url: str, option: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"{option} must be an http(s) URL such as http://127.0.0.1:8080, not {url!r}")
    return url.rstrip("/")


def _error(status: int, error: str, code: str, message: str, details: str = "") -> tuple[str, list, bytes]:
    body = encode(ApiError(message, details, status=status, error=error, error_code=code).body())
    return (f"{status} {error}", [("Content-Type", "application/json; charset=utf-8"),
                                  ("Content-Length", str(len(body)))], body)


def _decoded(data: bytes, encoding: str | None) -> bytes:
    """``data`` without its gzip/deflate content encoding (as a cassette keeps
    it); other encodings as they are."""
    if not encoding or encoding.lower() == "identity":
        return data
    try:
        if encoding.lower() in ("gzip", "x-gzip"):
            return zlib.decompress(data, 16 + zlib.MAX_WBITS)
        if encoding.lower() == "deflate":
            return zlib.decompress(data)
    except zlib.error:
        return data
    return data


class RecordingProxy:
    """The proxy as a WSGI app: forwards to ``target`` (a base URL), or for
    a path under one of ``routes``' prefixes to that route's base URL
    (:func:`routes_for`), and writes each exchange to ``writer`` (a
    :class:`~.har.CassetteWriter`). ``allow_writes``: forward every method,
    not only GET. ``timeout``: seconds to wait for the target. ``count``:
    exchanges recorded."""

    def __init__(self, target: str, writer: CassetteWriter, *, allow_writes: bool = False, timeout: float = 30.0,
                 routes: tuple[tuple[str, str], ...] = ()):
        self.target = target.rstrip("/")
        self.routes = tuple(sorted(((prefix.rstrip("/"), base.rstrip("/")) for prefix, base in routes),
                                   key=lambda route: len(route[0]), reverse=True))
        self.writer = writer
        self.allow_writes = allow_writes
        self.pool = urllib3.PoolManager(num_pools=4, maxsize=16, retries=False,
                                        timeout=urllib3.Timeout(connect=10.0, read=timeout))
        self._lock = threading.Lock()
        self.count = 0
        self.refused = 0

    def __call__(self, environ: dict, start_response) -> Iterator[bytes] | list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = quote(raw_path(environ).encode("latin-1", "replace"), safe="/:@!$&'()*+,;=-._~%")
        query = environ.get("QUERY_STRING") or ""
        if method != "GET" and not self.allow_writes:
            self.refused += 1
            log.info("%s %s refused: read-only (--allow-writes forwards it)", method, masked_path(path, query))
            status, headers, body = _error(
                403, "Forbidden", "read_only_recorder",
                f"The recorder forwards only GET requests: {method} was not sent",
                "start userpilot-mock record with --allow-writes to forward other methods")
            start_response(status, headers)
            return [body]
        sent: dict[str, str] = {}
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                name = key[5:].replace("_", "-").title()
                if name.lower() not in HOP_BY_HOP and name.lower() != "host":
                    sent[name] = value
        if environ.get("CONTENT_TYPE"):
            sent["Content-Type"] = environ["CONTENT_TYPE"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_REQUEST_BODY:
            status, out_headers, body = _error(413, "Payload Too Large", "payload_too_large",
                                               f"The recorder forwards bodies of at most {MAX_REQUEST_BODY} bytes")
            start_response(status, out_headers)
            return [body]
        request_body = environ["wsgi.input"].read(length) if length else b""
        base = self.base_for(path)
        url = base + path + (f"?{query}" if query else "")
        started_wall, t0 = time.time(), time.perf_counter()
        try:
            upstream = self.pool.request(method, url, body=request_body or None, headers=sent,
                                         preload_content=False, decode_content=False, redirect=False)
        except urllib3.exceptions.HTTPError as exc:
            log.warning("%s %s: cannot reach %s: %s", method, masked_path(path, query), base,
                        type(exc).__name__)
            status, out_headers, body = _error(502, "Bad Gateway", "target_unreachable",
                                               f"The recorder cannot reach {base}", type(exc).__name__)
            start_response(status, out_headers)
            return [body]
        response_headers = [(k, v) for k, v in upstream.headers.items()]
        passed = [(k, v) for k, v in response_headers if k.lower() not in HOP_BY_HOP]
        start_response(f"{upstream.status} {upstream.reason or ''}".rstrip(), passed)
        exchange = dict(method=method, url=url, path=path, query=tuple(parse_qsl(query, keep_blank_values=True)),
                        request_headers=tuple(sent.items()), request_body=request_body, status=upstream.status,
                        reason=upstream.reason or "", response_headers=tuple(response_headers),
                        started=started_wall)
        if method == "HEAD":
            upstream.release_conn()
            self._keep(exchange, b"", t0)
            return [b""]
        return self._stream(upstream, exchange, t0)

    def base_for(self, path: str) -> str:
        """The base URL a request for ``path`` goes to (the longest route prefix it is under, else the target)."""
        for prefix, base in self.routes:
            if path == prefix or path.startswith(prefix + "/"):
                return base
        return self.target

    def _stream(self, upstream, exchange: dict, t0: float) -> Iterator[bytes]:
        kept: list[bytes] = []
        size = 0
        complete = False
        try:
            for chunk in upstream.stream(CHUNK, decode_content=False):
                if size < MAX_KEPT_BODY:
                    kept.append(chunk)
                size += len(chunk)
                yield chunk
            complete = True
        finally:
            upstream.release_conn()
            body = _decoded(b"".join(kept), upstream.headers.get("content-encoding"))
            if not complete:
                exchange["comment"] = "the client went away before the whole answer was sent"
            self._keep(exchange, body, t0)

    def _keep(self, exchange: dict, body: bytes, t0: float) -> None:
        elapsed = (time.perf_counter() - t0) * 1000
        recorded = redact(Exchange(body=body, elapsed_ms=elapsed, **exchange))
        try:
            self.writer.add(recorded)
        except OSError as exc:  # a full disk: say so once per exchange, keep proxying
            log.error("cannot write the cassette %s: %s", self.writer.path, exc.strerror or exc)
            return
        with self._lock:
            self.count += 1
        log.info("%s %s %s %.1fms", recorded.method, masked_path(recorded.path, _query_text(recorded)),
                 recorded.status, elapsed)


class RecordingMiddleware:
    """A WSGI middleware keeping every exchange of ``app`` (an in-process
    target: the contract kit's in-process fake, tests) in ``sink`` (anything
    with ``add(exchange)``: a :class:`~.har.CassetteWriter`, a
    :class:`~.har.Recorded`), redacted; ``base_url`` names the target in
    the exchanges' URLs. ``secrets``: values masked wherever they appear.
    The control API (``/__admin/``) is passed through unrecorded unless
    ``record_admin``."""

    def __init__(self, app, sink, *, base_url: str = "http://localhost", secrets: tuple[str, ...] = (),
                 record_admin: bool = False):
        self.app = app
        self.sink = sink
        self.base_url = base_url.rstrip("/")
        self.secrets = secrets
        self.record_admin = record_admin

    def __call__(self, environ: dict, start_response):
        if not self.record_admin and (environ.get("PATH_INFO") or "").startswith("/__admin"):
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        request_body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(request_body)
        sent = tuple((key[5:].replace("_", "-").title(), value) for key, value in environ.items()
                     if key.startswith("HTTP_"))
        if environ.get("CONTENT_TYPE"):
            sent += (("Content-Type", environ["CONTENT_TYPE"]),)
        captured: dict = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, list(headers)
            return lambda data: None

        started, t0 = time.time(), time.perf_counter()
        result = self.app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status = captured.get("status", "500 Internal Server Error")
        path = quote(raw_path(environ).encode("latin-1", "replace"), safe="/:@!$&'()*+,;=-._~%")
        query = environ.get("QUERY_STRING") or ""
        exchange = Exchange(method=environ.get("REQUEST_METHOD", "GET"),
                            url=self.base_url + path + (f"?{query}" if query else ""), path=path,
                            query=tuple(parse_qsl(query, keep_blank_values=True)), request_headers=sent,
                            request_body=request_body, status=int(status[:3]), reason=status[4:],
                            response_headers=tuple(captured.get("headers", ())), body=body, started=started,
                            elapsed_ms=(time.perf_counter() - t0) * 1000)
        self.sink.add(redact(exchange, self.secrets))
        start_response(status, captured.get("headers", []))
        return [body]


def _query_text(exchange: Exchange) -> str:
    return urlencode(exchange.query)


class RecordingServer:
    """A recording proxy served on ``host``:``port`` (0: a free port) in a
    background thread, writing ``cassette``. ``url`` once started;
    ``proxy`` the :class:`RecordingProxy` (``routes``: see there). Use as a
    context manager; leaving it closes the cassette."""

    def __init__(self, target: str, cassette, *, host: str = "127.0.0.1", port: int = 0, allow_writes: bool = False,
                 threads: int = 8, comment: str = "", routes: tuple[tuple[str, str], ...] = ()):
        self.writer = CassetteWriter(cassette, comment=comment or f"recorded from {target} by userpilot-mock record")
        self.proxy = RecordingProxy(target, self.writer, allow_writes=allow_writes, routes=routes)
        self.server = make_app_server(self.proxy, host, port, threads)
        self._thread: threading.Thread | None = None
        self.host = host

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host
        return f"http://{host}:{self.server.effective_port}"

    def start(self) -> RecordingServer:
        self._thread = threading.Thread(target=self._run, name="userpilot-mock-record", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.server.run()
        except (OSError, ValueError):  # closed while stopping
            pass

    def stop(self) -> None:
        stop_server(self.server, self._thread)
        self.writer.close()

    def __enter__(self) -> RecordingServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


__all__ = ["ENVIRONMENTS", "EXPORTS_HOST", "EXPORTS_PREFIX", "HOP_BY_HOP", "RecordingMiddleware", "RecordingProxy",
           "RecordingServer", "routes_for", "target_url"]
