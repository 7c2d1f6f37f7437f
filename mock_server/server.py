"""Serving the fake: ``MockServer`` (a thread, for tests and scripts) and
:func:`make_server` (used by ``userpilot-mock serve``), on Granian (the
default: :mod:`mock_server.granian_server`) or waitress (pure Python, for
platforms without a Granian wheel).

Both serve the same HTTP surface (``tests/test_server.py`` and the other HTTP tests run it on
each). ``threads`` is how many API requests are answered at once; the
control API has threads beyond those, so a latency rule holding every API
thread never delays it: on Granian a thread for every open connection
(spawned on demand), on waitress :data:`CONTROL_THREADS` more.
"""
from __future__ import annotations

import os
import signal
import threading
from typing import Any

from .backend.profile import DEFAULT_FORMS
from .backend.store import Store
from .config import LIMITS, Settings, check_whole

#: The servers ``make_server`` and ``MockServer`` can run; the first is the default.
SERVERS = ("granian", "waitress")
DEFAULT_SERVER = SERVERS[0]
#: waitress sends ``Server: <ident>`` itself; the app then leaves it out
#: (when the app sends one, waitress adds ``Via: waitress``, which the real
#: API does not send). Granian sends ``server: granian`` unless the app sends
#: one, so there the app sends it. The default profile's ``server`` value; a
#: fake under another profile sends its profile's.
SERVER_IDENT = DEFAULT_FORMS.server or ""
#: Above the 50 MiB import limit, so the app answers 413 itself.
MAX_BODY_BYTES = 64 * 1024 * 1024
#: waitress: threads beyond ``threads`` for the control API (and API requests
#: waiting for a slot): the control API stays responsive while fewer than
#: this many API requests wait behind a busy API.
CONTROL_THREADS = 8
#: waitress: open connections at most (its default, 100, makes the 101st
#: client wait behind every other); past ~1,000 it polls instead of select().
WAITRESS_CONNECTIONS = 2048


def check_port(port) -> int:
    """``port`` if it is an integer from 0 (a free port) to 65535, else
    SettingError (a ValueError; instead of the OS quietly binding another port)."""
    return check_whole("port", port, *LIMITS["port"])


def make_server(host: str = "127.0.0.1", port: int = 0, settings: Settings | None = None,
                threads: int = 8, store=None, server: str = DEFAULT_SERVER, **overrides):
    """Create (bind, not start) a server for a new fake: ``server`` is
    ``"granian"`` (default) or ``"waitress"``; ``threads``: API requests
    answered at once.

    Returns ``(server, app)``; ``server.effective_port`` is the bound port,
    ``server.run()`` serves until closed (:func:`run_server`,
    :func:`stop_server`). ``links`` use ``public_url`` when set, else the URL
    each client reached. ``store``: where the fake's state lives (default:
    memory). The app is told ``host`` (the setting ``listen_host``), so that
    bound to loopback its control API refuses requests naming another
    ``Host``. Raises OSError when the port is taken, ValueError for a host
    that does not resolve or an unknown server, SettingError (a ValueError)
    for a port outside 0..65535 or a bad setting.
    """
    from .http.app import create_app  # deferred: Flask costs ~0.3 s, not needed to import MockServer

    check_port(port)
    if server not in SERVERS:
        raise ValueError(f"server must be one of {', '.join(SERVERS)}, got {server!r}")
    overrides.setdefault("listen_host", host)  # the control API checks Host while this is loopback
    app = create_app(settings, store=store, server_adds_server_header=server == "waitress", api_slots=threads,
                     **overrides)
    if server == "granian":
        from .granian_server import GranianServer  # deferred: only a served fake loads the HTTP server

        return GranianServer(app.wsgi_app, host=host, port=port, threads=threads,
                             max_body_bytes=MAX_BODY_BYTES), app
    ident = app.extensions["userpilot"].backend.forms.server or ""  # the profile's (SERVER_IDENT by default)
    return waitress_server(app.wsgi_app, host=host, port=port, threads=threads, ident=ident), app


def waitress_server(wsgi_app, host: str = "127.0.0.1", port: int = 0, threads: int = 8, ident: str = SERVER_IDENT):
    """A bound (not running) waitress server of ``wsgi_app`` with the fake's
    settings: ``ident`` its ``Server`` header when the app sends none,
    ``threads`` + :data:`CONTROL_THREADS` threads, up to
    :data:`WAITRESS_CONNECTIONS` connections, and a request parser that
    refuses ``Content-Length`` with ``Transfer-Encoding`` (400, connection
    closed) and answers ``Expect: 100-continue`` on a request without a body
    (waitress 3.0.2 waits for a body that never comes)."""
    from waitress.server import create_server  # deferred: only a served fake needs waitress

    server: Any = create_server(wsgi_app, host=host, port=port, ident=ident, threads=threads + CONTROL_THREADS,
                                max_request_body_size=MAX_BODY_BYTES, clear_untrusted_proxy_headers=True,
                                connection_limit=WAITRESS_CONNECTIONS, asyncore_use_poll=True)
    server.channel_class = _strict_channel()
    return server


