"""The real-time calls: what their bodies must hold and the events they make
(no HTTP here).

Rules and their sources (docs/domain.md, "Real-time calls"; the rest assumed, and
said so in docs/bulk.md):

- identify: ``user_id`` required (400 otherwise), ``metadata``, an optional
  ``company`` named by ``company_id`` (the OpenAPI) or ``id`` (the prose)
  whose other fields are its metadata;
- identify company: ``company_id`` required, ``metadata``;
- track: ``user_id`` and ``event_name`` required, ``metadata``;
- metadata values are strings, numbers, booleans or null; ids non-blank
  strings; an unknown top-level field is a 400 (a typo never passes);
- ``X-API-Version``: required by the prose on identify and track, absent
  from the OpenAPI: a call without it is accepted, one with another value
  than ``2020-09-22`` is a 400 naming the supported one;
- the answer is 202 with no body.

Each accepted call becomes events at once (``identify_user``, plus
``identify_company`` for a company given with a user; ``identify_company``;
``track``), source ``backend-http``, ``inserted_at`` the fake's clock,
visible in exports made from then on ("events can take up to 15 minutes to
show in the dashboard": the fake shows them at once).
"""
from __future__ import annotations

import math

from ...backend import activity
from ...backend.errors import BadRequest
from ..bulk.models import metadata_problems
from ..imports.models import _short, _string_problem

#: The documented ``X-API-Version`` (real-time/identify-user, track-event, article 195).
API_VERSION = "2020-09-22"
SOURCE = "backend-http"
#: Operations that read ``X-API-Version`` (the prose requires it on these two only).
VERSIONED = ("identifyUser", "trackEvent")
FIELDS = {"identifyUser": ("user_id", "metadata", "company"), "identifyCompany": ("company_id", "metadata"),
          "trackEvent": ("user_id", "event_name", "metadata")}
REQUIRED = {"identifyUser": ("user_id",), "identifyCompany": ("company_id",),
            "trackEvent": ("user_id", "event_name")}


def _kind(value) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", list: "an array", dict: "an object",
            type(None): "null", str: "a string"}.get(type(value), type(value).__name__)


def check_version(operation_id: str, header: str | None) -> None:
    """Raise BadRequest when ``X-API-Version`` is given with another value
    than the documented one on identify or track (absent: accepted)."""
    if operation_id in VERSIONED and header is not None and header.strip() != API_VERSION:
        raise BadRequest(f"Unsupported X-API-Version {_short(header, 40)}",
                         f"send X-API-Version: {API_VERSION} (or leave it out)", error_code="unsupported_api_version")


def _fail(name: str, problem: str) -> BadRequest:
    return BadRequest(f"{name}: {problem}", f"{name} {problem}", error_code="invalid_input")


def check(operation_id: str, body) -> dict:
    """``body`` when it is a valid body of ``operation_id``; else BadRequest
    naming the first field at fault (missing ``user_id``, ``company_id``,
    ``event_name``, a company without its id, an unknown field, metadata
    that is not an object of primitives)."""
    if not isinstance(body, dict):
        raise BadRequest(f"The body must be a JSON object, got {_kind(body)}", error_code="invalid_input")
    for name in body:
        if name not in FIELDS[operation_id]:
            raise _fail(_short(name), f"unknown field (the body has {', '.join(FIELDS[operation_id])})")
    for name in REQUIRED[operation_id]:
        problem = _string_problem(body.get(name))
        if problem:
            raise _fail(name, problem)
    if "metadata" in body:
        for name, problem in metadata_problems(body["metadata"]):
            raise _fail(name, problem)
    if "company" in body:
        company = body["company"]
        if not isinstance(company, dict):
            raise _fail("company", f"must be a JSON object, got {_kind(company)}")
        if "company_id" not in company and "id" not in company:
            raise _fail("company", "needs its company_id (or id)")
        for name in ("company_id", "id"):
            if name in company:
                problem = _string_problem(company[name])
                if problem:
                    raise _fail(f"company.{name}", problem)
        for name, problem in metadata_problems({k: v for k, v in company.items() if k not in ("company_id", "id")},
                                               "company"):
            raise _fail(name, problem)
    return body


def events(operation_id: str, body: dict, now: float) -> list[dict]:
    """The event records of a checked body, received (and visible) at ``now``."""
    t_us = math.floor(now * activity.MICRO)
    at = math.floor(now)
    if operation_id == "identifyCompany":
        return [activity.record_of("identify_company", t_us=t_us, visible_at=at, source=SOURCE,
                                   company_id=body["company_id"], metadata=body.get("metadata"))]
    if operation_id == "trackEvent":
        return [activity.record_of("track", t_us=t_us, visible_at=at, source=SOURCE, user_id=body["user_id"],
                                   event_name=body["event_name"], metadata=body.get("metadata"))]
    company = body.get("company")
    company_id = None
    out = []
    if company is not None:
        company_id = company.get("company_id", company.get("id"))
        out.append(activity.record_of("identify_company", t_us=t_us, visible_at=at, source=SOURCE,
                                      company_id=company_id,
                                      metadata={k: v for k, v in company.items() if k not in ("company_id", "id")}))
    out.insert(0, activity.record_of("identify_user", t_us=t_us, visible_at=at, source=SOURCE,
                                     user_id=body["user_id"], company_id=company_id, metadata=body.get("metadata")))
    return out


__all__ = ["API_VERSION", "VERSIONED", "check", "check_version", "events"]
