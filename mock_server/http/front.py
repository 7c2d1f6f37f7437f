"""The WSGI entry of a fake: ``/__admin/`` to the control API (Flask), every
other path to the API pipeline; every answer leaves with the real API's
headers and an access log line.

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
from collections.abc import Callable, Iterable

from ..backend.profile import DEFAULT_FORMS, Forms
from .render import APP_TOKEN_KEY, STATUS_LINES, T0_KEY, request_id

access_log = logging.getLogger("userpilot_mock.access")

#: The control API's prefix.
ADMIN_PREFIX = "/__admin"
_PREFIX_LENGTH = len(ADMIN_PREFIX)


def is_control_path(path: str) -> bool:
    """True for ``/__admin`` and every path under ``/__admin/``."""
    return path.startswith(ADMIN_PREFIX) and (len(path) == _PREFIX_LENGTH or path[_PREFIX_LENGTH] == "/")


class Front:
    """The WSGI app a server runs: ``api`` (the pipeline) and ``control``
    (the control API's WSGI app), both WSGI callables; ``add_server_header``:
    send the ``server`` header (False when the WSGI server sends it);
    ``forms``: the fixed headers and the request id length (the profile's,
    :class:`~mock_server.backend.profile.Forms`)."""

    def __init__(self, api: Callable, control: Callable, add_server_header: bool, forms: Forms = DEFAULT_FORMS):
        self.api = api
        self.control = control
        self.static = tuple((k, v) for k, v in forms.headers if k != "server" or add_server_header)
        self.request_id_length = forms.request_id_length

    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        t0 = environ[T0_KEY] = time.perf_counter()
        static = self.static
        id_length = self.request_id_length

        def start(status, headers, exc_info=None):
            if not status.startswith("200"):
                status = STATUS_LINES.get(int(status[:3]), status)
            headers.extend(static)
            headers.append(("x-request-id", request_id(id_length)))
            if access_log.isEnabledFor(logging.INFO):
                access_log.info("%s %s %s %s %s %.1fms", environ.get("REMOTE_ADDR") or "-",
                                environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), status[:3],
                                environ.get(APP_TOKEN_KEY, "-"), (time.perf_counter() - t0) * 1000)
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        if is_control_path(environ.get("PATH_INFO") or ""):
            return self.control(environ, start)
        return self.api(environ, start)


__all__ = ["ADMIN_PREFIX", "Front", "is_control_path"]
