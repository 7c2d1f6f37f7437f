"""The control API under /__admin/ and the lifecycle seen through the API."""
from __future__ import annotations

import copy
from urllib.parse import quote

import pytest

from mock_server import create_app
from mock_server.times import parse_instant
from mock_server.invariants import job_problems, transition_problems
from mock_server.spec import load_spec

from .conftest import KEY, NOW, auth, error_item

T0 = parse_instant(NOW)


def test_health_and_index(client):
    assert client.get("/__admin/health").get_json() == {
        "status": "ok", "seed": 1, "profile": None,
        "forms": {"time_fraction_digits": 0, "time_zone": "Z", "end_time_while_running": "null",
                  "list_order": "newest_first"}}
    index = client.get("/__admin/").get_json()
    assert "POST /__admin/reset" in index["endpoints"]


def test_clock_get_and_set(client):
    assert client.get("/__admin/clock").get_json() == {"now": NOW, "frozen": True, "speed": 1.0}
    state = client.post("/__admin/clock", json={"advance_seconds": 90}).get_json()
    assert state["now"] == "2026-11-29T12:01:30Z"
    state = client.post("/__admin/clock", json={"now": "2026-11-30T00:00:00Z", "speed": 60}).get_json()
    assert state == {"now": "2026-11-30T00:00:00Z", "frozen": True, "speed": 60.0}


@pytest.mark.parametrize("body", [
    {"now": "2026-11-28T00:00:00Z"}, {"advance_seconds": -5}, {"speed": 0}, {"speed": -1},
    {"speed": "fast"}, {"frozen": "yes"}, {"now": "tomorrow"}, {"tick": 1}, [], "x",
    {"advance_seconds": float("inf")}, {"advance_seconds": True}, {"advance_seconds": 1e308},
])
def test_clock_refuses_bad_changes(client, body):
    response = client.post("/__admin/clock", json=body)
    assert response.status_code == 400
    error_item(response)
    assert client.get("/__admin/clock").get_json()["now"] == NOW


def test_clock_refuses_non_json(client):
    for data in (b"{", b"\xff\xfe", b"now=1"):
        response = client.post("/__admin/clock", data=data, content_type="application/json")
        assert response.status_code == 400
        error_item(response)
    assert client.post("/__admin/clock").status_code == 400


def test_reset_restores_the_seeded_start(client):
    before = client.get("/v1/background_jobs", headers=auth()).data
    client.post("/__admin/jobs", json={"api_key": KEY})
    client.post("/__admin/clock", json={"advance_seconds": 3600})
    assert client.post("/__admin/reset").status_code == 200
    assert client.get("/__admin/clock").get_json()["now"] == NOW
    assert client.get("/v1/background_jobs", headers=auth()).data == before


def test_reset_with_values(client):
    state = client.post("/__admin/reset", json={"seed": 5, "jobs": 3, "now": "2027-01-01T00:00:00Z",
                                                "frozen": True, "speed": 2}).get_json()
    assert state["clock"] == {"now": "2027-01-01T00:00:00Z", "frozen": True, "speed": 2.0}
    assert len(client.get("/v1/background_jobs", headers=auth()).get_json()) == 3


@pytest.mark.parametrize("body", [b"{not json", b"[1]", b'{"seeds": 1}', b'{"jobs": -1}',
                                  b'{"speed": 0}', b'{"now": "nope"}', b'{"seed": 1.5}',
                                  b'{"frozen": 1}', b'{"jobs": "many"}'])
def test_reset_refuses_bad_bodies_and_changes_nothing(client, body):
    client.post("/__admin/clock", json={"advance_seconds": 10})
    response = client.post("/__admin/reset", data=body, content_type="application/json")
    assert response.status_code == 400
    error_item(response)
    assert client.get("/__admin/clock").get_json()["now"] == "2026-11-29T12:00:10Z"


