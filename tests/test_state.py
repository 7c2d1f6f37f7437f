"""A fake whose state lives in a file (``serve --state``): what survives a
restart, a ``kill -9`` included, and every way a state file is refused."""
from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from mock_server import MockServer, create_app
from mock_server.backend.errors import NotFound
from mock_server.backend.lifecycle import STATUSES
from mock_server.backend.sqlite_store import FORMAT_VERSION, open_store
from mock_server.backend.store import StoreError
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


def test_the_control_api_finds_any_job_after_a_reopen(tmp_path):
    path = tmp_path / "state.db"
    store, app, backend = start(path, now=NOW, frozen=True)
    made = backend.add_job({"api_key": KEY}).job_id
    generated = backend.authenticate(OTHER_KEY).jobs[0].job_id
    for i in range(20):
        backend.authenticate(f"other-{i}")
    store.close()
    store, app, backend = start(path, now=NOW, frozen=True)
    client = app.test_client()
    for job_id in (made, generated):
        assert client.get(f"/__admin/jobs/{job_id}").get_json()["job_id"] == job_id
    unknown = made[:-12] + "0" * 12
    assert client.get(f"/__admin/jobs/{unknown}").status_code == 404
    assert client.get("/__admin/jobs/not-a-job-id").status_code == 404
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


def test_mock_server_state_keeps_the_state_between_servers(tmp_path):
    path = tmp_path / "state.db"
    with MockServer(state=path, seed=3, now=NOW, frozen=True) as server:
        job = json.loads(post(server.url + "/__admin/jobs", {"api_key": KEY})[1])
    with MockServer(state=path, seed=4, threads=2) as server:
        assert json.loads(get(server.url + f"/__admin/jobs/{job['job_id']}")[1])["job_id"] == job["job_id"]
        assert json.loads(get(server.url + "/__admin/health")[1])["seed"] == 3
    with pytest.raises(StoreError, match="is a directory"):
        MockServer(state=tmp_path).start()


# -- end to end: a server killed with SIGKILL, restarted on the same file ------------------------------


def request(url, method="GET", body=None, key=None):
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data is not None else {}
    if key:
        headers["Authorization"] = f"Token {key}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method=method, headers=headers),
                                    timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def get(url, key=None):
    return request(url, key=key)


def post(url, body):
    return request(url, "POST", body)


