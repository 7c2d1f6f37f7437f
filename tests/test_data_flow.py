"""The data you put in comes back out: users and companies of bulk identify
jobs, the real-time calls and the rows of completed imports appear in the
app's later exports, as sent, beside the background activity; bounded per
app, the oldest dropped first."""
from __future__ import annotations

import io
import json

import pytest

from mock_server import create_app
from mock_server.backend import activity
from mock_server.backend.store import MemoryStore
from mock_server.times import parse_instant

from .conftest import KEY, NOW, OTHER_KEY, auth
from .test_export_files import download, parse
from .test_exports import TRIGGER, advance, finish, now

T0 = parse_instant(NOW)


def export_events(client, key: str = KEY, **filters) -> list[dict]:
    answer = client.post(TRIGGER, headers=auth(key), json={"format": "ndjson", **filters})
    assert answer.status_code == 201, answer.get_json()
    job_id = answer.get_json()["job_id"]
    done = finish(client, job_id) if key == KEY else _finish_other(client, job_id, key)
    return [e for data in download(client, done) for e in parse("ndjson", data)]


def _finish_other(client, job_id, key):
    timeline = client.get(f"/__admin/jobs/{job_id}").get_json()["timeline"]
    advance(client, max(0.0, max(parse_instant(t) for t in timeline.values()) - now(client)))
    return client.get(f"/api/v1/analytics/exports/jobs/{job_id}", headers=auth(key)).get_json()


def settle(client, job_id: str) -> None:
    timeline = client.get(f"/__admin/jobs/{job_id}").get_json()["timeline"]
    advance(client, max(0.0, max(parse_instant(t) for t in timeline.values()) - now(client)))


def test_bulk_identified_users_and_companies_appear_once_their_jobs_complete(client):
    users = {"users": [{"user_id": "ann", "company_id": "acme", "metadata": {"plan": "pro", "seats": 4}},
                       {"user_id": "bob", "metadata": {"vip": True, "score": 2.5, "note": None}}]}
    job = client.post("/v1/users/bulk_identify", headers=auth(), json=users).get_json()
    early = export_events(client, user_id=["ann", "bob"])  # triggered while the bulk job runs
    assert early == []
    settle(client, job["job_id"])
    events = export_events(client, user_id=["ann", "bob"])
    assert [(e["event_type"], e["user_id"], e["company_id"], e["metadata"], e["source"]) for e in events] == [
        ("identify_user", "ann", "acme", {"plan": "pro", "seats": 4}, "backend-http"),
        ("identify_user", "bob", None, {"vip": True, "score": 2.5, "note": None}, "backend-http")]
    assert events[0]["inserted_at"] == "2026-11-29T12:00:00.000000Z"  # when they were sent
    companies = client.post("/v1/companies/bulk_identify", headers=auth(),
                            json={"companies": [{"company_id": "acme", "metadata": {"tier": "gold"}}]}).get_json()
    settle(client, companies["job_id"])
    got = export_events(client, company_id=["acme"], event_type=["identify_company"])
    assert [(e["company_id"], e["metadata"], e["user_id"]) for e in got] == [("acme", {"tier": "gold"}, None)]


def test_real_time_calls_appear_at_once(client):
    identify = {"user_id": "cara", "metadata": {"role": "admin"}, "company": {"id": "initech", "size": 50}}
    assert client.post("/v1/identify", headers=auth(), json=identify).status_code == 202
    assert client.post("/v1/track", headers=auth(), json={"user_id": "cara", "event_name": "Report Exported",
                                                          "metadata": {"format": "csv"}}).status_code == 202
    assert client.post("/v1/companies/identify", headers=auth(),
                       json={"company_id": "hooli", "metadata": {"x": 1}}).status_code == 202
    advance(client, 1)  # "to" is exclusive: the trigger comes a second later
    events = export_events(client, company_id=["initech", "hooli"])
    assert [(e["event_type"], e["user_id"], e["company_id"]) for e in events] == [
        ("identify_user", "cara", "initech"), ("identify_company", None, "initech"),
        ("identify_company", None, "hooli")]
    tracked = export_events(client, user_id=["cara"], event_type=["track"])
    assert [(e["event_name"], e["metadata"]) for e in tracked] == [("Report Exported", {"format": "csv"})]


