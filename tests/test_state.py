"""A fake whose state lives in a file (SqliteStore): what survives a restart."""
from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from mock_server import create_app
from mock_server.backend.errors import NotFound
from mock_server.backend.sqlite_store import open_store
from mock_server.times import parse_instant

from .conftest import KEY, NOW, OTHER_KEY, auth

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "imports"


def start(path, max_apps=1000, **settings):
    """A fake in-process on the state file ``path``: (store, Flask app, backend)."""
    store = open_store(path, max_apps)
    app = create_app(store=store, max_apps=max_apps, **settings)
    return store, app, app.extensions["userpilot"].backend


def snapshot(app, backend):
    """Everything a restart must keep, as the fake shows it."""
    client = app.test_client()
    apps = {}
    for held in backend.store.apps():
        apps[held.app_token] = [job.to_record() for job in held.jobs]
    views = {token: client.get("/__admin/jobs", query_string={"app_token": token}).get_json() for token in apps}
    return {
        "apps": apps,  # every job: id, timeline, links, extra
        "views": views,  # the control API's view at the clock's now
        "order": [a.app_token for a in backend.store.apps()],
        "clock": client.get("/__admin/clock").get_json(),
        "health": client.get("/__admin/health").get_json(),
        "faults": client.get("/__admin/faults").get_json(),
        "requests": client.get("/__admin/requests").get_json(),
        "scenario": client.get("/__admin/scenario").get_json(),
    }


def test_a_reopened_fake_serves_the_same_state(tmp_path):
    path = tmp_path / "state.db"
    store, app, backend = start(path, seed=1, now=NOW, frozen=True)
    assert not store.resumed
    client = app.test_client()
    assert client.get("/v1/background_jobs", headers=auth()).status_code == 200
    assert client.get("/v1/background_jobs", headers=auth(OTHER_KEY)).status_code == 200
    made = backend.add_job({"api_key": KEY, "total_rows": 5000, "outcome": "failed", "fail_at": "processing"})
    upload = client.post("/v1/imports", headers=auth(OTHER_KEY),
                         data={"file": (io.BytesIO((FIXTURES / "invalid_rows.csv").read_bytes()), "bad.csv")})
    assert upload.status_code == 200
    rule = client.post("/__admin/faults", json={"operation": "getJob", "status": 503, "times": 3}).get_json()
    assert client.get(f"/v1/background_jobs/{made.job_id}", headers=auth()).status_code == 503  # fired once
    client.post("/__admin/faults", json={"api_key": OTHER_KEY, "latency_ms": [1, 2], "probability": 0.5})
    assert client.post("/__admin/clock", json={"advance_seconds": 90}).status_code == 200
    client.get(f"/v1/background_jobs/{made.job_id}?x=1", headers=auth())  # fired twice
    before = snapshot(app, backend)
    assert before["faults"][0]["id"] == rule["id"] and before["faults"][0]["remaining"] == 1
    assert len(before["requests"]) == 5 and len(before["apps"]) == 2
    store.close()

    # Other settings at the restart: the file's state wins.
    store, app, backend = start(path, seed=99, jobs=3, now="2030-01-01T00:00:00Z", speed=7)
    assert store.resumed and store.app_count() == 2
    assert snapshot(app, backend) == before
    assert backend.clock.frozen and backend.now() == parse_instant(NOW) + 90
    # Counters go on from where they were, and ids are not reused.
    client = app.test_client()
    assert client.get(f"/v1/background_jobs/{made.job_id}", headers=auth()).status_code == 503
    assert client.get("/__admin/faults").get_json()[0]["hits"] == 3
    assert client.get(f"/v1/background_jobs/{made.job_id}", headers=auth()).status_code == 200  # used up
    assert client.post("/__admin/faults", json={"status": 500, "times": 1}).get_json()["id"] == "fault-3"
    next_job = backend.add_job({"api_key": KEY})
    store.close()

    # The same calls on a fake that never restarted make the same next job.
    memory = create_app(seed=1, now=NOW, frozen=True)
    mem_backend = memory.extensions["userpilot"].backend
    mem_backend.authenticate(KEY)
    mem_backend.add_job({"api_key": KEY, "total_rows": 5000, "outcome": "failed", "fail_at": "processing"})
    mem_backend.set_clock({"advance_seconds": 90})
    assert mem_backend.add_job({"api_key": KEY}).to_record() == next_job.to_record()


