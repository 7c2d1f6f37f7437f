"""Faults over real HTTP, on each server: what a requests-based client sees."""
from __future__ import annotations

import time

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from mock_server import MockServer

from .conftest import KEY, NOW, OTHER_KEY, auth

LIST = "/v1/background_jobs"


@pytest.fixture(scope="module")
def server(server_kind):
    with MockServer(seed=1, now=NOW, frozen=True, server=server_kind) as running:
        yield running


@pytest.fixture
def url(server):
    requests.post(f"{server.url}/__admin/reset", json={"seed": 1, "now": NOW, "frozen": True},
                  timeout=5).raise_for_status()
    return server.url


def add_rule(url, **rule):
    response = requests.post(f"{url}/__admin/faults", json=rule, timeout=5)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_retrying_client_survives_two_503s(url):
    rule = add_rule(url, operation="listJobs", api_key=KEY, status=503, times=2)
    session = requests.Session()
    retry = Retry(total=3, status_forcelist=[429, 500, 502, 503, 504], backoff_factor=0,
                  allowed_methods=["GET"], raise_on_status=True)
    session.mount("http://", HTTPAdapter(max_retries=retry))
    response = session.get(f"{url}{LIST}", headers=auth(), timeout=5)
    assert response.status_code == 200 and len(response.json()) == 25
    [view] = requests.get(f"{url}/__admin/faults", timeout=5).json()
    assert view["id"] == rule["id"] and view["hits"] == 2 and view["remaining"] == 0


def test_a_client_without_retries_sees_the_503(url):
    add_rule(url, operation="listJobs", status=503, times=1)
    response = requests.get(f"{url}{LIST}", headers=auth(), timeout=5)
    assert response.status_code == 503
    assert set(response.json()["errors"][0]) == {"details", "error", "error_code", "message"}


def test_prefer_over_http(url):
    response = requests.get(f"{url}{LIST}", headers={**auth(), "Prefer": "code=429"}, timeout=5)
    assert response.status_code == 429 and response.headers["Retry-After"].isdigit()
    response = requests.get(f"{url}{LIST}", headers={**auth(), "Prefer": "code=banana"}, timeout=5)
    assert response.status_code == 400


def test_malformed_response_chunk_is_an_incomplete_read(url):
    add_rule(url, operation="listJobs", fault="MALFORMED_RESPONSE_CHUNK", times=1)
    session = requests.Session()
    with pytest.raises(requests.exceptions.ChunkedEncodingError) as caught:
        session.get(f"{url}{LIST}", headers=auth(), timeout=5)
    assert "IncompleteRead" in str(caught.value)
    assert session.get(f"{url}{LIST}", headers=auth(), timeout=5).status_code == 200


def test_random_data_then_close_is_not_json(url):
    add_rule(url, operation="listJobs", fault="RANDOM_DATA_THEN_CLOSE", times=1)
    session = requests.Session()
    response = session.get(f"{url}{LIST}", headers=auth(), timeout=5)
    assert response.status_code == 200
    assert response.headers["Connection"] == "close"
    with pytest.raises(requests.exceptions.JSONDecodeError):
        response.json()
    assert len(session.get(f"{url}{LIST}", headers=auth(), timeout=5).json()) == 25


def test_latency_rule_shows_in_measured_times(url):
    add_rule(url, operation="listJobs", api_key=KEY, latency_ms=60)
    session = requests.Session()
    session.get(f"{url}{LIST}", headers=auth(OTHER_KEY), timeout=5)  # warm the connection
    t0 = time.perf_counter()
    assert session.get(f"{url}{LIST}", headers=auth(), timeout=5).status_code == 200
    assert time.perf_counter() - t0 >= 0.060


def test_rate_limit_10_per_minute(server_kind):
    with MockServer(seed=1, now=NOW, frozen=True, rate_limit="10/min", server=server_kind) as running, \
            requests.Session() as session:
        codes = [session.get(f"{running.url}{LIST}", headers=auth(), timeout=5).status_code
                 for _ in range(11)]
        assert codes == [200] * 10 + [429]
        refused = session.get(f"{running.url}{LIST}", headers=auth(), timeout=5)
        assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.json()["errors"][0]["error_code"] == "rate_limited"
        assert session.get(f"{running.url}{LIST}", headers=auth(OTHER_KEY), timeout=5).status_code == 200