def _strict_channel():
    """waitress's HTTPChannel with the stricter parser of :func:`waitress_server`."""
    from waitress.channel import HTTPChannel  # deferred: only a served fake needs waitress
    from waitress.parser import HTTPRequestParser, ParsingError

    class StrictParser(HTTPRequestParser):
        def parse_header(self, header_plus):
            lowered = header_plus.lower()
            if b"\ncontent-length:" in lowered and b"\ntransfer-encoding:" in lowered:
                raise ParsingError("Content-Length and Transfer-Encoding together")
            super().parse_header(header_plus)
            if self.expect_continue and self.body_rcv is None:
                self.expect_continue = False  # no body to continue to

    class StrictChannel(HTTPChannel):
        parser_class = StrictParser

    return StrictChannel


def make_app_server(wsgi_app, host: str = "127.0.0.1", port: int = 0, threads: int = 8, ident: str = ""):
    """Create (bind, not start) a waitress server (:func:`waitress_server`)
    for another WSGI app (the recording proxy): ``ident`` its ``Server``
    header when the app sends none. The one other place the server is
    chosen; :func:`run_server` and :func:`stop_server` run and stop it.
    Raises OSError when the port is taken, SettingError for a bad port."""
    check_port(port)
    return waitress_server(wsgi_app, host=host, port=port, threads=threads, ident=ident)


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def run_server(server) -> None:
    """Serve in this thread until Ctrl-C (SIGINT) or SIGTERM, then close the
    server (``userpilot-mock serve`` and the benchmark's baseline servers;
    either server kind). Both handlers are installed here: a process started
    in the background inherits SIGINT ignored, and Python then installs no
    handler of its own."""
    def stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


def stop_server(server, thread: threading.Thread | None = None) -> None:
    """Stop a server serving in ``thread``: close every connection, then the
    server. A waitress server is closed from its serving thread itself when
    it runs, so its loop ends at once instead of sleeping out its 1 s poll
    timeout."""
    if not hasattr(server, "task_dispatcher"):  # Granian: close() is thread-safe and waits
        server.close()
        if thread is not None:
            thread.join(timeout=5)
        return
    server.task_dispatcher.shutdown(timeout=1)

    def close_all():
        for channel in list(server._map.values()):
            try:
                channel.close()
            except OSError:
                pass
        server.close()

    if thread is not None and thread.is_alive():
        server.trigger.pull_trigger(close_all)
        thread.join(timeout=5)
        if thread.is_alive():
            close_all()
    else:
        close_all()


class MockServer:
    """The fake running in a background thread on a free port.

    >>> with MockServer(seed=7, frozen=True) as server:
    ...     requests.get(server.url + "/v1/background_jobs", headers=...)

    Keyword arguments are settings (see :class:`~mock_server.config.Settings`).
    ``server`` is ``"granian"`` (default) or ``"waitress"``. ``state``: a
    state file (as ``serve --state``): opened at ``start()`` (resumed when it
    holds a fake's state; the file's seed, scenario and clock win over the
    settings until a reset), closed at ``stop()``, so a new ``MockServer`` on
    the same file resumes it.
    ``.url`` is ``http://127.0.0.1:<port>``; ``.app`` the Flask app;
    ``.backend`` its backend. ``stop()`` (or leaving the ``with``) closes it.
    Raises SettingError (a ValueError) at once for a port outside 0..65535
    or a journal size outside 0..10,000,000; ``start()`` raises
    :class:`~mock_server.backend.store.StoreError` for a state file it
    cannot use.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, settings: Settings | None = None,
                 server: str = DEFAULT_SERVER, *, state: str | os.PathLike | None = None, **overrides):
        check_port(port)
        if server not in SERVERS:
            raise ValueError(f"server must be one of {', '.join(SERVERS)}, got {server!r}")
        if "journal_size" in overrides or settings is not None:
            check_whole("journal_size", overrides.get("journal_size", getattr(settings, "journal_size", 0)),
                        *LIMITS["journal_size"])
        self.host = host
        self.port = port
        self._settings = settings
        self.server = server
        self._overrides = overrides
        self.state = state
        self._store: Store | None = None
        self._server: Any = None  # a GranianServer or a waitress server
        self._thread: threading.Thread | None = None
        self.app = None

    def start(self) -> MockServer:
        """Bind and start serving; returns self."""
        settings, overrides = self._settings, self._overrides
        if self.state is not None:
            from .backend.sqlite_store import open_store  # deferred: only a state file needs sqlite3
            if "store" in overrides:
                raise TypeError("give state or store, not both")
            server_args = {name: overrides[name] for name in ("threads",) if name in overrides}
            settings = Settings.build(settings, **{k: v for k, v in overrides.items() if k not in server_args})
            self._store = open_store(self.state, settings.max_apps, max_jobs=settings.max_jobs)
            overrides = {**server_args, "store": self._store}
        try:
            self._server, self.app = make_server(self.host, self.port, settings, server=self.server, **overrides)
        except BaseException:
            self._close_store()
            raise
        self.port = self._server.effective_port
        if self.server == "granian":
            self._server.start()  # Granian serves from threads of its own
        else:
            self._thread = threading.Thread(target=self._run, name="userpilot-mock", daemon=True)
            self._thread.start()
        return self

    def _run(self):
        try:
            self._server.run()
        except (OSError, ValueError):  # closed under our feet while stopping
            pass

    @property
    def url(self) -> str:
        return f"http://{_url_host(self.host)}:{self.port}"

    @property
    def backend(self):
        return self.app.extensions["userpilot"].backend

    def stop(self) -> None:
        """Stop serving and close every connection."""
        server, self._server = self._server, None
        if server is not None:
            stop_server(server, self._thread)
        self._close_store()

    def _close_store(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            store.close()

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
