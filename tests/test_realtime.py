"""The real-time calls: identify, identify company, track; their 400s, the
X-API-Version rule and the documented 600 per minute per app token."""
from __future__ import annotations

import pytest

from mock_server import create_app
from mock_server.backend.faults import parse_rate_limit

from .conftest import KEY, NOW, OTHER_KEY, auth, error_item

IDENTIFY, COMPANY, TRACK = "/v1/identify", "/v1/companies/identify", "/v1/track"
VALID = {IDENTIFY: {"user_id": "u-1", "metadata": {"plan": "pro", "seats": 3, "beta": True, "left": None}},
         COMPANY: {"company_id": "c-1", "metadata": {"name": "Acme"}},
         TRACK: {"user_id": "u-1", "event_name": "Report Exported", "metadata": {"format": "pdf"}}}


def sent(app, key: str = KEY) -> list[dict]:
    backend = app.extensions["userpilot"].backend
    return backend.sent_records(backend.authenticate(key))


@pytest.mark.parametrize("path", sorted(VALID))
def test_a_valid_call_is_202_with_no_body(app, client, path):
    response = client.post(path, headers=auth(), json=VALID[path])
    assert response.status_code == 202
    assert response.get_data() == b"" and response.headers["Content-Length"] == "0"
    assert response.headers["server"] == "Cowboy"
    assert len(sent(app)) == 1 and sent(app, OTHER_KEY) == []


def test_identify_with_a_company_makes_both_events(app, client):
    for company in ({"company_id": "c-9", "name": "Acme"}, {"id": "c-9", "name": "Acme"}):
        assert client.post(IDENTIFY, headers=auth(), json={"user_id": "u", "company": company}).status_code == 202
    records = sent(app)
    assert [(r["event_type"], r.get("user_id"), r["company_id"]) for r in records] == [
        ("identify_user", "u", "c-9"), ("identify_company", None, "c-9")] * 2
    assert records[1]["metadata"] == {"name": "Acme"}


@pytest.mark.parametrize("path, body, named", [
    (IDENTIFY, {}, "user_id: missing"),
    (IDENTIFY, {"user_id": ""}, "user_id: missing"),
    (IDENTIFY, {"user_id": 7}, "user_id: must be a string"),
    (IDENTIFY, {"user_id": "u", "company": {"name": "Acme"}}, "company: needs its company_id"),
    (IDENTIFY, {"user_id": "u", "company": "Acme"}, "company: must be a JSON object"),
    (IDENTIFY, {"user_id": "u", "company": {"id": "c", "tags": ["a"]}}, "company.tags"),
    (IDENTIFY, {"user_id": "u", "traits": {}}, "'traits': unknown field"),
    (IDENTIFY, {"user_id": "u", "metadata": []}, "metadata: must be a JSON object"),
    (IDENTIFY, {"user_id": "u", "metadata": {"address": {"city": "x"}}}, "metadata.address"),
    (COMPANY, {"metadata": {}}, "company_id: missing"),
    (TRACK, {"user_id": "u"}, "event_name: missing"),
    (TRACK, {"event_name": "e"}, "user_id: missing"),
    (TRACK, [], "must be a JSON object"),
])
def test_a_call_missing_what_it_needs_is_a_400_naming_it(app, client, path, body, named):
    response = client.post(path, headers=auth(), json=body)
    assert response.status_code == 400
    assert named in error_item(response)["message"]
    assert sent(app) == []


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff", b'{"user_id": NaN}'])
def test_a_body_that_is_not_json_is_a_400(client, raw):
    response = client.post(TRACK, headers={**auth(), "Content-Type": "application/json"}, data=raw)
    assert response.status_code == 400
    error_item(response)


def test_a_body_over_1_mib_is_a_413(client):
    body = b'{"user_id": "u", "event_name": "' + b"e" * (1 << 20) + b'"}'
    response = client.post(TRACK, headers={**auth(), "Content-Type": "application/json"}, data=body)
    assert response.status_code == 413
    error_item(response)


@pytest.mark.parametrize("path", sorted(VALID))
def test_the_calls_need_a_key(client, path):
    response = client.post(path, json=VALID[path])
    assert response.status_code == 401
    assert error_item(response)["message"] == "Invalid API key or insufficient permissions"


