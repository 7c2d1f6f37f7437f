"""Bulk identify: users and companies, JSON bodies and NDJSON files, their
jobs in the analytex job list on the fake's clock, and every refusal."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from mock_server import create_app
from mock_server.invariants import job_problems, list_problems
from mock_server.times import parse_instant

from .conftest import KEY, NOW, OTHER_KEY, auth, error_item

USERS = "/v1/users/bulk_identify"
COMPANIES = "/v1/companies/bulk_identify"
T0 = parse_instant(NOW)
BULK_FIELDS = {"end_time", "file_size", "filename", "job_id", "links", "start_time", "status", "total_rows", "type"}


def users(n: int, start: int = 0) -> dict:
    return {"users": [{"user_id": f"u-{i}", "company_id": f"c-{i % 7}", "metadata": {"plan": "pro", "seats": i}}
                      for i in range(start, start + n)]}


def companies(n: int) -> dict:
    return {"companies": [{"company_id": f"c-{i}", "metadata": {"name": f"Company {i}", "active": True}}
                          for i in range(n)]}


def post_file(client, path: str, content: bytes, filename: str = "rows.ndjson", key: str = KEY):
    return client.post(path, headers=auth(key), data={"file": (io.BytesIO(content), filename)})


def admin_job(client, job_id: str) -> dict:
    return client.get(f"/__admin/jobs/{job_id}").get_json()


def advance(client, seconds: float) -> None:
    assert client.post("/__admin/clock", json={"advance_seconds": seconds}).status_code == 200


def settle(client, job_id: str) -> None:
    end = max(parse_instant(t) for t in admin_job(client, job_id)["timeline"].values())
    now = parse_instant(client.get("/__admin/clock").get_json()["now"])
    advance(client, max(0, end - now))


# -- accepted ----------------------------------------------------------------------

@pytest.mark.parametrize("path, body, job_type", [
    (USERS, users(3), "bulk_identify_users"), (COMPANIES, companies(2), "bulk_identify_companies")])
def test_a_json_body_makes_a_queued_job_in_the_openapi_shape(client, path, body, job_type):
    response = client.post(path, headers=auth(), json=body)
    assert response.status_code == 202, response.get_json()
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    job = response.get_json()
    assert set(job) == BULK_FIELDS
    assert job["status"] == "queued" and job["end_time"] is None and job["start_time"] == NOW
    assert job["type"] == job_type and job["total_rows"] == len(next(iter(body.values())))
    assert job["filename"] == f"bulk_identify_{path.split('/')[2]}_2026-11-29.ndjson"
    assert job["file_size"] == len(json.dumps(body).encode())
    assert job["job_id"].startswith("bulk:jobs:NX-") and job["links"].endswith("/v1/background_jobs/" + job["job_id"])
    listed = client.get("/v1/background_jobs", headers=auth()).get_json()
    assert listed[0] == {**job, "elapsed_time": 0}
    detail = client.get("/v1/background_jobs/" + job["job_id"], headers=auth()).get_json()
    assert detail == {**job, "elapsed_time": 0, "completed_rows": 0}
    assert job_problems(detail, T0, detail=True) == []


def test_the_answer_fits_the_captured_379_bytes(client):
    app = create_app(seed=1, now=NOW, frozen=True, public_url="https://analytex.userpilot.io")
    body = app.test_client().post(USERS, headers=auth(), json=users(40)).get_data()
    assert 360 <= len(body) <= 400, len(body)


def test_an_ndjson_file_makes_a_job(client):
    content = b"".join(json.dumps(r).encode() + b"\n" for r in users(5)["users"]) + b"\n"
    response = post_file(client, USERS, content, "people.jsonl")
    assert response.status_code == 202, response.get_json()
    job = response.get_json()
    assert job["filename"] == "people.jsonl" and job["file_size"] == len(content) and job["total_rows"] == 5
    settle(client, job["job_id"])
    assert client.get("/v1/background_jobs/" + job["job_id"], headers=auth()).get_json()["status"] == "completed"


@pytest.mark.parametrize("path, body, rate", [(USERS, users(3000), 1200), (COMPANIES, companies(3000), 1800)])
def test_jobs_process_at_the_chosen_rate(client, path, body, rate):
    job = client.post(path, headers=auth(), json=body).get_json()
    timeline = admin_job(client, job["job_id"])["timeline"]
    seconds = parse_instant(timeline["pending_refresh"]) - parse_instant(timeline["processing"])
    assert seconds == -(-3000 * 60 // rate)  # 150 s for users, 100 s for companies
    advance(client, parse_instant(timeline["processing"]) - T0 + seconds / 2)
    half = client.get("/v1/background_jobs/" + job["job_id"], headers=auth()).get_json()
    assert half["status"] == "processing" and half["completed_rows"] == 1500


def test_one_bulk_job_at_a_time_across_users_and_companies(client):
    first = client.post(USERS, headers=auth(), json=users(10)).get_json()
    for path, body in ((USERS, users(1)), (COMPANIES, companies(1))):
        refused = client.post(path, headers=auth(), json=body)
        assert refused.status_code == 409
        assert error_item(refused)["message"] == "Bulk identify job already in progress"
    assert post_file(client, COMPANIES, b'{"company_id": "c"}\n').status_code == 409
    assert client.post(COMPANIES, headers=auth(OTHER_KEY), json=companies(1)).status_code == 202
    ids = [j["job_id"] for j in client.get("/v1/background_jobs", headers=auth()).get_json()
           if j["type"].startswith("bulk_")]
    assert ids == [first["job_id"]]
    settle(client, first["job_id"])
    assert client.post(COMPANIES, headers=auth(), json=companies(1)).status_code == 202


def test_a_control_api_bulk_job_blocks_too(client):
    made = client.post("/__admin/jobs", json={"api_key": KEY, "type": "bulk_identify_companies",
                                              "total_rows": 1800}).get_json()
    processing = parse_instant(made["timeline"]["pending_refresh"]) - parse_instant(made["timeline"]["processing"])
    assert processing == 60
    assert client.post(USERS, headers=auth(), json=users(1)).status_code == 409


# -- refused --------------------------------------------------------------------------

@pytest.mark.parametrize("body, message", [
    ([], "must be a JSON object"),
    ({"users": []}, "users is empty"),
    ({"users": {"user_id": "u"}}, "users must be an array"),
    ({}, "No 'users' in the body"),
    ({"users": [{"user_id": "u"}], "companies": []}, "Unknown field 'companies'"),
    ({"users": [{"company_id": "c"}]}, "users[0].user_id: missing"),
    ({"users": [{"user_id": "  "}]}, "users[0].user_id: missing"),
    ({"users": [{"user_id": 42}]}, "users[0].user_id: must be a string"),
    ({"users": [{"user_id": "u", "company_id": 7}]}, "users[0].company_id: must be a string"),
    ({"users": [{"user_id": "u", "metadata": "vip"}]}, "users[0].metadata: must be a JSON object"),
    ({"users": [{"user_id": "u", "metadata": {"tags": ["a"]}}]}, "users[0].metadata.tags: must be a string"),
    ({"users": [{"user_id": "u", "email": "u@example.com"}]}, "users[0].email: unknown field"),
    ({"users": [{"user_id": "u"}, "u2"]}, "users[1]: not a JSON object"),
])
def test_a_json_body_breaking_the_rules_is_a_400_naming_the_row(client, body, message):
    response = client.post(USERS, headers=auth(), json=body)
    assert response.status_code == 400, response.get_json()
    assert message in error_item(response)["message"]
    assert not [j for j in client.get("/v1/background_jobs", headers=auth()).get_json() if j["type"].startswith("bulk")]


def test_every_bad_row_is_listed_up_to_five(client):
    rows = [{"user_id": "ok"}] + [{"metadata": {}} for _ in range(7)]
    details = error_item(client.post(USERS, headers=auth(), json={"users": rows}))["details"]
    assert details.count("user_id: missing") == 5 and "and 2 more" in details


@pytest.mark.parametrize("raw, content_type, status", [
    (b"{", "application/json", 400), (b"", "application/json", 400), (b"\xff", "application/json", 400),
    (b"users=1", "text/plain", 415), (b'{"users": [{"user_id": "u"}]}', "application/xml", 415),
])
def test_bodies_that_are_not_json_are_refused(client, raw, content_type, status):
    response = client.post(USERS, headers={**auth(), "Content-Type": content_type}, data=raw)
    assert response.status_code == status
    error_item(response)


def test_more_than_10000_rows_is_a_413(client):
    response = client.post(USERS, headers=auth(), json=users(10_001))
    assert response.status_code == 413 and "10,000" in error_item(response)["message"]
    content = b"".join(b'{"user_id": "u%d"}\n' % i for i in range(10_001))
    response = post_file(client, USERS, content)
    assert response.status_code == 413 and error_item(response)["error"] == "Payload Too Large"
    assert client.post(USERS, headers=auth(), json=users(10_000)).status_code == 202


def test_a_body_over_50_mib_is_a_413_before_it_is_read(client):
    response = client.post(USERS, headers={**auth(), "Content-Type": "application/json"}, data=b"{}",
                           environ_overrides={"CONTENT_LENGTH": str(50 * 2**20 + 1)})
    assert response.status_code == 413 and "50 MiB" in error_item(response)["message"]


@pytest.mark.parametrize("content, filename, status", [
    (b'{"user_id": "u"}\n', "rows.csv", 415), (b"", "rows.ndjson", 400), (b"\n\n", "rows.ndjson", 400),
    (b"\xff\n", "rows.ndjson", 400),
])
def test_refused_files(client, content, filename, status):
    response = post_file(client, USERS, content, filename)
    assert response.status_code == status
    error_item(response)


def test_bad_lines_of_a_file_fail_the_job_at_validating_with_reasons_by_line(client):
    content = (b'{"user_id": "a", "metadata": {"plan": "pro"}}\n'
               b"not json\n"
               b'{"company_id": "c"}\n'
               b"\n"
               b'["a"]\n'
               b'{"user_id": "b", "metadata": {"nested": {"x": 1}}}\n')
    response = post_file(client, USERS, content)
    assert response.status_code == 202
    job = response.get_json()
    assert job["total_rows"] == 5
    control = admin_job(client, job["job_id"])
    assert [(e["line"], e["field"]) for e in control["errors"]] == [
        (2, None), (3, "user_id"), (5, None), (6, "metadata.nested")]
    assert control["error_count"] == 4 and "failed" in control["timeline"]
    settle(client, job["job_id"])
    detail = client.get("/v1/background_jobs/" + job["job_id"], headers=auth()).get_json()
    assert detail["status"] == "failed" and detail["completed_rows"] == 0


def test_the_operations_need_a_key(client):
    for path in (USERS, COMPANIES):
        response = client.post(path, json=users(1))
        assert response.status_code == 401
        assert error_item(response)["message"] == "Invalid API key or insufficient permissions"


def test_the_journal_names_the_operations_and_their_media_types(client):
    client.post(USERS, headers=auth(), json=users(1))
    client.post(COMPANIES, headers={**auth(OTHER_KEY), "Content-Type": "text/plain"}, data=b"x")
    journal = client.get("/__admin/requests").get_json()
    assert [(e["operation"], e["status"]) for e in journal] == [("bulkIdentifyUsers", 202),
                                                                 ("bulkIdentifyCompanies", 415)]
    assert journal[0]["violations"] == []
    assert [v["name"] for v in journal[1]["violations"]] == ["Content-Type"]


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                         lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                             st.sampled_from(["users", "user_id", "company_id", "metadata", "x"]), inner, max_size=4),
                         max_leaves=12))
def test_any_json_body_is_a_job_or_a_4xx(body):
    client = create_app(seed=1, now=NOW, frozen=True, jobs=0).test_client()
    response = client.post(USERS, headers=auth(), json=body)
    assert response.status_code in (202, 400), response.get_data()
    if response.status_code == 400:
        error_item(response)
    jobs = client.get("/v1/background_jobs", headers=auth()).get_json()
    assert len(jobs) == (response.status_code == 202)
    assert list_problems(jobs, T0) == []


FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bulk"


@pytest.mark.parametrize("name, path, rows, failed", [
    ("users.json", USERS, 2, False), ("companies.json", COMPANIES, 2, False), ("users.ndjson", USERS, 3, False),
    ("companies.ndjson", COMPANIES, 2, False), ("invalid_users.ndjson", USERS, 6, True)])
def test_the_bundled_examples_do_what_their_readme_says(client, name, path, rows, failed):
    content = (FIXTURES / name).read_bytes()
    if name.endswith(".json"):
        response = client.post(path, headers={**auth(), "Content-Type": "application/json"}, data=content)
    else:
        response = post_file(client, path, content, name)
    assert response.status_code == 202, response.get_json()
    job = response.get_json()
    assert job["total_rows"] == rows
    control = admin_job(client, job["job_id"])
    assert ("failed" in control["timeline"]) is failed
    if failed:
        assert control["error_count"] == 5
