"""Serialising jobs and errors, with the headers the real API sends.

Rendered answers are reused while nothing in them can change: a job's form
is cached once it is terminal (it never changes again), and an app's whole
list is cached per (app version, instant), or per app version alone once
every job has settled. The clock is read in whole seconds, so a running
clock re-renders at most once a second.
"""
from __future__ import annotations

import json
import secrets

from flask import Response
from werkzeug.http import HTTP_STATUS_CODES

#: Captured from real answers (DOMAIN.md, "Real response details").
JSON_TYPE = "application/json; charset=utf-8"
BASE_HEADERS = (("cache-control", "max-age=0, private, must-revalidate"),)
SERVER_HEADER = ("server", "Cowboy")

#: Status lines as the real server writes them ("401 Unauthorized").
STATUS_LINES = {code: f"{code} {reason}" for code, reason in HTTP_STATUS_CODES.items()}

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def encode(document) -> bytes:
    """Compact UTF-8 JSON, as the real API sends it."""
    return _encode(document).encode("utf-8")


def request_id() -> str:
    """A 20-character request id like the real ``x-request-id``."""
    return secrets.token_urlsafe(15)


def job_fragment(job, t: int, detail: bool = False) -> bytes:
    """The JSON of one job at instant ``t`` (cached once terminal)."""
    if job.timeline.is_terminal(t):
        cache = job.cache
        if cache is None:
            cache = job.cache = [None, None]
        slot = 1 if detail else 0
        body = cache[slot]
        if body is None:
            body = cache[slot] = encode(job.view(t, detail))
        return body
    return encode(job.view(t, detail))


def list_body(app, t: int) -> bytes:
    """The List Jobs answer of ``app`` at instant ``t``: newest first."""
    key = (app.version, None if t >= app.settled_at else t)
    cache = app.cache
    if cache is not None and cache[0] == key:
        return cache[1]
    body = b"[" + b",".join([job_fragment(job, t) for job in app.newest_first()]) + b"]"
    app.cache = (key, body)
    return body


def json_response(body: bytes | str | dict | list, status: int = 200, headers=None) -> Response:
    """A JSON answer with the real API's content type."""
    if not isinstance(body, (bytes, str)):
        body = encode(body)
    response = Response(body, status=status, content_type=JSON_TYPE)
    if headers:
        for name, value in headers.items():
            response.headers[name] = value
    return response


def error_response(error) -> Response:
    """An :class:`~mock_server.backend.errors.ApiError` in the vendor's
    ErrorResponse shape."""
    return json_response(error.body(), error.status, error.headers)
