"""The export lookups: what an app's events can name, listed (no HTTP here).

Every list comes from the app's catalogue (:mod:`mock_server.backend.activity`)
and from the events clients sent it, so it agrees with the exports: an
interaction event names a flow (``experience``), checklist, banner, spotlight
or survey listed here; a ``track_feature`` event a feature of
``features_events``, a ``track`` event one of its events; every metadata key
of an ``identify_user`` / ``identify_company`` event is a user / company
property, every metadata key of another event one of ``events_properties``.

Shapes: the vendor's examples, fields added where an export names them
(``id`` and ``tasks`` on checklists, ``type`` on features_events).
``segments`` and ``events_properties`` are pages of :data:`PAGE_SIZE` with an
opaque cursor (``metadata.cursor.after`` / ``before``, ``limit``,
``total_count``); the others bare arrays. Ids are stable: a function of the
key they name.
"""
from __future__ import annotations

import base64
import binascii

from ...backend import activity
from ...backend.errors import BadRequest
from ...times import format_instant

#: Items per page of the paginated lookups (the vendor's examples: ``limit: 50``).
PAGE_SIZE = 50
#: Properties auto-captured on web events, listed under the events that carry them
#: (assumption after article 321): key -> (display name, data type, description).
AUTO_EVENT_PROPERTIES = {
    "url": ("URL", "string", "Page URL"), "hostname": ("Hostname", "string", "Host of the page"),
    "pathname": ("Pathname", "string", "Path of the page"), "browser": ("Browser", "string", "Browser name"),
    "device_type": ("Device Type", "string", "desktop, mobile or tablet"),
    "country_code": ("Country Code", "string", "Two-letter country code"),
}


