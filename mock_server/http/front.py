"""The WSGI entry of a fake: ``/__admin/`` to the control API (Flask),
``/__files/`` to the export files (:mod:`.files`, an object store's
answers), every other path to the API pipeline; every answer of the API and
the control API leaves with the real API's headers, and every answer with
an access log line.

The headers (docs/domain.md, "Real response details"): ``cache-control``,
``server: Cowboy`` unless the WSGI server sends it itself, a 20-character
``x-request-id``; status lines as Cowboy writes them ("401 Unauthorized",
where Werkzeug upper-cases). The access log names apps by token, never by
key. Done on the WSGI header list (appending to it costs a fraction of
setting Werkzeug headers one by one, on every request).
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Iterable

from ..families.exports.models import FILES_PREFIX
from .render import APP_TOKEN_KEY, BASE_HEADERS, SERVER_HEADER, STATUS_LINES, T0_KEY, request_id

access_log = logging.getLogger("userpilot_mock.access")

#: The control API's prefix.
ADMIN_PREFIX = "/__admin"
_PREFIX_LENGTH = len(ADMIN_PREFIX)
#: The export files' prefix, a slash at its end.
FILES_PATH = FILES_PREFIX + "/"


def is_control_path(path: str) -> bool:
    """True for ``/__admin`` and every path under ``/__admin/``."""
    return path.startswith(ADMIN_PREFIX) and (len(path) == _PREFIX_LENGTH or path[_PREFIX_LENGTH] == "/")


class Front:
    """The WSGI app a server runs: ``api`` (the pipeline), ``control`` (the
    control API's WSGI app) and ``files`` (the export files; None: a 404 of
    the API), WSGI callables; ``add_server_header``: send ``server: Cowboy``
    (False when the WSGI server sends it)."""

    def __init__(self, api: Callable, control: Callable, add_server_header: bool, files: Callable | None = None):
        self.api = api
        self.control = control
        self.files = files
        self.static = tuple(BASE_HEADERS) + ((SERVER_HEADER,) if add_server_header else ())

    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        t0 = environ[T0_KEY] = time.perf_counter()
        path = environ.get("PATH_INFO") or ""
        files = self.files is not None and path.startswith(FILES_PATH)
        static = () if files else self.static

        def start(status, headers, exc_info=None):
            if not status.startswith("200"):
                status = STATUS_LINES.get(int(status[:3]), status)
            headers.extend(static)
            if not files:
                headers.append(("x-request-id", request_id()))
            if access_log.isEnabledFor(logging.INFO):
                access_log.info("%s %s %s %s %s %.1fms", environ.get("REMOTE_ADDR") or "-",
                                environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), status[:3],
                                environ.get(APP_TOKEN_KEY, "-"), (time.perf_counter() - t0) * 1000)
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        if files:
            return self.files(environ, start)
        if is_control_path(path):
            return self.control(environ, start)
        return self.api(environ, start)


__all__ = ["ADMIN_PREFIX", "FILES_PATH", "Front", "is_control_path"]
