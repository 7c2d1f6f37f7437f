"""The request journal: what is recorded, the violations found, the control
endpoints, bounds and resets."""
from __future__ import annotations

import json
import urllib.request

import pytest

from mock_server import MockServer, create_app

from .conftest import KEY, NOW, auth


def entries(client, **filters):
    response = client.get("/__admin/requests", query_string=filters)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def violations(client, **request):
    client.open(**request)
    return [(v["location"], v["name"]) for v in entries(client)[-1]["violations"]]


def test_an_entry_has_every_field(client, backend):
    client.get("/v1/background_jobs?b=2&a=1&a=", headers=auth())
    (entry,) = entries(client)
    assert set(entry) == {"method", "path", "query", "status", "received_at", "clock_now",
                          "app_token", "duration_ms", "operation", "violations"}
    assert entry["method"] == "GET" and entry["path"] == "/v1/background_jobs"
    assert entry["query"] == {"a": ["1", ""], "b": ["2"]}
    assert entry["status"] == 200
    assert entry["clock_now"] == NOW  # the fake's (frozen) clock
    assert entry["received_at"].endswith("Z") and entry["received_at"][:4] >= "2025"
    assert entry["app_token"] == backend.token_for(KEY)
    assert isinstance(entry["duration_ms"], float) and entry["duration_ms"] >= 0
    assert entry["operation"] == "listJobs"


def test_every_api_request_is_recorded_and_admin_requests_are_not(client):
    client.get("/v1/background_jobs", headers=auth())        # 200
    client.get("/v1/background_jobs")                        # 401
    client.get("/v1/background_jobs/nope", headers=auth())   # 404 job
    client.get("/v2/elsewhere")                              # 404 path
    client.delete("/v1/background_jobs", headers=auth())     # 405
    client.get("/__admin/clock")
    client.post("/__admin/clock", json={"advance_seconds": 1})
    statuses = [e["status"] for e in entries(client)]
    assert statuses == [200, 401, 404, 404, 405]


def test_the_api_key_is_never_recorded(client):
    secret = "sk-live-very-secret-key"
    client.get("/v1/background_jobs", headers=auth(secret))
    client.get("/v1/background_jobs", headers={"Authorization": f"Bearer {secret}"})
    client.get(f"/v1/background_jobs?api_key={secret}&x=1", headers=auth(secret))
    text = client.get("/__admin/requests").get_data(as_text=True)
    assert secret not in text
    assert entries(client)[-1]["query"] == {"api_key": ["[Filtered]"], "x": ["1"]}


def test_path_is_recorded_as_received_and_filtered_decoded(client, backend):
    job = backend.add_job({"api_key": KEY})
    encoded = job.job_id.replace(":", "%3A")
    client.get(f"/v1/background_jobs/{encoded}", headers=auth())
    client.get(f"/v1/background_jobs/{job.job_id}", headers=auth())
    recorded = [e["path"] for e in entries(client)]
    assert recorded == [f"/v1/background_jobs/{encoded}", f"/v1/background_jobs/{job.job_id}"]
    assert len(entries(client, path=f"/v1/background_jobs/{job.job_id}")) == 2
    assert len(entries(client, path=f"/v1/background_jobs/{encoded}")) == 2


def test_over_waitress_the_raw_path_is_kept():
    with MockServer(now=NOW, frozen=True, server="waitress") as server:
        request = urllib.request.Request(server.url + "/v1/background_jobs/bulk%3Ajobs%3Ax?q=%20",
                                         headers=auth())
        try:
            urllib.request.urlopen(request)
        except urllib.error.HTTPError as exc:
            assert exc.code == 404
        with urllib.request.urlopen(server.url + "/__admin/requests") as response:
            (entry,) = json.load(response)
    assert entry["path"] == "/v1/background_jobs/bulk%3Ajobs%3Ax"
    assert entry["query"] == {"q": [" "]}
    assert entry["operation"] == "getJob"


def test_filters(client):
    client.get("/v1/background_jobs", headers=auth())
    client.head("/v1/background_jobs", headers=auth())
    client.get("/v1/background_jobs/x", headers=auth())
    assert [e["method"] for e in entries(client, method="head")] == ["HEAD"]
    assert len(entries(client, path="/v1/background_jobs")) == 2
    first = entries(client)[0]["received_at"]
    assert len(entries(client, since=first)) == 3
    assert entries(client, since="2999-01-01T00:00:00Z") == []


@pytest.mark.parametrize("query, fragment", [("since=yesterday", "ISO 8601"), ("sort=asc", "unknown filter")])
def test_bad_filters_are_400(client, query, fragment):
    response = client.get(f"/__admin/requests?{query}")
    assert response.status_code == 400
    assert fragment in response.get_json()["errors"][0]["message"]


def test_delete_and_reset_clear_it(client):
    client.get("/v1/background_jobs", headers=auth())
    client.get("/v1/background_jobs", headers=auth())
    response = client.delete("/__admin/requests")
    assert response.status_code == 200 and response.get_json() == {"status": "ok", "deleted": 2}
    assert entries(client) == []
    client.get("/v1/background_jobs", headers=auth())
    client.post("/__admin/reset", json={})
    assert entries(client) == []