def _stable_id(text: str, low: int = 1000, span: int = 900_000) -> int:
    h = 0xcbf29ce484222325
    for byte in text.encode("utf-8", "surrogatepass"):
        h = ((h ^ byte) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return low + h % span


def _title(key: str) -> str:
    return key.replace("_", " ").replace("-", " ").strip().title() or key


def _sent_metadata(records: list[dict]):
    """(event type, event name, metadata) of every event sent."""
    for record in records:
        yield record["event_type"], record.get("event_name"), record.get("metadata") or {}


def _properties(kind: str, auto: tuple, seen: dict) -> list[dict]:
    """Property items: the auto ones, then every other key seen (sorted)."""
    out = [{"id": _stable_id(f"{kind}:{key}"), "type": kind, "key": key, "display_name": name, "data_type": dtype,
            "is_auto_property": True} for key, name, dtype in auto]
    autos = {key for key, _n, _d in auto}
    out += [{"id": _stable_id(f"{kind}:{key}"), "type": kind, "key": key, "display_name": _title(key),
             "data_type": dtype, "is_auto_property": False} for key, dtype in sorted(seen.items()) if key not in autos]
    return out


def user_properties(cat: activity.Catalogue, records: list[dict]) -> list[dict]:
    """The user properties: auto-captured ones and every key of a user's metadata."""
    seen: dict = {}
    for user in cat.users:
        for key, value in user.metadata.items():
            seen.setdefault(key, activity.data_type(value))
    for kind, _name, metadata in _sent_metadata(records):
        if kind == "identify_user":
            for key, value in metadata.items():
                seen.setdefault(key, activity.data_type(value))
    return _properties("user_property", activity.AUTO_USER_PROPERTIES, seen)


def company_properties(cat: activity.Catalogue, records: list[dict]) -> list[dict]:
    """The company properties: auto-captured ones and every key of a company's metadata."""
    seen: dict = {}
    for company in cat.companies:
        for key, value in company.metadata.items():
            seen.setdefault(key, activity.data_type(value))
    for kind, _name, metadata in _sent_metadata(records):
        if kind == "identify_company":
            for key, value in metadata.items():
                seen.setdefault(key, activity.data_type(value))
    return _properties("company_property", activity.AUTO_COMPANY_PROPERTIES, seen)


def _track_names(cat: activity.Catalogue, records: list[dict]) -> list[str]:
    names = [name for name, _props in cat.track_events]
    for kind, name, _metadata in _sent_metadata(records):
        if kind == "track" and name and name not in names:
            names.append(name)
    return names


def features_events(cat: activity.Catalogue, records: list[dict]) -> list[dict]:
    """The features (``track_feature`` names) and trackable events (``track``
    names, generated and sent)."""
    features = [{**feature, "type": "feature"} for feature in cat.features]
    events = [{"display_name": name, "key": name, "data_type": "string", "type": "event"}
              for name in _track_names(cat, records)]
    return features + events


def events_properties(cat: activity.Catalogue, records: list[dict], since: int, now: int) -> list[dict]:
    """Every property an event carries: the auto-captured ones of page views
    and the metadata keys of every other event (generated and sent), each
    with the event it belongs to. ``since``/``now``: the app's first event
    and the clock (UTC epoch seconds), for ``inserted_at``/``last_seen``."""
    found: dict[tuple[str, str], dict] = {}

    def add(event: str, key: str, data_type: str, auto: bool, description: str, last_seen: int) -> None:
        item = found.get((event, key))
        if item is None:
            found[(event, key)] = {
                "id": _stable_id(f"event_property:{event}:{key}"), "key": key,
                "display_name": AUTO_EVENT_PROPERTIES[key][0] if auto else _title(key), "is_auto_property": auto,
                "is_mobile_auto_property": False, "data_type": data_type,
                "category": "css_attribute" if auto else "event_property", "description": description,
                "is_archived": False, "event": {"id": _stable_id(f"event:{event}", 1, 9_000), "display_name": event},
                "inserted_at": format_instant(since), "last_seen": format_instant(last_seen)}

    for key, (_name, dtype, description) in AUTO_EVENT_PROPERTIES.items():
        add("page_view", key, dtype, True, description, now)
    choice = {"choice": "string", "int": "numeric", "float": "numeric", "bool": "boolean"}
    for name, props in cat.track_events:
        for key, kind in props:
            add(name, key, choice[kind], False, f"{_title(key)} of {name}", now)
    for kind, name, metadata in _sent_metadata(records):
        if kind in ("identify_user", "identify_company"):
            continue
        for key, value in metadata.items():
            add(name or kind, key, activity.data_type(value), False, f"{_title(key)} of {name or kind}", now)
    return sorted(found.values(), key=lambda item: (item["event"]["display_name"], item["key"]))


def segments(cat: activity.Catalogue) -> list[dict]:
    """The app's segments (a ``segment_id`` of the export trigger names one)."""
    return [{"id": s.id, "title": s.title, "usage": "all", "category": s.category, "is_hidden": s.is_hidden,
             "is_protected": s.is_protected, "status": s.status} for s in cat.segments]


def embeds(cat: activity.Catalogue) -> list[dict]:
    """Banners and cards."""
    return [{**b, "type": "banner"} for b in cat.banners] + [{**c, "type": "card"} for c in cat.cards]


# -- pages ---------------------------------------------------------------------------------

def _cursor(lookup: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{lookup}:{offset}".encode()).decode().rstrip("=")


def _offset(lookup: str, cursor: str | None, total: int) -> int:
    """The offset an ``after_cursor`` names. Raises BadRequest for a cursor
    that this lookup did not give."""
    if not cursor:  # none, or empty: the first page
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        name, _, number = text.partition(":")
        offset = int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        offset, name = -1, ""
    if name != lookup or not 0 <= offset <= total or not number.isdigit():
        raise BadRequest("after_cursor is not a cursor of this lookup",
                         f"use metadata.cursor.after of the previous page of {lookup}", error_code="invalid_cursor")
    return offset


def page(lookup: str, items: list, after_cursor: str | None) -> dict:
    """One page of ``items`` after ``after_cursor``: ``{data, metadata:
    {cursor: {after, before}, limit, total_count}}`` (``after`` null on the
    last page, ``before`` null on the first)."""
    total = len(items)
    offset = _offset(lookup, after_cursor, total)
    end = min(total, offset + PAGE_SIZE)
    return {"data": items[offset:end],
            "metadata": {"cursor": {"after": _cursor(lookup, end) if end < total else None,
                                    "before": _cursor(lookup, max(0, offset - PAGE_SIZE)) if offset else None},
                         "limit": PAGE_SIZE, "total_count": total}}


__all__ = ["PAGE_SIZE", "company_properties", "embeds", "events_properties", "features_events", "page",
           "segments", "user_properties"]
