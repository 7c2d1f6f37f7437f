"""Serving a WSGI app on Granian (a Rust HTTP server: hyper and tokio), in
this process: :class:`GranianServer`.

Granian's own servers run the app in worker processes, or bind a socket per
worker; the fake needs its app object in this process (``MockServer`` in a
thread, the CLI's banner naming the port ``--port 0`` picked). So this drives
one Granian WSGI worker directly: the listening socket is made here (its
port is known before serving), one tokio thread runs HTTP/1.1, and the WSGI
callable runs on Granian's Python threads. That is Granian's internal API
(``granian._granian``), hence the pinned minor version in ``pyproject.toml``;
the HTTP tests (``tests/test_server.py``, ``tests/test_transport.py``...) run on it and on waitress.

Around the WSGI callable this adapter does what waitress does, so that the
app sees the same thing on both servers:

- the request body is read in full before the app runs (in memory up to
  :data:`SPOOL_BYTES`, then in a temporary file, so memory stays flat), and
  ``CONTENT_LENGTH`` says its size; a body over ``max_body_bytes`` is not
  read: the app's :class:`~mock_server.http.front.Front` answers 413 in the
  error shape (:data:`~mock_server.http.front.REFUSAL_KEY`) and the
  connection closes. So a client that dribbles its body holds a Python
  thread, never one of the API's slots.
- an answer streamed without a ``Content-Length`` closes its connection
  (``connection: close``), as waitress does (RANDOM_DATA_THEN_CLOSE);
- a list body shorter than its declared ``Content-Length`` (the
  MALFORMED_RESPONSE_CHUNK fault) is streamed: the bytes, then the
  connection closes (given to Granian whole, such an answer stops its
  listener: Granian 2.8.9).

Python threads: up to ``max_connections + threads`` (spawned on demand,
ended after 30 s idle), so every open connection can have a request running
and a request never waits for a thread; how many API requests run at once
is the app's business (``Front``'s ``api_slots``).
"""
from __future__ import annotations

import socket
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import granian._granian as native
from granian._futures import _new_cbscheduler
from granian.http import HTTP1Settings

from .backend.errors import ApiError
from .http.front import REFUSAL_KEY, framing_refusal

# Granian's stub (_granian.pyi) lags its worker's real signatures (2.8.9): typed here as Any.
SocketHolder: Any = native.SocketHolder
WorkerSignal: Any = native.WorkerSignal
WSGIWorker: Any = native.WSGIWorker

#: Open connections at most (Granian's backpressure); more wait in the backlog.
MAX_CONNECTIONS = 4096
#: Connections the kernel queues before the server accepts them.
BACKLOG = 1024
#: Request bodies stay in memory up to this many bytes, then go to a temporary file.
SPOOL_BYTES = 512 * 1024
#: Bytes read from a request body at a time.
READ_BYTES = 64 * 1024
#: Largest request head (request line and headers) in bytes, as waitress's
#: ``max_request_header_size``; a longer one is refused by hyper with 431.
MAX_HEAD_BYTES = 256 * 1024
#: Seconds a client has to send a request's head, once it started one.
HEAD_TIMEOUT_S = 30
#: Seconds ``close`` waits for requests in flight to finish.
STOP_TIMEOUT_S = 5.0
#: Seconds a truncated body waits after its last bytes, so that hyper writes
#: them before it sees the body end short (and closes the connection).
TRUNCATED_PAUSE_S = 0.01

_BASE_ENVIRON = {
    "GATEWAY_INTERFACE": "CGI/1.1",
    "SCRIPT_NAME": "",
    "SERVER_SOFTWARE": "Granian",
    "wsgi.errors": sys.stderr,
    "wsgi.input_terminated": True,
    "wsgi.multiprocess": False,
    "wsgi.multithread": True,
    "wsgi.run_once": False,
    "wsgi.version": (1, 0),
}


