"""The WSGI entry of a fake: ``/__admin/`` to the control API (Flask),
``/__files/`` to the export files (:mod:`.files`, an object store's
answers), every other path to the API pipeline; every answer of the API and
the control API leaves with the real API's headers, and every answer with
an access log line.

The headers (docs/domain.md, "Real response details"): ``cache-control``,
``server: Cowboy`` unless the WSGI server sends it itself, a 20-character
``x-request-id``; status lines as Cowboy writes them ("401 Unauthorized",
where Werkzeug upper-cases). The access log names apps by token, never by
key, and every field of a log line is :func:`printable` (no forged lines,
no terminal escapes). Done on the WSGI header list (appending to it costs a fraction of
setting Werkzeug headers one by one, on every request).

Two rules of the transport are Front's, whichever server serves:

- a request whose framing is ambiguous or unsupported is refused before
  anything reads its body, in the error shape, and its connection closed:
  ``Content-Length`` together with ``Transfer-Encoding`` (a smuggling
  attempt) is a 400, a ``Transfer-Encoding`` other than ``chunked`` a 501;
  a server adapter may also leave a refusal of its own in the environ
  (:data:`REFUSAL_KEY`, e.g. a body over the size limit);
- API requests run at most ``api_slots`` at a time (``--threads``); control
  requests never wait for a slot, so a latency rule that holds every API
  slot never delays the control API (the server gives the control API
  threads beyond the API's: :mod:`mock_server.server`).
"""
from __future__ import annotations

import logging
import queue
import re
import time
from collections.abc import Callable, Iterable

from ..backend.errors import ApiError
from ..backend.profile import DEFAULT_FORMS, Forms
from ..families.exports.models import FILES_PREFIX
from .render import APP_TOKEN_KEY, STATUS_LINES, T0_KEY, error_answer, request_id

access_log = logging.getLogger("userpilot_mock.access")

#: The control API's prefix.
ADMIN_PREFIX = "/__admin"
_PREFIX_LENGTH = len(ADMIN_PREFIX)
#: WSGI environ key where a server adapter leaves an :class:`ApiError` that
#: refuses the request before the app reads it (its connection is closed).
REFUSAL_KEY = "userpilot.refusal"
#: The export files' prefix, a slash at its end.
FILES_PATH = FILES_PREFIX + "/"


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


def framing_refusal(environ: dict) -> ApiError | None:
    """The refusal of a request whose body framing cannot be trusted, None
    for a sound one: ``Content-Length`` with ``Transfer-Encoding`` is a 400
    (RFC 9112 section 6.3: a request smuggling attempt), a
    ``Transfer-Encoding`` other than ``chunked`` a 501 (RFC 9112 section
    6.1). A server that removes these headers itself (waitress) never shows
    them here."""
    coding = environ.get("HTTP_TRANSFER_ENCODING")
    if coding is None:
        return None
    if environ.get("CONTENT_LENGTH"):
        return ApiError("A request may not carry both Content-Length and Transfer-Encoding",
                        "send the body with one of them (RFC 9112 section 6.3); the connection is closed",
                        status=400, error="Bad Request", error_code="ambiguous_framing")
    if coding.strip().lower() != "chunked":
        return ApiError(f"Transfer-Encoding {coding[:40]!r} is not supported",
                        "send the body with Content-Length or Transfer-Encoding: chunked; "
                        "the connection is closed", status=501, error="Not Implemented",
                        error_code="unsupported_transfer_encoding")
    return None


class Front:
    """The WSGI app a server runs: ``api`` (the pipeline), ``control`` (the
    control API's WSGI app) and ``files`` (the export files; None: a 404 of
    the API), WSGI callables; ``add_server_header``: send the ``server``
    header (False when the WSGI server sends it); ``api_slots``: API requests
    answered at once (None: no bound); ``forms``: the fixed headers and the
    request id length (the profile's, :class:`~mock_server.backend.profile.Forms`)."""

    def __init__(self, api: Callable, control: Callable, add_server_header: bool, api_slots: int | None = None,
                 files: Callable | None = None, forms: Forms = DEFAULT_FORMS):
        self.api = api
        self.control = control
        self.files = files
        self.static = tuple((k, v) for k, v in forms.headers if k != "server" or add_server_header)
        self.request_id_length = forms.request_id_length
        # A queue of tokens, not a Semaphore: taking one from a non-empty SimpleQueue is one C call under
        # the GIL, where a Semaphore takes a lock that 8 busy threads contend for (measured: idle CPU).
        self.api_slots: queue.SimpleQueue | None = None
        if api_slots:
            self.api_slots = queue.SimpleQueue()
            for _ in range(api_slots):
                self.api_slots.put(None)

    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        t0 = environ[T0_KEY] = time.perf_counter()
        path = environ.get("PATH_INFO") or ""
        if (environ.get("REQUEST_URI") or environ.get("RAW_URI") or "").startswith("//"):
            # `//__admin/...` (whose extra slash a server may strip) is no control or files path: the API answers 404
            path = "//"
        serve_files = self.files
        files = serve_files is not None and path.startswith(FILES_PATH) and "//" not in path  # no file has `//`
        static = () if files else self.static
        id_length = self.request_id_length

        def start(status, headers, exc_info=None):
            if not status.startswith("200"):
                status = STATUS_LINES.get(int(status[:3]), status)
            headers.extend(static)
            if not files:
                headers.append(("x-request-id", request_id(id_length)))
            if access_log.isEnabledFor(logging.INFO):
                access_log.info("%s %s %s %s %s %.1fms", printable(environ.get("REMOTE_ADDR") or "-"),
                                printable(environ.get("REQUEST_METHOD") or "-"),
                                printable(environ.get("PATH_INFO") or ""), printable(status[:3]),
                                printable(environ.get(APP_TOKEN_KEY, "-")), (time.perf_counter() - t0) * 1000)
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        if "HTTP_TRANSFER_ENCODING" in environ or REFUSAL_KEY in environ:
            refusal = environ.get(REFUSAL_KEY) or framing_refusal(environ)
            if refusal is not None:
                answer = error_answer(refusal)
                answer.headers.append(("Connection", "close"))
                return answer.send(environ, start)
        if files and serve_files is not None:
            return serve_files(environ, start)
        if is_control_path(path):
            return self.control(environ, start)
        slots = self.api_slots
        if slots is None:
            return self.api(environ, start)
        slots.get()  # waits while every slot is taken
        try:
            return self.api(environ, start)
        finally:
            slots.put(None)


__all__ = ["ADMIN_PREFIX", "FILES_PATH", "Front", "REFUSAL_KEY", "framing_refusal", "is_control_path", "printable"]