def test_it_is_bounded():
    client = create_app(now=NOW, frozen=True, journal_size=3).test_client()
    for i in range(10):
        client.get(f"/v1/background_jobs?i={i}", headers=auth())
    assert [e["query"]["i"] for e in entries(client)] == [["7"], ["8"], ["9"]]
    silent = create_app(now=NOW, frozen=True, journal_size=0).test_client()
    silent.get("/v1/background_jobs", headers=auth())
    assert entries(silent) == []


# --- violations ------------------------------------------------------------------

def test_a_correct_request_has_no_violation(client):
    assert violations(client, path="/v1/background_jobs", headers=auth()) == []
    assert violations(client, path="/v1/background_jobs", method="HEAD", headers={
        **auth(), "Accept": "application/json", "Content-Type": "application/json"}) == []
    assert violations(client, path="/v1/imports", method="POST", headers=auth(),
                      data={"file": (__import__("io").BytesIO(b"a,b\n1,2\n"), "x.csv")},
                      content_type="multipart/form-data") == []


@pytest.mark.parametrize("request_kwargs, expected", [
    ({"path": "/v1/background_jobs?page=2"}, [("query", "page")]),
    ({"path": "/v1/background_jobs", "data": b"{}"}, [("body", "requestBody")]),
    ({"path": "/v1/background_jobs", "headers": {}}, [("header", "Authorization")]),
    ({"path": "/v1/background_jobs", "headers": {"Authorization": "Bearer k"}}, [("header", "Authorization")]),
    ({"path": "/v1/background_jobs", "headers": {"Authorization": "Token "}}, [("header", "Authorization")]),
    ({"path": "/v1/imports", "method": "POST", "json": {"file": "x"}}, [("header", "Content-Type")]),
    ({"path": "/v1/imports", "method": "POST"}, [("body", "requestBody")]),
    ({"path": "/v1/nothing"}, [("path", "/v1/nothing")]),
    ({"path": "/v1/background_jobs", "method": "PUT"}, [("method", "PUT")]),
])
def test_violations(client, request_kwargs, expected):
    request_kwargs.setdefault("headers", auth())
    assert violations(client, **request_kwargs) == expected


def test_violations_do_not_change_the_answer(client):
    plain = client.get("/v1/background_jobs", headers=auth())
    odd = client.get("/v1/background_jobs?page=2", headers=auth(), data=b"junk")
    assert odd.status_code == plain.status_code == 200 and odd.data == plain.data


def test_rules_come_from_the_spec():
    spec = {
        "openapi": "3.0.3", "info": {"title": "t", "version": "1"},
        "paths": {"/items/{item_id}": {
            "parameters": [{"name": "item_id", "in": "path", "required": True,
                            "schema": {"type": "integer"}}],
            "post": {
                "operationId": "addItem",
                "parameters": [
                    {"name": "dry_run", "in": "query", "required": True, "schema": {"type": "boolean"}},
                    {"name": "X-Trace", "in": "header", "required": True, "schema": {"type": "string"}},
                ],
                "requestBody": {"required": True, "content": {"application/*": {"schema": {}}}},
                "responses": {"201": {"description": "ok"}},
            }}},
    }
    client = create_app(spec=spec, now=NOW, frozen=True).test_client()
    client.post("/items/12?dry_run=true", headers={"X-Trace": "1"}, json={})
    client.post("/items/twelve", data=b"x", content_type="text/plain")
    good, bad = entries(client)
    assert good["violations"] == [] and good["status"] == 201
    assert [(v["location"], v["name"]) for v in bad["violations"]] == [
        ("header", "X-Trace"), ("query", "dry_run"), ("header", "Content-Type"), ("path", "item_id")]
    assert "item_id must be an integer, got 'twelve'" in bad["violations"][-1]["message"]


def test_answers_follow_admin_yaml(client):
    from openapi_schema_validator import OAS31Validator

    from mock_server.spec import load_spec

    components = load_spec("admin")["components"]

    def check(instance, name):
        schema = {"$ref": f"#/components/schemas/{name}", "components": components}
        errors = list(OAS31Validator(schema).iter_errors(instance))
        assert errors == [], [e.message for e in errors]

    client.get("/v1/background_jobs?page=1", headers=auth())
    client.get("/nowhere")
    for entry in entries(client):
        check(entry, "JournalEntry")
    check(client.get("/__admin/scenario").get_json(), "ScenarioSummary")
    check(client.post("/__admin/scenario", json={"name": "mixed"}).get_json(), "ScenarioSummary")
    for summary in client.get("/__admin/scenarios").get_json():
        check(summary, "ScenarioSummary")


def test_over_granian_the_journal_has_the_decoded_path():
    """Granian hands the app the decoded path only (the README's server table)."""
    with MockServer(now=NOW, frozen=True, server="granian") as server:
        request = urllib.request.Request(server.url + "/v1/background_jobs/bulk%3Ajobs%3Ax?q=%20",
                                         headers=auth())
        try:
            urllib.request.urlopen(request)
        except urllib.error.HTTPError as exc:
            assert exc.code == 404
        with urllib.request.urlopen(server.url + "/__admin/requests") as response:
            (entry,) = json.load(response)
    assert entry["path"] == "/v1/background_jobs/bulk:jobs:x"
    assert entry["query"] == {"q": [" "]} and entry["operation"] == "getJob"