def test_job_spec_walks_every_status_in_order(client):
    created = client.post("/__admin/jobs", json={
        "api_key": KEY, "filename": "people.csv", "total_rows": 1200,
        "durations": {"queued": 10, "validating": 20, "pending_refresh": 30}}).get_json()
    assert created["status"] == "queued" and created["end_time"] is None
    assert created["timeline"] == {"queued": NOW, "validating": "2026-11-29T12:00:10Z",
                                   "processing": "2026-11-29T12:00:30Z",
                                   "pending_refresh": "2026-11-29T12:01:30Z",
                                   "completed": "2026-11-29T12:02:00Z"}
    path = f"/v1/background_jobs/{quote(created['job_id'], safe='')}"
    seen, previous = [], None
    for step in range(0, 130, 5):
        job = client.get(path, headers=auth()).get_json()
        assert job_problems(job, T0 + step, detail=True) == []
        if previous:
            assert transition_problems(previous, job) == []
        if not seen or seen[-1] != job["status"]:
            seen.append(job["status"])
        previous = job
        client.post("/__admin/clock", json={"advance_seconds": 5})
    assert seen == ["queued", "validating", "processing", "pending_refresh", "completed"]
    assert previous["completed_rows"] == 1200 and previous["elapsed_time"] == 120


def test_job_spec_failures(client):
    failed = client.post("/__admin/jobs", json={"api_key": KEY, "outcome": "failed"}).get_json()
    assert list(failed["timeline"]) == ["queued", "validating", "failed"]
    at_processing = client.post("/__admin/jobs", json={"api_key": KEY, "fail_at": "processing",
                                                       "total_rows": 5000}).get_json()
    assert list(at_processing["timeline"])[-1] == "failed"
    assert "processing" in at_processing["timeline"]
    client.post("/__admin/clock", json={"advance_seconds": 100_000})
    job = client.get(f"/__admin/jobs/{at_processing['job_id']}").get_json()
    assert job["status"] == "failed" and 0 <= job["completed_rows"] < 5000


def test_job_spec_started_ago_and_listing(client):
    app_token = client.post("/__admin/jobs", json={"api_key": KEY, "started_ago": 30 * 86400}).get_json()["app_token"]
    listed = client.get("/__admin/jobs", query_string={"app_token": app_token}).get_json()
    assert len(listed) == 26 and listed[-1]["start_time"] == "2026-10-30T12:00:00Z"
    assert listed[-1]["status"] == "completed"
    assert all(j["app_token"] == app_token for j in listed)
    by_key = client.get("/__admin/jobs", query_string={"api_key": KEY}).get_json()
    assert by_key == listed


@pytest.mark.parametrize("spec,status", [
    ({}, 400), ({"api_key": KEY, "colour": "red"}, 400),
    ({"api_key": KEY, "outcome": "completed", "fail_at": "validating"}, 400),
    ({"api_key": KEY, "outcome": "maybe"}, 400), ({"api_key": KEY, "fail_at": "queued"}, 400),
    ({"api_key": KEY, "type": "teleport"}, 400), ({"api_key": KEY, "total_rows": -1}, 400),
    ({"api_key": KEY, "total_rows": "10"}, 400), ({"api_key": KEY, "durations": {"warp": 1}}, 400),
    ({"api_key": KEY, "durations": {"queued": -1}}, 400), ({"api_key": KEY, "started_ago": -10}, 400),
    ({"api_key": KEY, "filename": ""}, 400), ({"api_key": KEY, "durations": [1]}, 400),
    ({"api_key": "", "total_rows": 1}, 400), ({"api_key": KEY, "app_token": "NX-00000000"}, 400),
    ({"app_token": "NX-00000000"}, 404), ({"api_key": KEY, "total_rows": 1e30}, 400),
    ({"app_token": "bogus"}, 400), ({"app_token": "NX-ABCDEF12"}, 400), ({"app_token": 5}, 400),
    ({"app_token": ""}, 400), ({"app_token": "NX-0000000000"}, 400),
])
def test_bad_job_specs(client, spec, status):
    response = client.post("/__admin/jobs", json=spec)
    assert response.status_code == status, response.get_json()
    error_item(response)


