"""Hardening items the structure work already did, each held by a test
(issue 12): no redirect on a double slash, leap seconds, naive datetimes,
per-app job generators, per-app history builds."""
from __future__ import annotations

import http.client
import io
import threading
from datetime import datetime, timezone

import pytest

from mock_server import MockServer, create_app
from mock_server.backend import generate
from mock_server.handle import UserpilotMock
from mock_server.times import iso_of

from .conftest import KEY, NOW, OTHER_KEY, SERVERS, auth, error_item

DOUBLE_SLASHES = ["/v1/background_jobs//x", "//v1/background_jobs", "/v1//background_jobs", "//__admin/health",
                  "/__admin//health", "/__admin//", "/__admin/jobs//x", "/__admin//spec/kit.yaml",
                  # the operations the exports, bulk and real-time work added, and the export files
                  "/api/v1/analytics/exports//jobs/", "/api/v1/analytics/exports/jobs//x", "//api/v1/analytics/exports",
                  "/api//v1/analytics/exports/lookups/flows", "/v1//track", "/v1/users//bulk_identify",
                  "//v1/identify", "//__files/appex/x.csv", "/__files//appex/x.csv"]


@pytest.mark.parametrize("path", DOUBLE_SLASHES)
def test_a_double_slash_is_a_404_in_the_error_shape_never_a_redirect(client, path):
    response = client.get(path, headers=auth())
    assert response.status_code == 404, (path, response.status_code, response.headers.get("Location"))
    assert "Location" not in response.headers
    error_item(response)


@pytest.mark.slow  # a server start each (the in-process test above holds the rule in the fast lane)
@pytest.mark.parametrize("kind", SERVERS)
def test_a_double_slash_over_a_socket_is_a_404_never_a_redirect(kind):
    with MockServer(seed=1, server=kind) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        for path in DOUBLE_SLASHES:
            for method in ("GET", "POST"):
                conn.request(method, path, body=b"{}" if method == "POST" else None,
                             headers={**auth(), "Host": "127.0.0.1", "Content-Type": "application/json"})
                response = conn.getresponse()
                body = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                assert response.status == 404, (kind, method, path, response.status)
                assert response.getheader("Location") is None and body.startswith(b'{"errors":'), (kind, path)
        conn.close()


@pytest.mark.parametrize("leap", ["2016-12-31T23:59:60Z", "2016-12-31 23:59:60.5", "2017-01-01T08:59:60+09:00"])
def test_a_leap_second_reads_as_the_last_second_of_its_minute_in_the_clock_api(leap):
    client = create_app(seed=1, now="2016-12-31T00:00:00Z", frozen=True).test_client()
    response = client.post("/__admin/clock", json={"now": leap})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["now"].startswith("2016-12-31T23:59:59")
    assert client.post("/__admin/reset", json={"now": leap}).status_code == 200


def test_a_leap_second_in_an_import_row_is_a_valid_inserted_at(client):
    row = (b'{"event_type": "track", "user_id": "u1", "event_name": "e", "source": "backend-http", '
           b'"inserted_at": "2016-12-31T23:59:60Z"}\n')
    response = client.post("/v1/imports", headers=auth(), data={"file": (io.BytesIO(row), "events.ndjson")})
    assert response.status_code == 200, response.get_json()
    client.post("/__admin/clock", json={"advance_seconds": 3600})
    job = client.get(f"/__admin/jobs/{response.get_json()['job_id']}").get_json()
    assert job["status"] == "completed" and "errors" not in job


def test_a_naive_datetime_is_a_type_error_that_asks_for_an_aware_one():
    with pytest.raises(TypeError, match="naive datetime.*pass an aware one"):
        iso_of(datetime(2026, 1, 1, 12, 0))
    handle = UserpilotMock.in_process(create_app(seed=1, now=NOW, frozen=True))
    for call in (lambda: handle.clock.freeze(at=datetime.now()), lambda: handle.reset(now=datetime.now()),
                 lambda: handle.clock.set(now=datetime.now()), lambda: handle.get_requests(since=datetime.now())):
        with pytest.raises(TypeError, match="aware"):
            call()
    assert handle.clock.freeze(at=datetime(2026, 11, 29, 13, tzinfo=timezone.utc)).hour == 13


def _made_jobs(client, key: str) -> list[dict]:
    """The jobs ``key``'s app makes: two through the control API, one import."""
    made = [client.post("/__admin/jobs", json={"api_key": key, "type": "export"}).get_json(),
            client.post("/__admin/jobs", json={"api_key": key, "type": "export", "outcome": "failed"}).get_json()]
    row = b'{"event_type": "identify_user", "user_id": "u", "source": "backend-http", "inserted_at": "' \
          + NOW.encode() + b'"}\n'
    made.append(client.post("/v1/imports", headers=auth(key),
                            data={"file": (io.BytesIO(row), "users.ndjson")}).get_json())
    return [{k: v for k, v in job.items() if k not in ("links",)} for job in made]


