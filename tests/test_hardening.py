"""Regression tests for hostile input found by trying the fake as a new user."""
from __future__ import annotations

import io

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
def test_cli_names_the_bad_option(monkeypatch, args, option):
    """In-process (click's runner; a subprocess per case cost ~1.5 s each): a
    usage error naming the option, before anything serves."""
    from click.testing import CliRunner

    from mock_server.cli import main
    monkeypatch.setattr("mock_server.server.run_server", lambda server: server.close())
    result = CliRunner().invoke(main, ["serve", "--port", "0", *args])
    assert result.exit_code == 2, result.output
    assert option in result.output and "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_admin_without_slash_is_the_index(client):
    response = client.get("/__admin")
    assert response.status_code == 200 and "endpoints" in response.get_json()


def test_status_lines_are_written_as_cowboy_writes_them(client):
    assert client.get("/v1/background_jobs").status == "401 Unauthorized"
    assert client.delete("/v1/background_jobs").status == "405 Method Not Allowed"
    assert client.get("/v1/background_jobs", headers=auth()).status == "200 OK"


def test_nan_in_an_ndjson_row_is_a_row_error(client):
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


# -- issue 12: inputs that got a wrong or misleading answer ------------------------------------------------------

@pytest.mark.parametrize("media_type", ["Multipart/Form-Data", "MULTIPART/FORM-DATA"])
def test_media_types_are_case_insensitive(client, media_type):
    from werkzeug.test import EnvironBuilder
    built = EnvironBuilder(method="POST", data={"file": (io.BytesIO(b'{"event_type": "track", "user_id": "u", '
                                                                    b'"event_name": "e", "source": "backend-http", '
                                                                    b'"inserted_at": "2024-07-28 08:55:35"}\n'),
                                                         "e.ndjson")})
    environ = built.get_environ()
    body, content_type = environ["wsgi.input"].read(), environ["CONTENT_TYPE"]
    response = client.post("/v1/imports", data=body, headers={
        **auth(), "Content-Type": content_type.replace("multipart/form-data", media_type)})
    assert response.status_code == 200, response.get_json()
    assert client.get("/__admin/requests").get_json()[-1]["violations"] == []


@pytest.mark.parametrize("values", [["Token a", "Token b"], ["Token a", "Token a"], ["Token a", "Bearer b"],
                                    ["Token a", ""], ["", "Token a"], ["Token a", "b"]])
def test_a_repeated_authorization_header_is_a_400_naming_it_and_journaled(values):
    """The WSGI server joins repeated headers with ", " (waitress, Werkzeug):
    the joined value must not become another app or a misleading 401."""
    client = create_app(seed=1, api_keys=["a"]).test_client()
    response = client.get("/v1/background_jobs", headers=[("Authorization", v) for v in values])
    assert response.status_code == 400
    item = error_item(response)
    assert item["error_code"] == "repeated_authorization" and "Authorization" in item["message"]
    (entry,) = client.get("/__admin/requests").get_json()
    assert entry["status"] == 400 and entry["app_token"] is None
    assert [(v["location"], v["name"]) for v in entry["violations"]] == [("header", "Authorization")]
    assert "more than once" in entry["violations"][0]["message"]
    assert client.application.extensions["userpilot"].backend.apps == {}


def test_a_repeated_authorization_header_over_waitress_is_a_400():
    import socket

    from mock_server import MockServer
    with MockServer(seed=1) as server, socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /v1/background_jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token a\r\n"
                     b"Authorization: Token b\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 ") and b"repeated_authorization" in answer


@pytest.mark.parametrize("value", ["Token abc,def", "Token a=b", "token  spaced-key ", "Token k:with:colons"])
def test_one_authorization_header_is_never_read_as_repeated(client, value):
    assert client.get("/v1/background_jobs", headers={"Authorization": value}).status_code == 200


@pytest.mark.parametrize("value", ["O{Y,", ",j", "Basic a, Basic b", "x, y"])
def test_a_value_with_no_token_credential_stays_a_401(client, value):
    """What Schemathesis generates for the apiKey header (found by the contract
    kit's positive_data_acceptance): no Token in it, so it names no app either
    way; the documented 401, not a 400."""
    response = client.get("/api/v1/analytics/exports/lookups/flows", headers={"Authorization": value})
    assert response.status_code == 401 and error_item(response)["error_code"] == "invalid_authorization"


def test_the_access_log_escapes_control_characters_in_every_field(client, caplog):
    import logging
    caplog.set_level(logging.INFO, logger="userpilot_mock.access")
    client.get("/v1/x%0d%0a2026-01-01 00:00:00 127.0.0.1 GET /forged 200 - 1.0ms%1b[31m", headers=auth())
    client.get("/__admin/clock%0a%e2%80%a8x%c2%9b")
    client.open("/v1/background_jobs", method="GE\x1bT")
    messages = [r.getMessage() for r in caplog.records if r.name == "userpilot_mock.access"]
    assert len(messages) == 3
    for message in messages:
        assert not any(ord(c) < 32 or 0x7f <= ord(c) <= 0x9f or c in "\u2028\u2029" for c in message), message
    assert "\\x0d\\x0a2026-01-01" in messages[0] and "\\x1b[31m" in messages[0]
    assert "\\x0a\\u2028x\\x9b" in messages[1] and "GE\\x1bT" in messages[2]


@pytest.mark.parametrize("end", [b"\r", b"\r\n", b"\n"])
def test_a_bulk_ndjson_file_splits_rows_on_cr_crlf_and_lf_alike(client, end):
    """The bulk identify file reads lines as the import does."""
    rows = end.join(b'{"user_id": "u%d", "metadata": {"name": "n"}}' % i for i in range(3)) + end
    response = client.post("/v1/users/bulk_identify", headers=auth(),
                           data={"file": (io.BytesIO(rows), "users.ndjson")})
    assert response.status_code == 202, response.get_json()
    job = client.get(f"/__admin/jobs/{response.get_json()['job_id']}").get_json()
    assert job["total_rows"] == 3


@pytest.mark.parametrize("media_type", ["Multipart/Form-Data", "MULTIPART/FORM-DATA"])
def test_bulk_multipart_media_types_are_case_insensitive(client, media_type):
    from werkzeug.test import EnvironBuilder
    environ = EnvironBuilder(method="POST", data={"file": (io.BytesIO(b'{"user_id": "u1", "metadata": {"n": 1}}\n'),
                                                           "u.ndjson")}).get_environ()
    body, content_type = environ["wsgi.input"].read(), environ["CONTENT_TYPE"]
    response = client.post("/v1/users/bulk_identify", data=body, headers={
        **auth(), "Content-Type": content_type.replace("multipart/form-data", media_type)})
    assert response.status_code == 202, response.get_json()


@pytest.mark.parametrize("media_type", ["Application/JSON", "APPLICATION/JSON; Charset=UTF-8"])
def test_json_media_types_are_case_insensitive_on_every_operation(client, media_type):
    headers = {**auth(), "Content-Type": media_type}
    for path, body, status in (("/v1/companies/bulk_identify", b'{"companies": [{"company_id": "c"}]}', 202),
                               ("/api/v1/analytics/exports", b"{}", 201),
                               ("/v1/track", b'{"user_id": "u", "event_name": "e"}', 202)):
        response = client.post(path, data=body, headers=headers)
        assert response.status_code == status, (path, response.get_json())
    assert all(e["violations"] == [] for e in client.get("/__admin/requests").get_json())