class _NoLoop:
    """Stands for the asyncio event loop Granian's scheduler and runtime keep
    a reference to: a WSGI worker never runs anything on it. Granian drops
    its last reference when its runtime is gone, which is how :meth:`GranianServer.close`
    knows that no thread of Granian will enter Python again (one still doing
    so while the interpreter exits aborts the process)."""

    def call_soon(self, *args, **kwargs):
        """Never called for WSGI (the scheduler only looks the method up)."""
        raise NotImplementedError("a WSGI worker schedules nothing on an event loop")


def _listening_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (a name or an address; port 0: a
    free one) and listening. Raises ValueError for a host that does not
    resolve, OSError when the address cannot be bound."""
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(host or None, port, 0, socket.SOCK_STREAM, 0,
                                                                 socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise ValueError(f"cannot resolve host {host!r}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


class _Start:
    """The ``start_response`` of one request: keeps the status and headers."""

    __slots__ = ("status", "headers")

    def __init__(self):
        self.status = "500 Internal Server Error"
        self.headers: list = []

    def __call__(self, status: str, headers: list, exc_info=None):
        self.status = status
        self.headers = headers


class _Chunks:
    """A WSGI body as Granian iterates it (``__next__``, ``close``)."""

    __slots__ = ("inner", "__next__")

    def __init__(self, inner: Iterable[bytes]):
        self.inner = inner
        self.__next__ = iter(inner).__next__

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()


class _Truncated:
    """A body shorter than its declared length: its bytes, a pause of
    :data:`TRUNCATED_PAUSE_S`, then the end (hyper closes the connection)."""

    __slots__ = ("data", "sent")

    def __init__(self, data: bytes):
        self.data = data
        self.sent = False

    def __next__(self) -> bytes:
        if not self.sent:
            self.sent = True
            return self.data
        time.sleep(TRUNCATED_PAUSE_S)
        raise StopIteration

    def close(self) -> None:
        pass


def _declared_length(headers: list) -> int | None:
    """The ``Content-Length`` among ``headers``, None when absent or not a number."""
    for name, value in headers:
        if len(name) == 14 and name.lower() == "content-length":
            return int(value) if value.isdigit() else None
    return None


class GranianServer:
    """One Granian WSGI worker serving ``app`` on ``host:port``, bound (and
    listening) once made: ``effective_port`` is the port. ``run()`` serves
    until ``close()`` (from any thread, or a signal handler raising in
    ``run``); ``threads``: the app's own bound of requests at once, added to
    the Python threads; ``max_body_bytes``: the largest request body read.
    Raises ValueError for a host that does not resolve, OSError when the
    address cannot be bound."""

    def __init__(self, app: Callable, host: str = "127.0.0.1", port: int = 0, threads: int = 8,
                 max_body_bytes: int = 64 * 1024 * 1024, max_connections: int = MAX_CONNECTIONS):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_connections = max_connections
        self.threads = threads
        self._socket: socket.socket | None = _listening_socket(host, port, BACKLOG)
        self.effective_host, self.effective_port = self._socket.getsockname()[:2]
        self._signal = WorkerSignal()
        self._stopped = threading.Event()
        self._released = threading.Event()
        self._signal.add_cb(self._stopped.set)
        self._lock = threading.Lock()
        self._serving = False
        self._closed = False

    # -- serving ---------------------------------------------------------------
    def start(self) -> None:
        """Start serving (in Granian's threads) and return at once."""
        with self._lock:
            if self._serving or self._closed or self._socket is None:
                return
            self._serving = True
            fd = self._socket.detach()  # the worker's listener owns it from here on, and closes it
            self._socket = None
            holder = SocketHolder(fd, False, BACKLOG) if sys.platform.startswith(("linux", "freebsd")) \
                else SocketHolder(fd, False)
            worker = WSGIWorker(
                1, (None, holder), None,
                1,  # tokio threads: one does HTTP for a few thousand connections
                16,  # tokio blocking threads
                self.max_connections + self.threads,  # Python threads, spawned on demand
                30,  # seconds an idle Python thread lives
                self.max_connections,  # open connections at most (backpressure)
                "1",  # HTTP/1.1 only, like waitress and the real API
                HTTP1Settings(header_read_timeout=HEAD_TIMEOUT_S * 1000, keep_alive=True,
                              max_buffer_size=MAX_HEAD_BYTES, pipeline_flush=False),
                None, None, False, None, None, None, "1.3", None, [], False, (None, None))
            loop = _NoLoop()
            weakref.finalize(loop, self._released.set)
            worker.serve_str(_new_cbscheduler(loop, self._handle, impl_asyncio=True), loop, self._signal)
            del loop

    def run(self) -> None:
        """Serve until :meth:`close`. Wakes every 0.1 s, so that a signal
        handler of this thread (Ctrl-C, SIGTERM) can raise here."""
        self.start()
        while not self._stopped.wait(0.1):
            pass

    def close(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop accepting, let requests in flight finish (up to ``timeout``
        seconds), close every connection and the listening socket, and wait
        until Granian's runtime is gone."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            serving = self._serving
            if not serving and self._socket is not None:
                self._socket.close()
                self._socket = None
        if serving:
            self._signal.set()
            if self._stopped.wait(timeout):
                self._released.wait(1.0)

    # -- one request -------------------------------------------------------------
    def _handle(self, proto, environ: dict) -> None:
        """Granian's callback for one request, on one of its Python threads."""
        environ.update(_BASE_ENVIRON)
        spooled = None
        if "CONTENT_LENGTH" in environ or "HTTP_TRANSFER_ENCODING" in environ:
            spooled = self._receive_body(environ)
        try:
            start = _Start()
            body = self.app(environ, start)
            status = int(start.status[:3])
            headers = start.headers
            if type(body) is list:
                data = body[0] if len(body) == 1 else b"".join(body)
                declared = _declared_length(headers)
                if declared is None or declared == len(data) or environ["REQUEST_METHOD"] == "HEAD":
                    proto.response_bytes(status, headers, data)
                else:
                    proto.response_iter(status, headers, _Truncated(data))
            else:
                if _declared_length(headers) is None:
                    headers.append(("connection", "close"))
                proto.response_iter(status, headers, _Chunks(body))
        finally:
            if spooled is not None:
                spooled.close()

    def _receive_body(self, environ: dict):
        """Read the request body before the app runs (see the module
        docstring); returns the file now holding it (None when nothing was
        read). A refusal goes to ``environ[REFUSAL_KEY]``, the body unread."""
        if framing_refusal(environ) is not None:
            return None  # Front refuses it, unread
        length = environ.get("CONTENT_LENGTH")
        declared = None
        if length is not None:
            if not length.isdigit():
                return None  # hyper refuses a malformed Content-Length itself
            declared = int(length)
            if declared == 0:
                return None
            if declared > self.max_body_bytes:
                environ[REFUSAL_KEY] = body_too_large(self.max_body_bytes, declared)
                return None
        stream = environ["wsgi.input"]
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, mode="w+b")  # noqa: SIM115 - closed after the answer
        size = 0
        while declared is None or size < declared:
            chunk = stream.read(READ_BYTES if declared is None else min(READ_BYTES, declared - size))
            if not chunk:
                break
            size += len(chunk)
            if size > self.max_body_bytes:
                spool.close()
                environ[REFUSAL_KEY] = body_too_large(self.max_body_bytes)
                return None
            spool.write(chunk)
        spool.seek(0)
        environ["wsgi.input"] = spool
        environ["CONTENT_LENGTH"] = str(size)
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return spool


def body_too_large(limit: int, declared: int | None = None) -> ApiError:
    """The 413 of a request body over ``limit`` bytes (``declared``: its
    ``Content-Length``, when that alone shows it)."""
    seen = f"; this one declares {declared:,}" if declared is not None else ""
    return ApiError(f"The request body is over the {limit // 2 ** 20} MiB limit",
                    f"bodies up to {limit:,} bytes are read{seen}; the connection is closed", status=413,
                    error="Payload Too Large", error_code="body_too_large")


__all__ = ["GranianServer", "MAX_CONNECTIONS", "body_too_large"]