def test_rows_of_a_completed_import_appear_with_their_times_and_fields(client):
    rows = [
        {"event_type": "identify_user", "user_id": "dan", "source": "backend-http-import",
         "inserted_at": "2026-11-28 08:55:35.874555", "metadata": {"name": "Dan"}},
        {"event_type": "page_view", "user_id": "dan", "source": "web-client", "inserted_at": "2026-11-28T09:00:00Z",
         "url": "https://app.example.com/reports?x=1", "user_agent": "UA/1.0"},
        {"event_type": "track", "user_id": "dan", "event_name": "Plan Upgraded", "source": "backend-http",
         "inserted_at": "2026-11-28T10:00:00+01:00", "metadata": {"plan": "growth"}},
    ]
    content = "".join(json.dumps(r) + "\n" for r in rows).encode()
    job = client.post("/v1/imports", headers=auth(), data={"file": (io.BytesIO(content), "dan.ndjson")}).get_json()
    assert export_events(client, user_id=["dan"]) == []  # not yet completed
    settle(client, job["job_id"])
    events = export_events(client, user_id=["dan"])
    assert [(e["event_type"], e["inserted_at"]) for e in events] == [
        ("identify_user", "2026-11-28T08:55:35.874555Z"), ("page_view", "2026-11-28T09:00:00.000000Z"),
        ("track", "2026-11-28T09:00:00.000000Z")]  # 10:00+01:00 is 09:00 UTC, after the page view (stable order)
    page = events[1]
    assert (page["hostname"], page["pathname"], page["user_agent"], page["source"]) == (
        "app.example.com", "/reports", "UA/1.0", "web-client")
    assert events[2]["event_name"] == "Plan Upgraded" and events[2]["metadata"] == {"plan": "growth"}


def test_a_csv_import_flows_too_and_a_failed_import_does_not(client):
    good = ("event_type,user_id,company_id,event_name,source,inserted_at,metadata\n"
            'identify_company,,globex,,backend-http-import,2026-11-27 10:00:00,"{""plan"": ""pro""}"\n').encode()
    job = client.post("/v1/imports", headers=auth(), data={"file": (io.BytesIO(good), "c.csv")}).get_json()
    settle(client, job["job_id"])
    events = export_events(client, company_id=["globex"])
    assert [(e["event_type"], e["metadata"], e["user_id"]) for e in events] == [
        ("identify_company", {"plan": "pro"}, None)]
    bad = ("event_type,user_id,source,inserted_at\n"
           "identify_user,erin,backend-http,2026-11-27 10:00:00\n"
           "identify_user,,backend-http,2026-11-27 10:00:01\n").encode()
    failed = client.post("/v1/imports", headers=auth(), data={"file": (io.BytesIO(bad), "bad.csv")}).get_json()
    settle(client, failed["job_id"])
    assert export_events(client, user_id=["erin"]) == []


def test_sent_events_stay_in_their_app(client):
    client.post("/v1/track", headers=auth(), json={"user_id": "fay", "event_name": "e"})
    advance(client, 1)
    assert export_events(client, OTHER_KEY, user_id=["fay"]) == []
    assert len(export_events(client, user_id=["fay"])) == 1


def test_an_export_holds_what_was_visible_when_it_was_triggered(client):
    client.post("/v1/track", headers=auth(), json={"user_id": "gus", "event_name": "before"})
    advance(client, 1)
    answer = client.post(TRIGGER, headers=auth(), json={"format": "ndjson", "user_id": ["gus"]}).get_json()
    client.post("/v1/track", headers=auth(), json={"user_id": "gus", "event_name": "after"})
    done = finish(client, answer["job_id"])
    events = [e for data in download(client, done) for e in parse("ndjson", data)]
    assert [e["event_name"] for e in events] == ["before"]


