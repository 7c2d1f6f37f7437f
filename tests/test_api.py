"""The fake's API answers, in-process (Flask test client, frozen clock)."""
from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given, settings, strategies as st

from mock_server import create_app
from mock_server.times import parse_instant
from mock_server.invariants import job_problems, list_problems

from .conftest import KEY, NOW, OTHER_KEY, auth, error_item

T0 = parse_instant(NOW)


def test_list_jobs_default_history(client):
    response = client.get("/v1/background_jobs", headers=auth())
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["server"] == "Cowboy"
    assert response.headers["cache-control"] == "max-age=0, private, must-revalidate"
    assert len(response.headers["x-request-id"]) == 20
    jobs = response.get_json()
    assert len(jobs) == 25
    assert list_problems(jobs, T0) == []
    in_flight = [j for j in jobs if j["status"] not in ("completed", "failed")]
    assert len(in_flight) >= 2
    assert all(j["type"] != "import" for j in in_flight)
    assert 1 <= sum(j["status"] == "failed" for j in jobs) <= 5
    starts = [parse_instant(j["start_time"]) for j in jobs]
    assert min(starts) >= T0 - 14 * 86400


def test_in_flight_jobs_finish_within_ten_minutes(client):
    jobs = client.get("/v1/background_jobs", headers=auth()).get_json()
    client.post("/__admin/clock", json={"advance_seconds": 600})
    later = {j["job_id"]: j for j in client.get("/v1/background_jobs", headers=auth()).get_json()}
    assert all(later[j["job_id"]]["status"] in ("completed", "failed") for j in jobs)


@pytest.mark.parametrize("header", [None, "", "Token", "Token   ", "Bearer abc", "Basic dXNlcjpw", "abc"])
def test_missing_or_malformed_authorization_is_401(client, header):
    headers = {} if header is None else {"Authorization": header}
    response = client.get("/v1/background_jobs", headers=headers)
    assert response.status_code == 401
    assert error_item(response)["error"] == "Unauthorized"


@pytest.mark.parametrize("scheme", ["Token", "token", "TOKEN", "ToKeN"])
def test_token_scheme_is_case_insensitive(client, scheme):
    assert client.get("/v1/background_jobs", headers={"Authorization": f"{scheme} {KEY}"}).status_code == 200


def test_each_key_is_its_own_app(client):
    mine = client.get("/v1/background_jobs", headers=auth(KEY)).get_json()
    theirs = client.get("/v1/background_jobs", headers=auth(OTHER_KEY)).get_json()
    token_mine = mine[0]["job_id"].split(":")[2]
    token_theirs = theirs[0]["job_id"].split(":")[2]
    assert token_mine != token_theirs
    assert all(j["job_id"].split(":")[2] == token_mine for j in mine)
    other_job = quote(theirs[0]["job_id"], safe="")
    response = client.get(f"/v1/background_jobs/{other_job}", headers=auth(KEY))
    assert response.status_code == 404
    error_item(response)


def test_single_job_with_raw_and_encoded_colons(client):
    listed = client.get("/v1/background_jobs", headers=auth()).get_json()
    for job in listed:
        for path_id in (job["job_id"], quote(job["job_id"], safe="")):
            response = client.get(f"/v1/background_jobs/{path_id}", headers=auth())
            assert response.status_code == 200
            detail = response.get_json()
            assert job_problems(detail, T0, detail=True) == []
            assert {k: v for k, v in detail.items() if k != "completed_rows"} == job


def test_unknown_job_and_path_are_404(client):
    for path in ("/v1/background_jobs/bulk:jobs:NX-00000000:nope", "/v1/nothing", "/", "/__admin/nothing"):
        response = client.get(path, headers=auth())
        assert response.status_code == 404, path
        error_item(response)


def test_unknown_path_is_404_before_authentication(client):
    assert client.get("/v2/jobs").status_code == 404


