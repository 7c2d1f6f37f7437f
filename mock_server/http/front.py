"""The WSGI entry of a fake: ``/__admin/`` to the control API (Flask), every
other path to the API pipeline; every answer leaves with the real API's
headers and an access log line.

The headers (docs/domain.md, "Real response details"): ``cache-control``,
``server: Cowboy`` unless the WSGI server sends it itself, a 20-character
``x-request-id``; status lines as Cowboy writes them ("401 Unauthorized",
where Werkzeug upper-cases). The access log names apps by token, never by
key, and every field of a log line is :func:`printable` (no forged lines,
no terminal escapes). Done on the WSGI header list (appending to it costs a fraction of
setting Werkzeug headers one by one, on every request).
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable

from .render import APP_TOKEN_KEY, BASE_HEADERS, SERVER_HEADER, STATUS_LINES, T0_KEY, request_id

access_log = logging.getLogger("userpilot_mock.access")

#: The control API's prefix.
ADMIN_PREFIX = "/__admin"
_PREFIX_LENGTH = len(ADMIN_PREFIX)


#: What a log line must not carry raw: C0 and C1 controls, DEL, the Unicode
#: line separators, and the backslash of the escapes themselves.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\\]")


def printable(value: str) -> str:
    """``value`` (a WSGI string: bytes read as latin-1) fit for one log line:
    UTF-8 text shown as such, every control character (CR, LF, ESC...) and
    backslash written ``\\xNN`` / ``\\uNNNN``, so a request can neither forge
    a line nor send escapes to a terminal."""
    try:
        value = value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    if _UNPRINTABLE.search(value) is None:
        return value
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256
                            else f"\\u{ord(m.group()):04x}", value)


def is_control_path(path: str) -> bool:
    """True for ``/__admin`` and every path under ``/__admin/``."""
    return path.startswith(ADMIN_PREFIX) and (len(path) == _PREFIX_LENGTH or path[_PREFIX_LENGTH] == "/")


class Front:
    """The WSGI app a server runs: ``api`` (the pipeline) and ``control``
    (the control API's WSGI app), both WSGI callables; ``add_server_header``:
    send ``server: Cowboy`` (False when the WSGI server sends it)."""

    def __init__(self, api: Callable, control: Callable, add_server_header: bool):
        self.api = api
        self.control = control
        self.static = tuple(BASE_HEADERS) + ((SERVER_HEADER,) if add_server_header else ())

    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        t0 = environ[T0_KEY] = time.perf_counter()
        static = self.static

        def start(status, headers, exc_info=None):
            if not status.startswith("200"):
                status = STATUS_LINES.get(int(status[:3]), status)
            headers.extend(static)
            headers.append(("x-request-id", request_id()))
            if access_log.isEnabledFor(logging.INFO):
                access_log.info("%s %s %s %s %s %.1fms", printable(environ.get("REMOTE_ADDR") or "-"),
                                printable(environ.get("REQUEST_METHOD") or "-"),
                                printable(environ.get("PATH_INFO") or ""), printable(status[:3]),
                                printable(environ.get(APP_TOKEN_KEY, "-")), (time.perf_counter() - t0) * 1000)
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        if is_control_path(environ.get("PATH_INFO") or "") \
                and not (environ.get("REQUEST_URI") or environ.get("RAW_URI") or "").startswith("//"):
            # `//__admin/...` (whose extra slash waitress strips) is no control path: the API answers 404
            return self.control(environ, start)
        return self.api(environ, start)


__all__ = ["ADMIN_PREFIX", "Front", "is_control_path", "printable"]
