"""The export lookups, and that they agree with the events exports hold."""
from __future__ import annotations

import re

import pytest

from mock_server import create_app

from .conftest import NOW, OTHER_KEY, auth, error_item
from .test_data_flow import export_events
from .test_exports import advance

LOOKUP = "/api/v1/analytics/exports/lookups/"
ARRAYS = ("user_properties", "company_properties", "features_events", "flows", "banners", "embeds", "spotlights",
          "surveys", "resource_center_modules", "checklists")
PAGES = ("segments", "events_properties")


def lookup(client, name: str, key: str | None = None, **query):
    return client.get(LOOKUP + name, headers=auth(key) if key else auth(), query_string=query)


def every_page(client, name: str) -> list[dict]:
    items, cursor = [], None
    while True:
        page = lookup(client, name, **({"after_cursor": cursor} if cursor else {})).get_json()
        items += page["data"]
        assert page["metadata"]["limit"] == 50 and page["metadata"]["total_count"] >= len(items)
        cursor = page["metadata"]["cursor"]["after"]
        if cursor is None:
            assert len(items) == page["metadata"]["total_count"]
            return items


@pytest.mark.parametrize("name", ARRAYS)
def test_array_lookups(client, name):
    response = lookup(client, name)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json; charset=utf-8"
    items = response.get_json()
    assert isinstance(items, list) and items and all(isinstance(i, dict) for i in items)
    assert client.get(LOOKUP + name).status_code == 401


@pytest.mark.parametrize("name", PAGES)
def test_paginated_lookups(client, name):
    body = lookup(client, name).get_json()
    assert set(body) == {"data", "metadata"} and set(body["metadata"]) == {"cursor", "limit", "total_count"}
    assert body["metadata"]["cursor"]["before"] is None
    for bad in ("zzz", "c2VnbWVudHM6LTE", "Zmxvd3M6MA"):  # garbage, a negative offset, another lookup's
        response = lookup(client, name, after_cursor=bad)
        assert response.status_code == 400 and error_item(response)["error_code"] == "invalid_cursor"


def test_cursor_pagination_walks_every_item(client):
    metadata = {f"prop_{i:02d}": i for i in range(70)}
    assert client.post("/v1/track", headers=auth(), json={"user_id": "u", "event_name": "Wide Event",
                                                          "metadata": metadata}).status_code == 202
    first = lookup(client, "events_properties").get_json()
    assert len(first["data"]) == 50 and first["metadata"]["cursor"]["after"]
    items = every_page(client, "events_properties")
    assert len({(i["event"]["display_name"], i["key"]) for i in items}) == len(items) > 70
    second = lookup(client, "events_properties", after_cursor=first["metadata"]["cursor"]["after"]).get_json()
    assert second["metadata"]["cursor"]["before"] is not None
    wide = {i["key"] for i in items if i["event"]["display_name"] == "Wide Event"}
    assert wide == set(metadata)


def test_lookups_agree_with_the_events_exported(client):
    events = export_events(client)
    users = {p["key"] for p in lookup(client, "user_properties").get_json()}
    companies = {p["key"] for p in lookup(client, "company_properties").get_json()}
    features = lookup(client, "features_events").get_json()
    properties = every_page(client, "events_properties")
    by_event: dict[str, set] = {}
    for item in properties:
        by_event.setdefault(item["event"]["display_name"], set()).add(item["key"])
    entities = {"experience": {f["id"] for f in lookup(client, "flows").get_json()},
                "checklist": {c["id"] for c in lookup(client, "checklists").get_json()},
                "banner": {b["id"] for b in lookup(client, "banners").get_json()},
                "spotlight": {s["id"] for s in lookup(client, "spotlights").get_json()},
                "survey": {s["id"] for s in lookup(client, "surveys").get_json()}}
    embeds = {(e["id"], e["type"]) for e in lookup(client, "embeds").get_json()}
    assert {(b, "banner") for b in entities["banner"]} <= embeds
    seen_types = set()
    for event in events:
        kind, name, metadata = event["event_type"], event["event_name"], event["metadata"]
        seen_types.add(kind)
        if kind == "interaction":
            entity, entity_id, status = re.fullmatch(r"(\w+):(\d+):(\w+)", name).groups()
            assert int(entity_id) in entities[entity], name
        elif kind == "track_feature":
            assert name in {f["key"] for f in features if f["type"] == "feature"}
        elif kind == "track":
            assert name in {f["key"] for f in features if f["type"] == "event"}
            assert set(metadata) <= by_event[name]
        elif kind == "identify_user":
            assert set(metadata) <= users
        elif kind == "identify_company":
            assert set(metadata) <= companies
        if event["source"] == "web-client" and kind == "page_view":
            assert {"hostname", "pathname"} <= by_event["page_view"]
    assert {"interaction", "track", "track_feature", "identify_user", "identify_company"} <= seen_types


def test_what_clients_send_is_listed(client):
    client.post("/v1/identify", headers=auth(), json={"user_id": "u", "metadata": {"favourite_colour": "teal",
                                                                                   "nps": 9},
                                                      "company": {"id": "c", "contract_end": "2027-01-31"}})
    client.post("/v1/track", headers=auth(), json={"user_id": "u", "event_name": "Checkout Started",
                                                   "metadata": {"cart_total": 12.5, "gift": False}})
    users = {p["key"]: p for p in lookup(client, "user_properties").get_json()}
    assert users["favourite_colour"]["data_type"] == "string" and users["nps"]["data_type"] == "numeric"
    assert users["favourite_colour"]["is_auto_property"] is False
    companies = {p["key"]: p for p in lookup(client, "company_properties").get_json()}
    assert companies["contract_end"]["data_type"] == "date"
    assert "Checkout Started" in {f["key"] for f in lookup(client, "features_events").get_json()}
    checkout = {i["key"]: i for i in every_page(client, "events_properties")
                if i["event"]["display_name"] == "Checkout Started"}
    assert {k: v["data_type"] for k, v in checkout.items()} == {"cart_total": "numeric", "gift": "boolean"}
    assert lookup(client, "user_properties", OTHER_KEY).get_json() != lookup(client, "user_properties").get_json()


def test_a_segment_of_the_lookup_filters_an_export(client):
    segments = every_page(client, "segments")
    everyone = next(s for s in segments if s["title"] == "All Users")
    part = next(s for s in segments if s["category"] == "user_id" and s["title"] != "All Users")
    all_users = export_events(client, segment_id=str(everyone["id"]))
    assert all_users and all(e["user_id"] for e in all_users)  # identify_company events have no user
    advance(client, 1)
    some = export_events(client, segment_id=str(part["id"]))
    assert 0 < len({e["user_id"] for e in some}) < len({e["user_id"] for e in all_users})


def test_lookups_are_a_function_of_the_seed_and_the_app():
    def lists(seed, key):
        client = create_app(seed=seed, now=NOW, frozen=True).test_client()
        return [lookup(client, name, key).get_json() for name in ARRAYS + PAGES]

    assert lists(3, "k") == lists(3, "k")
    assert lists(3, "k") != lists(3, "other") != lists(4, "k")