@pytest.mark.parametrize("path, version, status", [
    (IDENTIFY, None, 202), (IDENTIFY, "2020-09-22", 202), (IDENTIFY, "2024-01-01", 400), (TRACK, "v2", 400),
    (TRACK, "2020-09-22", 202), (COMPANY, "2024-01-01", 202),  # identify company: the header is not read
])
def test_x_api_version(client, path, version, status):
    headers = {**auth(), **({"X-API-Version": version} if version else {})}
    response = client.post(path, headers=headers, json=VALID[path])
    assert response.status_code == status
    if status == 400:
        assert "2020-09-22" in error_item(response)["details"]


def test_the_journal_sees_the_calls_and_their_violations(client):
    client.post(TRACK, headers={**auth(), "X-API-Version": "2020-09-22"}, json=VALID[TRACK])
    client.post(TRACK, headers={**auth(), "Content-Type": "text/plain"}, data=b"x")
    journal = client.get("/__admin/requests").get_json()
    assert [(e["operation"], e["status"]) for e in journal] == [("trackEvent", 202), ("trackEvent", 400)]
    assert journal[0]["violations"] == [] and [v["name"] for v in journal[1]["violations"]] == ["Content-Type"]


def test_faults_and_prefer_name_the_real_time_operations(client):
    rule = {"operation": "trackEvent", "status": 500, "times": 1}
    assert client.post("/__admin/faults", json=rule).status_code == 201
    assert client.post(TRACK, headers=auth(), json=VALID[TRACK]).status_code == 500
    assert client.post(TRACK, headers=auth(), json=VALID[TRACK]).status_code == 202
    response = client.post(IDENTIFY, headers={**auth(), "Prefer": "code=429"}, json=VALID[IDENTIFY])
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"


# -- the documented rate limit ----------------------------------------------------------

class Wall:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def limited_app(rate_limit):
    app = create_app(seed=1, now=NOW, frozen=True, rate_limit=rate_limit)
    wall = Wall()
    faults = app.extensions["userpilot"].backend.faults
    for limiter in [faults.limiter, *faults.buckets.values()]:
        if limiter is not None:
            limiter.monotonic = wall
    return app, wall


def test_600_real_time_calls_per_minute_per_app_token_when_rate_limiting_is_on():
    app, wall = limited_app("documented")
    client = app.test_client()
    # the Identify API: identify and identify company share a window
    statuses = [client.post(IDENTIFY if i % 2 else COMPANY, headers=auth(), json=VALID[IDENTIFY if i % 2 else COMPANY])
                .status_code for i in range(600)]
    assert statuses == [202] * 600
    refused = client.post(IDENTIFY, headers=auth(), json=VALID[IDENTIFY])
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
    item = error_item(refused)
    assert item["error_code"] == "rate_limited" and "600 requests per 60 seconds" in item["message"]
    assert client.post(TRACK, headers=auth(), json=VALID[TRACK]).status_code == 202  # the Track API's own window
    assert client.post(IDENTIFY, headers=auth(OTHER_KEY), json=VALID[IDENTIFY]).status_code == 202  # per token
    assert client.get("/v1/background_jobs", headers=auth()).status_code == 200  # "documented": no general limit
    wall.t += 30
    assert client.post(IDENTIFY, headers=auth(), json=VALID[IDENTIFY]).headers["Retry-After"] == "30"
    wall.t += 30
    assert client.post(IDENTIFY, headers=auth(), json=VALID[IDENTIFY]).status_code == 202


def test_a_general_limit_still_limits_the_other_operations_and_the_real_time_calls_keep_theirs():
    app, wall = limited_app("2/min")
    client = app.test_client()
    assert [client.get("/v1/background_jobs", headers=auth()).status_code for _ in range(3)] == [200, 200, 429]
    assert [client.post(TRACK, headers=auth(), json=VALID[TRACK]).status_code for _ in range(5)] == [202] * 5


def test_without_rate_limiting_nothing_is_limited():
    client = create_app(seed=1, now=NOW, frozen=True).test_client()
    assert all(client.post(TRACK, headers=auth(), json=VALID[TRACK]).status_code == 202 for _ in range(650))


def test_the_documented_setting_parses():
    assert parse_rate_limit("documented") == parse_rate_limit(" Documented ") == "documented"
