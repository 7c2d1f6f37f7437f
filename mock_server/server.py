"""Serving the fake with waitress: ``MockServer`` (a thread, for tests and
scripts) and :func:`make_server` (used by ``userpilot-mock serve``)."""
from __future__ import annotations

import os
import signal
import threading
from typing import Any

from .backend.profile import DEFAULT_FORMS
from .backend.store import Store
from .config import LIMITS, Settings, check_whole

#: waitress sends ``Server: <ident>`` itself; the app then leaves it out
#: (when the app sends one, waitress adds ``Via: waitress``, which the real
#: API does not send). The default profile's ``server`` value; a fake under
#: another profile sends its profile's.
SERVER_IDENT = DEFAULT_FORMS.server or ""
#: Above the 50 MiB import limit, so the app answers 413 itself.
MAX_BODY_BYTES = 64 * 1024 * 1024


def check_port(port) -> int:
    """``port`` if it is an integer from 0 (a free port) to 65535, else
    SettingError (a ValueError; instead of the OS quietly binding another port)."""
    return check_whole("port", port, *LIMITS["port"])


def make_server(host: str = "127.0.0.1", port: int = 0, settings: Settings | None = None,
                threads: int = 8, store=None, **overrides):
    """Create (bind, not start) a waitress server for a new fake.

    Returns ``(server, app)``; ``server.effective_port`` is the bound port and
    ``server.run()`` serves until closed. ``links`` use ``public_url`` when
    set, else the URL each client reached. ``store``: where the fake's state
    lives (default: memory). Raises OSError when the port is taken,
    SettingError (a ValueError) for a port outside 0..65535 or a bad setting.
    """
    from waitress.server import create_server  # deferred: only a served fake needs waitress

    from .http.app import create_app  # deferred: Flask costs ~0.3 s, not needed to import MockServer

    check_port(port)
    app = create_app(settings, store=store, server_adds_server_header=True, **overrides)
    ident = app.extensions["userpilot"].backend.forms.server or ""  # the profile's (SERVER_IDENT by default)
    server = create_server(app.wsgi_app, host=host, port=port, ident=ident, threads=threads,
                           max_request_body_size=MAX_BODY_BYTES, clear_untrusted_proxy_headers=True)
    return server, app


def make_app_server(wsgi_app, host: str = "127.0.0.1", port: int = 0, threads: int = 8, ident: str = ""):
    """Create (bind, not start) the same WSGI server as :func:`make_server`
    for another WSGI app (the recording proxy): its settings, ``ident``
    its ``Server`` header when the app sends none. The one other place the
    server is chosen; :func:`run_server` and :func:`stop_server` run and
    stop it. Raises OSError when the port is taken, SettingError for a bad port."""
    from waitress.server import create_server  # deferred: only a served app needs waitress

    check_port(port)
    return create_server(wsgi_app, host=host, port=port, ident=ident, threads=threads,
                         max_request_body_size=MAX_BODY_BYTES, clear_untrusted_proxy_headers=True)


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def run_server(server) -> None:
    """Serve in this thread until Ctrl-C or SIGTERM, then close the server
    (``userpilot-mock serve`` and the benchmark's baseline servers)."""
    def stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


def stop_server(server, thread: threading.Thread | None = None) -> None:
    """Stop a waitress server serving in ``thread``: close every connection,
    then the server. Done from the serving thread itself when it runs, so its
    loop ends at once instead of sleeping out its 1 s poll timeout."""
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
    ``state``: a state file (as ``serve --state``): opened at ``start()``
    (resumed when it holds a fake's state; the file's seed, scenario and
    clock win over the settings until a reset), closed at ``stop()``, so a
    new ``MockServer`` on the same file resumes it.
    ``.url`` is ``http://127.0.0.1:<port>``; ``.app`` the Flask app;
    ``.backend`` its backend. ``stop()`` (or leaving the ``with``) closes it.
    Raises SettingError (a ValueError) at once for a port outside 0..65535
    or a journal size outside 0..10,000,000; ``start()`` raises
    :class:`~mock_server.backend.store.StoreError` for a state file it
    cannot use.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, settings: Settings | None = None,
                 *, state: str | os.PathLike | None = None, **overrides):
        check_port(port)
        if "journal_size" in overrides or settings is not None:
            check_whole("journal_size", overrides.get("journal_size", getattr(settings, "journal_size", 0)),
                        *LIMITS["journal_size"])
        self.host = host
        self.port = port
        self._settings = settings
        self._overrides = overrides
        self.state = state
        self._store: Store | None = None
        self._server: Any = None  # a waitress server
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
            self._store = open_store(self.state, settings.max_apps)
            overrides = {**server_args, "store": self._store}
        try:
            self._server, self.app = make_server(self.host, self.port, settings, **overrides)
        except BaseException:
            self._close_store()
            raise
        self.port = self._server.effective_port
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
