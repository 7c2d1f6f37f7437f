"""``/__admin/requests``: the request journal, read in pages."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Response, request

from ... import schemas
from ...times import parse_instant
from ..render import JSON_TYPE, encode
from .base import control, fake, reply


@control.get("/requests")
def list_requests():
    """adminListRequests: entries, oldest first, filtered by method, path,
    since, app_token and operation. With ``limit``, one page of at most that many entries and, when
    more may follow, ``Link: <...&cursor=C>; rel="next"`` (RFC 8288);
    without it, every entry, streamed from the store a batch at a time."""
    query = schemas.check_query("adminListRequests", request.args)
    since = parse_instant(query["since"], "since") if "since" in query else None
    journal = fake().backend.journal
    method, path = query.get("method"), query.get("path")
    which = {"app_token": query.get("app_token"), "operation": query.get("operation")}
    if "limit" not in query:
        if "cursor" in query:
            entries, _ = journal.page(method, path, since, after=int(query["cursor"]), **which)
            return reply(entries)
        return Response(_streamed(journal.stream(method, path, since, **which)), content_type=JSON_TYPE)
    entries, cursor = journal.page(method, path, since, after=int(query.get("cursor", 0)),
                                   limit=int(query["limit"]), **which)
    response = reply(entries)
    if cursor is not None:
        following = {k: v for k, v in query.items() if k != "cursor"}
        following["cursor"] = str(cursor)
        response.headers["Link"] = f'<{request.path}?{urlencode(following)}>; rel="next"'
    return response


def _streamed(entries):
    """A JSON array written one entry at a time."""
    first = True
    for entry in entries:
        yield (b"[" if first else b",") + encode(entry)
        first = False
    yield b"[]" if first else b"]"


@control.delete("/requests")
def clear_requests():
    """adminClearRequests: forget every entry."""
    return reply({"status": "ok", "deleted": fake().backend.journal.clear()})