def test_one_keys_jobs_do_not_depend_on_what_other_keys_did():
    alone = create_app(seed=3, now=NOW, frozen=True).test_client()
    expected = _made_jobs(alone, KEY)
    crowded = create_app(seed=3, now=NOW, frozen=True).test_client()
    for other in (OTHER_KEY, "third-key"):
        _made_jobs(crowded, other)
        crowded.get("/v1/background_jobs", headers=auth(other))
    crowded_timelines = _made_jobs(crowded, KEY)
    assert crowded_timelines == expected
    timelines = [crowded.get(f"/__admin/jobs/{job['job_id']}").get_json()["timeline"] for job in expected]
    assert timelines == [alone.get(f"/__admin/jobs/{job['job_id']}").get_json()["timeline"] for job in expected]


@pytest.mark.parametrize("where", ["memory", "sqlite"])
def test_building_one_apps_history_never_blocks_another_apps_requests(monkeypatch, tmp_path, where):
    """While key A's history is being generated (held inside the generator
    here), key B's requests are answered: no lock all apps share, in either
    store (``serve --state`` included)."""
    from mock_server.backend.sqlite_store import open_store
    store = open_store(tmp_path / "state.db", 1000) if where == "sqlite" else None
    app = create_app(seed=1, now=NOW, frozen=True, store=store)
    token_a = app.extensions["userpilot"].backend.token_for(KEY)
    inside, release = threading.Event(), threading.Event()
    real_plan = generate.history_plan

    def plan(count, first_seen, rng, *model):
        if threading.current_thread().name == "build-a":
            inside.set()
            assert release.wait(30)
        return real_plan(count, first_seen, rng, *model)

    monkeypatch.setattr(generate, "history_plan", plan)
    statuses = []
    thread = threading.Thread(name="build-a", target=lambda: statuses.append(
        app.test_client().get("/v1/background_jobs", headers=auth(KEY)).status_code))
    thread.start()
    try:
        assert inside.wait(30)
        client = app.test_client()
        assert client.get("/v1/background_jobs", headers=auth(OTHER_KEY)).status_code == 200
        assert client.post("/__admin/jobs", json={"api_key": OTHER_KEY}).status_code == 201
        assert client.get("/__admin/health").status_code == 200
        assert token_a not in app.extensions["userpilot"].backend.apps  # A is still being built
        assert client.post("/api/v1/analytics/exports", headers=auth(OTHER_KEY), json={}).status_code == 201
        assert client.post("/v1/track", headers=auth(OTHER_KEY),
                           json={"user_id": "u", "event_name": "e"}).status_code == 202
    finally:
        release.set()
        thread.join(30)
        if store is not None:
            store.close()
    assert statuses == [200]


def _export_and_bulk(client, key: str) -> list[dict]:
    """The export and bulk identify jobs ``key`` makes, with their timelines."""
    made = [client.post("/api/v1/analytics/exports", headers=auth(key), json={}).get_json(),
            client.post("/v1/users/bulk_identify", headers=auth(key), json={"users": [{"user_id": "u"}]}).get_json()]
    return [client.get(f"/__admin/jobs/{job['job_id']}", query_string={"timeline": "true"}).get_json()
            for job in made]


def test_one_keys_exports_and_bulk_jobs_do_not_depend_on_what_other_keys_did():
    alone = create_app(seed=3, now=NOW, frozen=True).test_client()
    expected = _export_and_bulk(alone, KEY)
    crowded = create_app(seed=3, now=NOW, frozen=True).test_client()
    for other in (OTHER_KEY, "third-key"):
        _export_and_bulk(crowded, other)
    assert _export_and_bulk(crowded, KEY) == expected


def test_a_leap_second_in_an_export_filter_is_the_last_second_of_its_minute(client):
    leap = client.post("/api/v1/analytics/exports", headers=auth(), json={"from": "2026-11-28T23:59:60Z"})
    assert leap.status_code == 201, leap.get_json()


@pytest.mark.parametrize("method,path", [("GET", "/api/v1/analytics/exports/jobs/"), ("POST", "/v1/track"),
                                         ("POST", "/v1/users/bulk_identify"),
                                         ("GET", "/api/v1/analytics/exports/lookups/flows")])
def test_a_repeated_authorization_header_is_a_400_on_the_new_operations_too(client, method, path):
    response = client.open(path, method=method, headers=[("Authorization", "Token a"), ("Authorization", "Token b")])
    assert response.status_code == 400 and error_item(response)["error_code"] == "repeated_authorization"
    (entry,) = client.get("/__admin/requests").get_json()
    assert "Authorization" in [v["name"] for v in entry["violations"]]  # (a POST without its body adds one)