def test_wrong_method_is_405_with_allow_before_authentication(client):
    for method in ("post", "put", "delete", "patch", "options"):
        response = client.open("/v1/background_jobs", method=method.upper())
        assert response.status_code == 405, method
        assert "GET" in response.headers["Allow"]
        error_item(response)
    response = client.get("/v1/imports", headers=auth())
    assert response.status_code == 405 and "POST" in response.headers["Allow"]


def test_api_key_restriction():
    app = create_app(seed=1, now=NOW, frozen=True, api_keys=["only-this"])
    client = app.test_client()
    assert client.get("/v1/background_jobs", headers=auth("only-this")).status_code == 200
    response = client.get("/v1/background_jobs", headers=auth("another"))
    assert response.status_code == 401
    assert "another" not in response.get_data(as_text=True)


def test_api_key_never_in_answers(client, backend):
    secret = "SENTINEL-SECRET-KEY-42"
    bodies = [client.get("/v1/background_jobs", headers=auth(secret)).get_data(as_text=True)]
    bodies.append(client.get("/__admin/jobs", query_string={"api_key": secret}).get_data(as_text=True))
    bodies.append(client.post("/__admin/jobs", json={"api_key": secret}).get_data(as_text=True))
    bodies.append(client.get("/v1/background_jobs/x", headers=auth(secret)).get_data(as_text=True))
    assert all(secret not in body for body in bodies)


def test_jobs_zero_gives_empty_apps():
    client = create_app(jobs=0, now=NOW, frozen=True).test_client()
    assert client.get("/v1/background_jobs", headers=auth()).get_json() == []


def test_same_seed_and_instant_give_identical_bodies():
    bodies = []
    for _ in range(2):
        client = create_app(seed=99, now=NOW, frozen=True, public_url="https://mock.example").test_client()
        response = client.get("/v1/background_jobs", headers=auth())
        job_id = response.get_json()[3]["job_id"]
        bodies.append((response.data, client.get(f"/v1/background_jobs/{job_id}", headers=auth()).data))
    assert bodies[0] == bodies[1]
    other = create_app(seed=100, now=NOW, frozen=True, public_url="https://mock.example").test_client()
    assert other.get("/v1/background_jobs", headers=auth()).data != bodies[0][0]


def test_links_are_built_on_the_public_url():
    client = create_app(now=NOW, frozen=True, public_url="https://mock.example/base/").test_client()
    jobs = client.get("/v1/background_jobs", headers=auth()).get_json()
    assert all(j["links"].startswith("https://mock.example/base/v1/background_jobs/bulk:jobs:") for j in jobs)


def test_lru_forgets_apps_past_max_apps():
    app = create_app(now=NOW, frozen=True, max_apps=3)
    client = app.test_client()
    for i in range(10):
        assert client.get("/v1/background_jobs", headers=auth(f"k{i}")).status_code == 200
    assert len(app.extensions["userpilot"].backend.apps) == 3


def test_head_is_served_like_get(client):
    response = client.head("/v1/background_jobs", headers=auth())
    assert response.status_code == 200 and response.data == b""


def test_get_ignores_a_body_and_unknown_query(client):
    response = client.get("/v1/background_jobs?page=2&x=%00", headers=auth(), data=b"\xff\xfe{junk")
    assert response.status_code == 200


@pytest.mark.slow
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), jobs=st.integers(0, 60), offset=st.integers(0, 3 * 86400))
def test_invariants_hold_over_seeds_and_instants(seed, jobs, offset):
    app = create_app(seed=seed, jobs=jobs, now=NOW, frozen=True)
    client = app.test_client()
    first = client.get("/v1/background_jobs", headers=auth()).get_json()
    assert len(first) == jobs
    client.post("/__admin/clock", json={"advance_seconds": offset})
    second = client.get("/v1/background_jobs", headers=auth()).get_json()
    assert list_problems(second, T0 + offset) == []
    from mock_server.invariants import transition_problems
    before = {j["job_id"]: j for j in first}
    for job in second:
        assert transition_problems(before[job["job_id"]], job) == []
    if jobs >= 2:
        assert sum(j["status"] not in ("completed", "failed") for j in first) >= 2