def test_a_running_clock_resumes_moved_on_by_the_real_time_passed(tmp_path):
    path = tmp_path / "state.db"
    speed = 100_000
    store, _app, backend = start(path, now=NOW, speed=speed)
    backend.set_clock({"advance_seconds": 3600})
    r0 = time.time()
    v0 = backend.clock.now()
    r0_after = time.time()
    store.close()
    store, _app, backend = start(path, now="2030-01-01T00:00:00Z", frozen=True)
    r1 = time.time()
    v1 = backend.clock.now()
    r1_after = time.time()
    assert not backend.clock.frozen and backend.clock.speed == speed
    # The virtual time between the readings is the real time between them, times the speed.
    assert (r1 - r0_after) * speed - 1 <= v1 - v0 <= (r1_after - r0) * speed + 1
    assert v1 > v0
    store.close()


def test_a_reset_forgets_everything_and_a_reopen_keeps_the_reset(tmp_path):
    path = tmp_path / "state.db"
    store, app, backend = start(path, seed=1, now=NOW, frozen=True)
    client = app.test_client()
    client.get("/v1/background_jobs", headers=auth())
    backend.add_job({"api_key": KEY})
    client.post("/__admin/faults", json={"status": 500})
    answer = client.post("/__admin/reset", json={"seed": 5, "now": "2027-03-01T00:00:00Z", "jobs": 2})
    assert answer.status_code == 200
    store.close()
    store, app, backend = start(path, seed=1, now=NOW)
    client = app.test_client()
    assert store.app_count() == 0
    assert client.get("/__admin/health").get_json()["seed"] == 5
    assert client.get("/__admin/clock").get_json() == {"now": "2027-03-01T00:00:00Z", "frozen": True, "speed": 1.0}
    assert client.get("/__admin/faults").get_json() == []
    assert client.get("/__admin/requests").get_json() == []
    assert len(client.get("/v1/background_jobs", headers=auth()).get_json()) == 2  # the reset's jobs per app
    store.close()


def test_a_scenario_in_force_is_resumed(tmp_path):
    path = tmp_path / "state.db"
    store, app, backend = start(path, now=NOW, frozen=True, scenario="mixed")
    before = app.test_client().get("/v1/background_jobs", headers=auth()).get_json()
    store.close()
    store, app, backend = start(path, now=NOW, frozen=True)
    assert backend.scenario is not None and backend.scenario.name == "mixed"
    assert app.test_client().get("/v1/background_jobs", headers=auth()).get_json() == before
    store.close()


def test_max_apps_forgets_apps_for_good_and_keeps_the_order_of_use(tmp_path):
    path = tmp_path / "state.db"
    store, _app, backend = start(path, max_apps=2, now=NOW, frozen=True)
    tokens = {}
    for key in ("k1", "k2", "k3"):
        tokens[key] = backend.authenticate(key).app_token
        backend.add_job({"api_key": key})
    assert [a.app_token for a in store.apps()] == [tokens["k2"], tokens["k3"]]
    backend.app_for_token(tokens["k2"])  # k2 used last
    store.close()

    store, _app, backend = start(path, max_apps=2, now=NOW, frozen=True)
    assert store.app_count() == 2
    with pytest.raises(NotFound):
        backend.app_for_token(tokens["k1"])
    assert len(backend.authenticate("k1")) == 25  # new again: its made job went with it
    assert [a.app_token for a in store.apps()] == [tokens["k2"], tokens["k1"]]  # k3 was the least recent
    store.close()
    store, _app, backend = start(path, max_apps=2, now=NOW, frozen=True)
    assert len(backend.app_for_token(tokens["k2"])) == 26 and len(backend.app_for_token(tokens["k1"])) == 25
    store.close()


def test_the_journal_keeps_its_bound_across_a_reopen(tmp_path):
    path = tmp_path / "state.db"
    store, app, _backend = start(path, now=NOW, frozen=True, journal_size=10)
    client = app.test_client()
    for i in range(150):
        client.get(f"/v1/background_jobs?page={i}", headers=auth())
    before = client.get("/__admin/requests").get_json()
    assert [r["query"]["page"] for r in before] == [[str(i)] for i in range(140, 150)]
    store.close()
    store, app, _backend = start(path, now=NOW, frozen=True, journal_size=4)  # a smaller journal now
    assert app.test_client().get("/__admin/requests").get_json() == before[-4:]
    store.close()


def test_missing_and_empty_files_are_initialised(tmp_path):
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    for path in (tmp_path / "new.db", empty):
        store, app, _backend = start(path, now=NOW, frozen=True)
        assert not store.resumed and store.describe() == str(path)
        app.test_client().get("/v1/background_jobs", headers=auth())
        store.close()
        store = open_store(path, 10)
        assert store.resumed and store.app_count() == 1
        store.close()
