"""Serialising: answers, jobs and errors, with the headers the real API sends.

:class:`Answer` is what every stage of the API pipeline returns: a status, a
body (bytes, or an iterable of bytes to stream) and headers, written to the
WSGI server as is. Rendered jobs are reused while nothing in them can change:
a job's form is cached once it is terminal (it never changes again) and,
until then, for the current whole second; an app's whole list is cached per
(app version, instant), or per app version alone once every job has settled.
The clock is read in whole seconds, so a running clock re-renders at most
once a second.
"""
from __future__ import annotations

import base64
import json
import random
import secrets
from collections.abc import Iterable

from werkzeug.http import HTTP_STATUS_CODES

from ..backend.errors import ApiError
from ..backend.profile import DEFAULT_FORMS, Forms

#: Captured from real answers (docs/domain.md, "Real response details"); the
#: fixed headers are the default profile's ``forms.headers`` (a profile may
#: change them: :class:`~mock_server.backend.profile.Forms`).
JSON_TYPE = "application/json; charset=utf-8"
BASE_HEADERS = tuple((k, v) for k, v in DEFAULT_FORMS.headers if k != "server")
SERVER_HEADER = ("server", DEFAULT_FORMS.server or "")

#: WSGI environ keys the fake sets: when the request arrived
#: (``time.perf_counter``) and, once authenticated, the app's token.
T0_KEY = "userpilot.t0"
APP_TOKEN_KEY = "userpilot.app_token"

#: Status lines as the real server writes them ("401 Unauthorized").
STATUS_LINES = {code: f"{code} {reason}" for code, reason in HTTP_STATUS_CODES.items()}

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def encode(document) -> bytes:
    """Compact UTF-8 JSON, as the real API sends it."""
    return _encode(document).encode("utf-8")


#: Request ids are opaque labels, not secrets: drawn from a PRNG seeded once
#: from the OS, because ``secrets`` reads ``os.urandom`` on every call, a
#: system call that releases the GIL and so hands it to another server
#: thread in the middle of each request (measured: fewer requests/s).
_request_ids = random.Random(secrets.randbits(128))


def request_id(length: int = 20) -> str:
    """A request id like the real ``x-request-id``: URL-safe base64 of
    random bytes, ``length`` characters (20: 15 bytes, as captured)."""
    count = -(-length * 3 // 4)
    text = base64.urlsafe_b64encode(_request_ids.getrandbits(count * 8).to_bytes(count, "big")).decode("ascii")
    return text[:length]


class Answer:
    """One answer of the API: ``status`` (int), ``body`` (bytes, or an
    iterable of bytes sent as it comes, without a length), ``headers``
    (a list of ``(name, value)``). ``length``: the ``Content-Length`` to
    declare (default: the body's, for bytes; none for a stream)."""

    __slots__ = ("status", "body", "headers", "length")

    def __init__(self, status: int, body: bytes | Iterable[bytes] = b"", headers: list | None = None,
                 length: int | None = None):
        self.status = status
        self.body = body
        self.headers = headers if headers is not None else []
        self.length = length if length is not None else (len(body) if isinstance(body, bytes) else None)

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (any case), None when absent."""
        lower = name.lower()
        return next((v for k, v in self.headers if k.lower() == lower), None)

    def set_header(self, name: str, value: str) -> None:
        """Set header ``name`` (replacing one of any case)."""
        lower = name.lower()
        self.headers = [(k, v) for k, v in self.headers if k.lower() != lower]
        self.headers.append((name, value))

    def send(self, environ: dict, start_response) -> Iterable[bytes]:
        """Write the answer to the WSGI server (no body for HEAD)."""
        headers = self.headers
        if self.length is not None:
            headers = [*headers, ("Content-Length", str(self.length))]
        start_response(STATUS_LINES.get(self.status, f"{self.status} Unknown"), headers)
        if environ.get("REQUEST_METHOD") == "HEAD":
            return [b""]
        body = self.body
        return [body] if isinstance(body, bytes) else body


def json_answer(body: bytes | str | dict | list, status: int = 200, headers: dict | None = None) -> Answer:
    """A JSON answer with the real API's content type."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif not isinstance(body, bytes):
        body = encode(body)
    pairs = [("Content-Type", JSON_TYPE)]
    if headers:
        pairs.extend(headers.items())
    return Answer(status, body, pairs)


def error_answer(error: ApiError) -> Answer:
    """An :class:`~mock_server.backend.errors.ApiError` in the vendor's
    ErrorResponse shape, with the error's headers."""
    return json_answer(error.body(), error.status, error.headers)


def job_fragment(job, t: int, detail: bool = False, forms: Forms = DEFAULT_FORMS) -> bytes:
    """The JSON of one job at instant ``t`` in the fake's ``forms``: cached
    once terminal (it never changes again), else for the instant ``t``
    (whole seconds), so a job polled many times within one second, or on a
    frozen clock, is encoded once. ``job.cache`` is an immutable ``(key,
    list form, detail form)`` tuple replaced whole, so concurrent requests
    never mix two instants (a job belongs to one fake, so to one ``forms``)."""
    key = None if job.timeline.is_terminal(t) else t
    slot = 2 if detail else 1
    cache = job.cache
    if cache is not None and cache[0] == key:
        body = cache[slot]
        if body is not None:
            return body
    else:
        cache = (key, None, None)
    body = encode(job.view(t, detail, forms))
    job.cache = (key, body, cache[2]) if slot == 1 else (key, cache[1], body)
    return body


def list_body(app, t: int, forms: Forms = DEFAULT_FORMS) -> bytes:
    """The List Jobs answer of ``app`` at instant ``t``: newest first (or
    oldest first, as ``forms`` say)."""
    key = (app.version, None if t >= app.settled_at else t)
    cache = app.cache
    if cache is not None and cache[0] == key:
        return cache[1]
    parts = [b"["]
    jobs = app.newest_first()
    for job in (reversed(jobs) if forms.oldest_first else jobs):
        parts.append(job_fragment(job, t, False, forms))
        parts.append(b",")
    if len(parts) > 1:
        parts[-1] = b"]"
    else:
        parts.append(b"]")
    body = b"".join(parts)  # one copy (b"[" + join + b"]" copied the whole answer twice more)
    app.cache = (key, body)
    return body


__all__ = ["APP_TOKEN_KEY", "Answer", "BASE_HEADERS", "JSON_TYPE", "SERVER_HEADER", "STATUS_LINES", "T0_KEY",
           "encode", "error_answer", "job_fragment", "json_answer", "list_body", "request_id"]
