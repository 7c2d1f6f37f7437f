"""Regression tests for hostile input found by trying the fake as a new user."""
from __future__ import annotations

import subprocess
import sys

import pytest

from mock_server import create_app
from mock_server.backend.clock import Clock
from mock_server.times import MAX_INSTANT

from .conftest import KEY, auth, error_item


@pytest.mark.parametrize("speed", [1e7, 1e12, 1e308])
def test_absurd_speeds_are_refused_everywhere(client, speed):
    assert client.post("/__admin/clock", json={"speed": speed}).status_code == 400
    assert client.post("/__admin/reset", json={"speed": speed}).status_code == 400
    with pytest.raises(ValueError, match="speed"):
        create_app(speed=speed)


def test_the_clock_holds_at_its_maximum_and_jobs_still_render():
    real = [0.0]
    clock = Clock(now=MAX_INSTANT - 10, speed=1_000_000, real=lambda: real[0])
    real[0] = 100.0
    assert clock.now() == MAX_INSTANT
    client = create_app(now=MAX_INSTANT - 5, frozen=True).test_client()
    assert client.post("/__admin/clock", json={"advance_seconds": 10}).status_code == 400
    assert client.post("/__admin/clock", json={"now": "9999-12-31T23:59:59Z"}).status_code == 400
    created = client.post("/__admin/jobs", json={"api_key": KEY, "total_rows": 100_000_000})
    assert created.status_code == 201, created.get_json()
    assert client.get("/v1/background_jobs", headers=auth()).status_code == 200


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b'{"jobs": NaN}', b'{"seed": Infinity}',
                                  b'{"speed": -Infinity}'])
def test_bodies_that_are_not_json_are_400(client, body):
    for path in ("/__admin/reset", "/__admin/clock", "/__admin/jobs"):
        response = client.post(path, data=body, content_type="application/json")
        assert response.status_code == 400, path
        error_item(response)


@pytest.mark.parametrize("filename", ["a.txt", "noext", "a\x00.csv", "line\nbreak.csv", "tab\t.ndjson"])
def test_job_specs_keep_the_filename_invariant(client, filename):
    response = client.post("/__admin/jobs", json={"api_key": KEY, "filename": filename})
    assert response.status_code == 400
    assert "filename" in error_item(response)["message"]


def test_good_filenames_pass(client):
    for name in ("Users.CSV", "events.ndjson", "e.jsonl"):
        assert client.post("/__admin/jobs", json={"api_key": KEY, "filename": name}).status_code == 201


@pytest.mark.parametrize("settings", [{"jobs": -1}, {"max_apps": 0}, {"journal_size": -5}, {"seed": "x"},
                                      {"now": "garbage"}, {"speed": 0}, {"api_keys": [""]},
                                      {"public_url": "notaurl"}, {"error_rate": float("nan")},
                                      {"frozen": "yes"}])
def test_create_app_refuses_bad_settings(settings):
    with pytest.raises(ValueError, match=next(iter(settings))):
        create_app(**settings)


@pytest.mark.parametrize("args,option", [
    (["--error-rate", "nan"], "--error-rate"), (["--host", "999.1.1.1"], "--host"),
    (["--speed", "nan"], "--speed"), (["--speed", "1e9"], "--speed"), (["--api-key", ""], "--api-key"),
    (["--public-url", "notaurl"], "--public-url"), (["--now", "9999-12-31T00:00:00Z"], "--now"),
])
def test_cli_names_the_bad_option(args, option):
    result = subprocess.run([sys.executable, "-m", "mock_server", "serve", "--port", "0", *args],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert option in result.stderr and "Traceback" not in result.stderr


def test_admin_without_slash_is_the_index(client):
    response = client.get("/__admin")
    assert response.status_code == 200 and "endpoints" in response.get_json()


def test_status_lines_are_written_as_cowboy_writes_them(client):
    assert client.get("/v1/background_jobs").status == "401 Unauthorized"
    assert client.delete("/v1/background_jobs").status == "405 Method Not Allowed"
    assert client.get("/v1/background_jobs", headers=auth()).status == "200 OK"


def test_nan_in_an_ndjson_row_is_a_row_error(client):
    import io
    row = (b'{"event_type": "track", "user_id": "u1", "event_name": "e", "source": "backend-http", '
           b'"inserted_at": "2024-07-28 08:55:35", "metadata": {"score": NaN}}\n')
    response = client.post("/v1/imports", headers=auth(), content_type="multipart/form-data",
                           data={"file": (io.BytesIO(row), "events.ndjson")})
    assert response.status_code == 200
    job_id = response.get_json()["job_id"]
    client.post("/__admin/clock", json={"advance_seconds": 3600})
    job = client.get(f"/__admin/jobs/{job_id}").get_json()
    assert job["status"] == "failed"
    assert "NaN" in job["errors"][0]["problem"]