def test_generated_activity_and_sent_events_are_merged_in_time_order(client):
    client.post("/v1/identify", headers=auth(), json={"user_id": "user-0001"})
    advance(client, 1)
    events = export_events(client, **{"from": "2026-11-29T11:00:00Z"})
    stamps = [e["inserted_at"] for e in events]
    assert stamps == sorted(stamps)
    assert events[-1]["user_id"] == "user-0001" and events[-1]["source"] == "backend-http"
    assert any(e["source"] == "web-client" for e in events)


def test_the_events_kept_per_app_are_bounded_oldest_first(client, monkeypatch):
    monkeypatch.setattr(activity, "MAX_APP_EVENTS", 3)
    for name in ("e1", "e2", "e3", "e4", "e5"):
        client.post("/v1/track", headers=auth(), json={"user_id": "hal", "event_name": name})
    advance(client, 1)
    assert [e["event_name"] for e in export_events(client, user_id=["hal"])] == ["e3", "e4", "e5"]


def test_a_large_bulk_job_keeps_the_newest_rows_within_the_byte_limit(client, monkeypatch):
    monkeypatch.setattr(activity, "MAX_APP_EVENT_BYTES", 2000)
    body = {"users": [{"user_id": f"ivy-{i:03d}", "metadata": {"pad": "x" * 50}} for i in range(100)]}
    job = client.post("/v1/users/bulk_identify", headers=auth(), json=body).get_json()
    settle(client, job["job_id"])
    ids = [e["user_id"] for e in export_events(client, event_type=["identify_user"], **{"from": "2026-11-29"})
           if e["user_id"].startswith("ivy-")]
    assert 0 < len(ids) < 30 and ids == [f"ivy-{i:03d}" for i in range(100 - len(ids), 100)]


# -- the store seam --------------------------------------------------------------------

def test_memory_store_events_are_numbered_bounded_and_forgotten_with_their_app():
    store = MemoryStore(max_apps=2)
    store.add_events("NX-00000001", [{"n": 1}, {"n": 2}], max_events=10, max_bytes=10_000)
    store.add_events("NX-00000001", [{"n": 3}], max_events=2, max_bytes=10_000)
    assert store.events("NX-00000001") == [{"n": 2, "seq": 2}, {"n": 3, "seq": 3}]
    store.add_events("NX-00000001", [{"n": "x" * 100}], max_events=10, max_bytes=50)
    assert store.events("NX-00000001") == []  # one event over the byte bound is not kept either
    assert store.events("NX-00000002") == []
    store.add_events("NX-00000001", [{"n": 5}], max_events=10, max_bytes=10_000)
    assert store.events("NX-00000001") == [{"n": 5, "seq": 5}]  # numbers are never reused
    store.begin({"seed": 1, "jobs": 0, "number": 2, "scenario": None})
    assert store.events("NX-00000001") == []


def test_events_go_with_an_app_forgotten_past_max_apps():
    client = create_app(seed=1, now=NOW, frozen=True, max_apps=1).test_client()
    client.post("/v1/track", headers=auth(), json={"user_id": "jo", "event_name": "e"})
    client.get("/v1/background_jobs", headers=auth(OTHER_KEY))  # the first app is forgotten
    advance(client, 1)
    assert export_events(client, user_id=["jo"]) == []


@pytest.mark.parametrize("key", ["k-a", "k-b"])
def test_unauthenticated_calls_keep_nothing(key):
    app = create_app(seed=1, now=NOW, frozen=True)
    client = app.test_client()
    for path in ("/v1/track", "/v1/identify", "/v1/users/bulk_identify", TRIGGER):
        assert client.post(path, json={"user_id": "x", "event_name": "e"}).status_code == 401
    assert app.extensions["userpilot"].backend.store.app_count() == 0