def test_admin_job_lookups(client):
    assert client.get("/__admin/jobs").status_code == 400
    assert client.get("/__admin/jobs?app_token=NX-deadbeef").status_code == 404
    for bad in ("bogus", "", "NX-DEADBEEF", "NX-deadbeef0"):
        response = client.get("/__admin/jobs", query_string={"app_token": bad})
        assert response.status_code == 400 and "NX-ac54070e" in error_item(response)["message"]
    assert client.get("/__admin/jobs/bulk:jobs:NX-deadbeef:x").status_code == 404


def test_control_answers_name_apps_by_token_only(client):
    secret = "SENTINEL-KEY-777"
    job = client.post("/__admin/jobs", json={"api_key": secret}).get_json()
    assert job["app_token"].startswith("NX-") and secret not in str(job)


def test_specs_are_served(client):
    for name in ("kit", "vendor", "admin"):
        response = client.get(f"/__admin/spec/{name}.yaml")
        assert response.status_code == 200 and response.content_type.startswith("application/yaml")
    assert client.get("/__admin/spec/other.yaml").status_code == 404


def test_an_operation_added_to_the_spec_is_served_with_no_code_change():
    spec = load_spec("kit")
    spec["paths"]["/v1/things/{thing_id}"] = {"get": {
        "operationId": "getThing", "security": [{"ApiKeyAuth": []}],
        "parameters": [{"name": "thing_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {
            "type": "object", "required": ["id", "count", "when", "tags", "job"],
            "properties": {"id": {"type": "string", "format": "uuid"},
                           "count": {"type": "integer", "minimum": 3},
                           "when": {"type": "string", "format": "date-time"},
                           "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
                           "job": {"$ref": "#/components/schemas/Job"}}}}}}}}}
    client = create_app(spec=copy.deepcopy(spec), now=NOW, frozen=True).test_client()
    assert client.get("/v1/things/7").status_code == 401
    response = client.get("/v1/things/7", headers=auth())
    assert response.status_code == 200
    from openapi_schema_validator import OAS30Validator
    schema = dict(spec["paths"]["/v1/things/{thing_id}"]["get"]["responses"]["200"]["content"]
                  ["application/json"]["schema"])
    schema["components"] = spec["components"]
    schema["properties"]["job"] = {"$ref": "#/components/schemas/Job"}
    OAS30Validator(schema).validate(response.get_json())
    # the domain operations are still served as before
    assert len(client.get("/v1/background_jobs", headers=auth()).get_json()) == 25


@pytest.mark.parametrize("path", ["/__admin/reset", "/__admin/scenario", "/__admin/jobs", "/__admin/clock",
                                  "/__admin/faults"])
@pytest.mark.parametrize("raw", ["null", "[]", "[{}]", "1", "1.5", '"text"', "true"])
def test_control_bodies_that_are_not_objects_are_400(client, path, raw):
    before = client.get("/__admin/jobs", query_string={"api_key": KEY}).get_json()
    response = client.post(path, data=raw, content_type="application/json")
    assert response.status_code == 400, response.get_data()
    assert "JSON object" in error_item(response)["message"]
    assert client.get("/__admin/jobs", query_string={"api_key": KEY}).get_json() == before


@pytest.mark.parametrize("query", ["since=yesterday", "since=2026-13-45T00:00:00Z", "since=nan",
                                   "since=1e400", "colour=red"])
def test_bad_journal_filters_are_400(client, query):
    response = client.get("/__admin/requests?" + query)
    assert response.status_code == 400
    error_item(response)


def test_reset_answers_the_seed_in_force(client):
    assert client.post("/__admin/reset").get_json()["seed"] == 1  # the settings' seed
    assert client.post("/__admin/reset", json={"seed": 42}).get_json()["seed"] == 42
    assert client.get("/__admin/health").get_json()["seed"] == 42
