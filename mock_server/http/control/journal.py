"""``/__admin/requests``: the request journal."""
from __future__ import annotations

from flask import request

from ... import schemas
from ...times import parse_instant
from .base import control, fake, reply


@control.get("/requests")
def list_requests():
    """adminListRequests: entries, oldest first, filtered by method, path,
    since, app_token and operation."""
    query = schemas.check_query("adminListRequests", request.args)
    since = parse_instant(query["since"], "since") if "since" in query else None
    return reply(fake().backend.journal.entries(query.get("method"), query.get("path"), since,
                                                query.get("app_token"), query.get("operation")))


@control.delete("/requests")
def clear_requests():
    """adminClearRequests: forget every entry."""
    return reply({"status": "ok", "deleted": fake().backend.journal.clear()})
