"""The export event schema, as the kit reads the vendor's pages, and the
checks of the events an export's files hold.

Standard library only. The fields, event types and sources are the vendor's
event schema pages' (docs/domain.md, "Exports"; the kit states
them here itself rather than reading the fake's, so that the fake is held to
the documents, not to itself). How a file lays them out (a CSV header, one
JSON object per NDJSON line) is the kit's reading (docs/exports.md, "The
files"); files are parsed by :func:`mock_server.handle.parse_export_file`.
"""
from __future__ import annotations

import json
import re

from mock_server.invariants import parse_time

#: The export event schema's fields, in the vendor's order.
FIELDS = ("app_token", "event_type", "event_name", "user_id", "company_id", "source", "inserted_at", "hostname",
          "pathname", "screen_width", "screen_height", "device_type", "user_agent", "operating_system", "browser",
          "browser_language", "session", "country_code", "metadata")
#: The documented event types (``session_start`` from the newer copies of the page).
EVENT_TYPES = ("identify_user", "identify_company", "interaction", "track", "track_feature", "page_view",
               "session_start")
#: The documented sources (``backend-http-import`` from the import pages).
SOURCES = ("web-client", "backend-http", "backend-hubspot", "backend-salesforce", "backend-segment",
           "backend-http-import")
#: Event types whose event_name is empty ("empty for identify_user, identify_company, page_view").
NAMELESS = ("identify_user", "identify_company", "page_view", "session_start")
#: ``{entity_type}:{entity_id}:{entity_interaction_status}``, e.g. ``checklist:2:SEEN``.
INTERACTION_NAME = re.compile(r"^[^:\s]+:[^:\s]+:[A-Z_]+$")
#: DateTime (UTC), microsecond precision: six fraction digits, UTC written Z, +00:00 or not at all.
INSERTED_AT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}\.\d{6}(Z|\+00:00)?$")


def _empty(value) -> bool:
    return value is None or value == ""


def _metadata(value):
    """An event's metadata as a dict (CSV holds it as JSON text); None when
    empty; raises ValueError when it is neither."""
    if _empty(value):
        return None
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, dict):
        raise ValueError("not an object")
    return value


def event_problems(event, app_token: str | None = None) -> list[str]:
    """Problems of one exported event (a dict of the file's columns, as
    :func:`mock_server.handle.parse_export_file` reads them: CSV cells are
    strings, empty for none) against the export event schema; ``app_token``:
    the export's app, which every event must name."""
    if not isinstance(event, dict):
        return [f"an event is not an object: {event!r}"]
    missing = [name for name in FIELDS if name not in event]
    if missing:
        return [f"fields missing: {', '.join(missing)}"]
    problems = []
    kind = event["event_type"]
    if kind not in EVENT_TYPES:
        problems.append(f"event_type {kind!r} is not one of {', '.join(EVENT_TYPES)}")
    if event["source"] not in SOURCES:
        problems.append(f"source {event['source']!r} is not one of {', '.join(SOURCES)}")
    inserted = event["inserted_at"]
    if not isinstance(inserted, str) or not INSERTED_AT.match(inserted):
        problems.append(f"inserted_at {inserted!r} is not a UTC date-time with microseconds")
    name = event["event_name"]
    if kind in NAMELESS and not _empty(name):
        problems.append(f"a {kind} event has an event_name: {name!r}")
    elif kind in ("track", "track_feature", "interaction") and _empty(name):
        problems.append(f"a {kind} event has no event_name")
    elif kind == "interaction" and isinstance(name, str) and not INTERACTION_NAME.match(name):
        problems.append(f"interaction name {name!r} is not {{entity}}:{{id}}:{{STATUS}}")
    if kind == "identify_user" and _empty(event["user_id"]):
        problems.append("an identify_user event has no user_id")
    if kind == "identify_company" and _empty(event["company_id"]):
        problems.append("an identify_company event has no company_id")
    for size in ("screen_width", "screen_height"):
        value = event[size]
        if not _empty(value) and not (isinstance(value, int) and not isinstance(value, bool)) \
                and not (isinstance(value, str) and value.isdigit()):
            problems.append(f"{size} is not an integer: {value!r}")
    code = event["country_code"]
    if not _empty(code) and not (isinstance(code, str) and re.fullmatch(r"[A-Za-z]{2}", code)):
        problems.append(f"country_code {code!r} is not two letters")
    try:
        _metadata(event["metadata"])
    except ValueError:
        problems.append(f"metadata is not a JSON object: {event['metadata']!r}"[:200])
    if app_token is not None and event["app_token"] != app_token:
        problems.append(f"app_token {event['app_token']!r} is not the export's {app_token!r}")
    return problems


def filter_problems(event: dict, filters: dict, *, start: float | None, end: float | None) -> list[str]:
    """Problems of one exported event against the trigger's ``filters`` (the
    body sent): ``start <= inserted_at < end`` (UTC epoch seconds, the
    trigger's ``from`` and ``to`` as the kit reads them), ``event_type`` and
    ``user_id`` among those asked for (an absent or empty list: any)."""
    problems = []
    at = parse_time(event.get("inserted_at"))
    if at is not None:
        if start is not None and at < start:
            problems.append(f"inserted_at {event.get('inserted_at')} is before from")
        if end is not None and at >= end:
            problems.append(f"inserted_at {event.get('inserted_at')} is not before to")
    for name in ("event_type", "user_id", "company_id"):
        wanted = filters.get(name)
        if wanted and event.get(name) not in wanted:
            problems.append(f"{name} {event.get(name)!r} is not one of the filter's {len(wanted)}")
    return problems


def metadata_of(event: dict) -> dict:
    """An event's metadata as a dict (empty when none or unreadable)."""
    try:
        return _metadata(event.get("metadata")) or {}
    except ValueError:
        return {}
