"""The real-time calls over HTTP: a JSON body (at most 1 MiB), 202 with no
body; 400 naming what is missing or wrong, 413 over 1 MiB. The 401 and the
429 (600 per minute per app token, when the fake's rate limiting is on)
come from the pipeline's stages."""
from __future__ import annotations

from ...backend.errors import BadRequest
from ...http.bodies import NO_BODY, json_body
from ...http.render import Answer
from .models import check, check_version, events

#: The longest body read (assumption: a limit of the fake).
MAX_BODY_BYTES = 1024 * 1024


def _call(call, operation_id: str) -> Answer:
    backend = call.backend
    check_version(operation_id, call.environ.get("HTTP_X_API_VERSION"))
    body = json_body(call.environ, MAX_BODY_BYTES)
    if body is NO_BODY:
        raise BadRequest("The body is empty", "send a JSON object", error_code="invalid_input")
    backend.feed(call.app, events(operation_id, check(operation_id, body), backend.clock.now()))
    return Answer(202, b"", [])


def identify_user(call) -> Answer:
    """identifyUser: 202; the user (and its company, if given) in later exports."""
    return _call(call, "identifyUser")


def identify_company(call) -> Answer:
    """identifyCompany: 202; the company in later exports."""
    return _call(call, "identifyCompany")


def track_event(call) -> Answer:
    """trackEvent: 202; the event in later exports."""
    return _call(call, "trackEvent")


__all__ = ["identify_company", "identify_user", "track_event"]