def serve(path, *args):
    """``userpilot-mock serve --state path`` in a subprocess, once it
    serves: (process, url, banner)."""
    process = subprocess.Popen([sys.executable, "-m", "mock_server", "serve", "--port", "0", "--quiet",
                                "--state", str(path), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    banner = []
    while not banner or not banner[-1].startswith("  state:"):
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"the server did not start: {process.communicate(timeout=10)}")
        banner.append(line)
    url = banner[0].split(" at ")[1].strip()
    return process, url, "".join(banner)


@pytest.mark.slow
def test_a_killed_server_restarts_where_it_was(tmp_path):
    path = tmp_path / "state.db"
    durations = {"queued": 30, "validating": 30, "processing": 30, "pending_refresh": 30}
    process, url, banner = serve(path, "--now", NOW, "--speed", "40")
    assert f"state:   {path} (new)" in banner
    try:
        status, body = post(url + "/__admin/jobs", {"api_key": KEY, "durations": durations})
        assert status == 201
        job_id = json.loads(body)["job_id"]
        assert post(url + "/__admin/clock", {"advance_seconds": 40})[0] == 200
        assert post(url + "/__admin/faults", {"operation": "listJobs", "status": 503, "times": 2})[0] == 201
        seen = [json.loads(get(url + f"/v1/background_jobs/{job_id}", KEY)[1])["status"] for _ in range(3)]
        clock_before = json.loads(get(url + "/__admin/clock")[1])
        faults_before = json.loads(get(url + "/__admin/faults")[1])
    finally:
        process.kill()  # SIGKILL: no chance to write anything more
        process.communicate(timeout=10)
    assert process.returncode == -signal.SIGKILL

    process, url, banner = serve(path, "--seed", "5", "--frozen", "--now", "2030-01-01T00:00:00Z")
    try:
        assert f"state:   {path} (resumed: 1 app, clock 2026-11-29T12:" in banner
        assert "speed 40" in banner  # the file's clock, not --frozen
        clock = json.loads(get(url + "/__admin/clock")[1])
        assert clock["speed"] == 40 and not clock["frozen"]
        assert parse_instant(clock["now"]) >= parse_instant(clock_before["now"])
        assert json.loads(get(url + "/__admin/faults")[1]) == faults_before
        assert get(url + "/v1/background_jobs", KEY)[0] == 503  # the rule fires on after the restart
        deadline = time.monotonic() + 20
        while seen[-1] != "completed" and time.monotonic() < deadline:
            status, body = get(url + f"/v1/background_jobs/{job_id}", KEY)
            assert status == 200, body
            seen.append(json.loads(body)["status"])
            time.sleep(0.1)
        ranks = [STATUSES.index(s) for s in seen]
        assert ranks == sorted(ranks) and seen[0] == "validating" and seen[-1] == "completed", seen
        assert json.loads(get(url + "/__admin/faults")[1])[0]["hits"] == 1
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0 and "Traceback" not in err
    assert "userpilot-mock stopped" in out


# -- refused state files: one line naming the file, exit 2, the file untouched ------------------------------


def _state_file(path: Path) -> Path:
    """A real state file with a little state in it, closed."""
    store, app, backend = start(path, now=NOW, frozen=True)
    app.test_client().get("/v1/background_jobs", headers=auth())
    backend.add_job({"api_key": KEY})
    store.close()
    return path


def _garbage(path):
    path.write_bytes(bytes(range(256)) * 20)


def _text(path):
    path.write_text("hello, I am a text file\n")


def _other_sqlite(path):
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    conn.execute("INSERT INTO invoices (total) VALUES (12.5)")
    conn.commit()
    conn.close()


def _other_application(path):
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA application_id = 1234")
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.commit()
    conn.close()


def _newer(path):
    _state_file(path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 9")
    conn.commit()
    conn.close()


def _truncated(path):
    _state_file(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _header_only(path):
    _state_file(path)
    path.write_bytes(path.read_bytes()[:60])


def _scribbled(path):
    _state_file(path)
    data = bytearray(path.read_bytes())
    data[4096:4096 * 4] = bytes((i * 7 + 3) % 256 for i in range(4096 * 3))
    path.write_bytes(bytes(data))


REFUSED = {  # case -> (make the file, words of the message)
    "directory": (lambda p: p.mkdir(), "is a directory"),
    "garbage": (_garbage, "not an SQLite database"),
    "text": (_text, "not an SQLite database"),
    "another program's SQLite": (_other_sqlite, "another program"),
    "another application_id": (_other_application, "another program (application_id 1234)"),
    "newer format": (_newer, f"written by a newer userpilot-mock (format 9; this one reads up to {FORMAT_VERSION})"),
    "truncated": (_truncated, "is corrupt"),
    "only a header": (_header_only, "is corrupt (truncated"),
    "scribbled over": (_scribbled, "is corrupt"),
}


def fingerprint(path: Path):
    """The bytes, size and mtime of ``path`` and what lies next to it."""
    siblings = sorted(p.name for p in path.parent.iterdir())
    if path.is_dir():
        return siblings, sorted(os.listdir(path)), path.stat().st_mtime_ns
    return siblings, path.read_bytes(), path.stat().st_mtime_ns


def run_serve(*args, env=None):
    return subprocess.run([sys.executable, "-m", "mock_server", "serve", "--port", "0", "--quiet", *args],
                          capture_output=True, text=True, timeout=30, env={**os.environ, **(env or {})})


def assert_refused(result, path, words):
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"state file {path}:" in lines[0] and words in lines[0], result.stderr
    assert "serving" not in result.stdout


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_state_file_that_cannot_be_used_is_refused_untouched(tmp_path, case):
    make, words = REFUSED[case]
    path = tmp_path / "state.db"
    make(path)
    before = fingerprint(path)
    assert_refused(run_serve("--state", str(path)), path, words)
    assert fingerprint(path) == before


def test_a_state_file_in_use_is_refused_at_start(tmp_path):
    path = _state_file(tmp_path / "state.db")
    holder = open_store(path, 10)  # another fake has it
    try:
        before = fingerprint(path)
        result = run_serve(env={"USERPILOT_MOCK_STATE": str(path)})
        assert_refused(result, path, "is locked: another userpilot-mock")
        assert fingerprint(path) == before
        with pytest.raises(StoreError, match="is locked"):  # in this process too
            open_store(path, 10)
        assert fingerprint(path) == before
    finally:
        holder.close()
    open_store(path, 10).close()  # free again once the other let go


def test_a_state_file_in_a_missing_directory_is_refused(tmp_path):
    path = tmp_path / "nowhere" / "state.db"
    assert_refused(run_serve("--state", str(path)), path, "no directory")
    assert not path.parent.exists()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads and writes any file")
@pytest.mark.parametrize("mode, words", [(0o000, "cannot be read"), (0o444, "cannot be written")])
def test_a_state_file_without_permission_is_refused(tmp_path, mode, words):
    path = _state_file(tmp_path / "state.db")
    path.chmod(mode)
    try:
        before = fingerprint(path)
        assert_refused(run_serve("--state", str(path)), path, words)
        assert fingerprint(path) == before
    finally:
        path.chmod(0o644)
