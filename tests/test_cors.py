"""CORS for browser apps on another port (docs/serve.md, "Browser apps (CORS)"):
``--cors`` / ``--cors-origin`` (``cors_origins``), preflights answered before
authentication, ``Access-Control-Allow-*`` on API answers, never on the
control API; in-process and over both servers."""
from __future__ import annotations

import http.client

import pytest

from mock_server import MockServer, create_app

from .conftest import NOW, SERVERS, auth, error_item

ORIGIN = "http://localhost:3000"


def preflight(client, path: str, origin: str = ORIGIN, method: str = "GET", headers: str | None = None):
    asked = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers is not None:
        asked["Access-Control-Request-Headers"] = headers
    return client.options(path, headers=asked)


@pytest.fixture
def any_origin():
    return create_app(seed=1, now=NOW, frozen=True, cors_origins=["*"]).test_client()


@pytest.fixture
def one_origin():
    return create_app(seed=1, now=NOW, frozen=True, cors_origins=[ORIGIN]).test_client()


@pytest.mark.parametrize("path,method", [("/v1/background_jobs", "GET"), ("/v1/imports", "POST"),
                                         ("/api/v1/analytics/exports", "POST"), ("/v1/track", "POST"),
                                         ("/v1/users/bulk_identify", "POST")])
def test_a_preflight_is_answered_before_authentication(one_origin, path, method):
    response = preflight(one_origin, path, method=method, headers="authorization, content-type, prefer")
    assert response.status_code == 204 and response.get_data() == b""
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert method in response.headers["Access-Control-Allow-Methods"].split(", ")
    assert response.headers["Access-Control-Allow-Headers"] == "authorization, content-type, prefer"
    assert "Origin" in response.headers["Vary"] and int(response.headers["Access-Control-Max-Age"]) > 0
    (entry,) = one_origin.get("/__admin/requests").get_json()
    assert entry["method"] == "OPTIONS" and entry["status"] == 204 and entry["violations"] == []
    assert entry["app_token"] is None  # no key was read, no app made
    assert one_origin.application.extensions["userpilot"].backend.apps == {}


def test_api_answers_carry_the_allow_origin_header_errors_included(one_origin):
    for headers, status in ((auth(), 200), ({}, 401)):
        response = one_origin.get("/v1/background_jobs", headers={**headers, "Origin": ORIGIN})
        assert response.status_code == status
        assert response.headers["Access-Control-Allow-Origin"] == ORIGIN and "Origin" in response.headers["Vary"]
        assert "Retry-After" in response.headers["Access-Control-Expose-Headers"]
    missing = one_origin.get("/v1/nope", headers={**auth(), "Origin": ORIGIN})
    assert missing.status_code == 404 and missing.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_another_origin_gets_no_cors_header(one_origin):
    response = preflight(one_origin, "/v1/background_jobs", origin="http://evil.example")
    assert response.status_code == 405 and "Access-Control-Allow-Origin" not in response.headers
    error_item(response)
    got = one_origin.get("/v1/background_jobs", headers={**auth(), "Origin": "http://evil.example"})
    assert got.status_code == 200 and "Access-Control-Allow-Origin" not in got.headers


def test_any_origin_with_cors(any_origin):
    for origin in (ORIGIN, "https://app.example:8443"):
        response = preflight(any_origin, "/v1/background_jobs", origin=origin)
        assert response.status_code == 204 and response.headers["Access-Control-Allow-Origin"] == origin


def test_never_on_the_control_api(any_origin):
    for method, path in (("GET", "/__admin/health"), ("POST", "/__admin/reset"), ("GET", "/__admin/requests")):
        response = any_origin.open(path, method=method, headers={"Origin": ORIGIN})
        assert response.status_code == 200
        assert not [h for h in response.headers.keys() if h.lower().startswith("access-control-")]
        asked = preflight(any_origin, path, method=method)
        assert not [h for h in asked.headers.keys() if h.lower().startswith("access-control-")]


def test_without_cors_nothing_changes():
    client = create_app(seed=1, now=NOW, frozen=True).test_client()
    assert preflight(client, "/v1/background_jobs").status_code == 405
    response = client.get("/v1/background_jobs", headers={**auth(), "Origin": ORIGIN})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_a_preflight_for_an_unknown_path_or_a_double_slash_is_not_allowed(any_origin):
    assert preflight(any_origin, "/v1/nope").status_code == 404
    assert preflight(any_origin, "/v1/background_jobs//x").status_code == 404


def test_a_malformed_requested_header_list_is_not_echoed(any_origin):
    response = preflight(any_origin, "/v1/background_jobs", headers="authorization; x=\"y\"")
    assert response.status_code == 204 and "Access-Control-Allow-Headers" not in response.headers


@pytest.mark.parametrize("kind", SERVERS)
def test_over_each_server(kind):
    with MockServer(seed=1, now=NOW, frozen=True, cors_origins=[ORIGIN], server=kind) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("OPTIONS", "/v1/background_jobs", headers={
            "Origin": ORIGIN, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"})
        answer = conn.getresponse()
        answer.read()
        assert answer.status == 204 and answer.getheader("Access-Control-Allow-Origin") == ORIGIN
        assert answer.getheader("Access-Control-Allow-Headers") == "authorization"
        conn.request("GET", "/v1/background_jobs", headers={**auth(), "Origin": ORIGIN})
        answer = conn.getresponse()
        answer.read()
        assert answer.status == 200 and answer.getheader("Access-Control-Allow-Origin") == ORIGIN
        conn.close()


def test_the_setting_is_checked():
    with pytest.raises(ValueError, match="cors_origins"):
        create_app(cors_origins=["localhost:3000"])
    with pytest.raises(ValueError, match="cors_origins"):
        create_app(cors_origins=["http://localhost:3000/app"])
