"""createImport: uploads, their jobs, and every refusal (in-process on a
frozen clock; a real waitress server where the transport matters)."""
from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from mock_server import MockServer, create_app
from mock_server.times import parse_instant
from mock_server.families.imports.models import (MAX_FILE_BYTES, MAX_LINE_BYTES, MAX_REPORTED_ERRORS,
                                         example_rows, parse_inserted_at, validate_event)
from mock_server.backend.lifecycle import PHASES
from mock_server.invariants import job_problems

from .conftest import KEY, NOW, OTHER_KEY, auth, error_item


FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "imports"
T0 = parse_instant(NOW)
VALID = {  # fixture -> rows
    "identify_user.csv": 3, "identify_user.ndjson": 4,
    "identify_company.csv": 3, "identify_company.ndjson": 3,
    "page_view.csv": 3, "page_view.ndjson": 3,
    "track.csv": 3, "track.ndjson": 3,
    "events.csv": 4, "events.ndjson": 4,
}


def upload(client, content: bytes, filename: str = "events.csv", key: str = KEY):
    return client.post("/v1/imports", headers=auth(key), data={"file": (io.BytesIO(content), filename)})


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def admin_jobs(client, key: str = KEY) -> list:
    return client.get("/__admin/jobs", query_string={"api_key": key}).get_json()


def imports_of(client, key: str = KEY) -> list:
    return [j for j in admin_jobs(client, key) if j["type"] == "import"]


def advance(client, seconds: float) -> None:
    assert client.post("/__admin/clock", json={"advance_seconds": seconds}).status_code == 200


def settle(client, key: str = KEY) -> None:
    """Advance the clock past the end of every job of the app."""
    ends = [max(parse_instant(at) for at in j["timeline"].values()) for j in admin_jobs(client, key)]
    now = parse_instant(client.get("/__admin/clock").get_json()["now"])
    advance(client, max([0.0] + [end - now + 1 for end in ends]))


# -- accepted uploads ----------------------------------------------------------

@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_fixture_creates_a_queued_job(client, name):
    content = fixture(name)
    before = client.get("/v1/background_jobs", headers=auth()).get_json()
    response = upload(client, content, name)
    assert response.status_code == 200, response.get_json()
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    job = response.get_json()
    assert job["status"] == "queued" and job["type"] == "import"
    assert job["filename"] == name
    assert job["file_size"] == len(content)
    assert job["total_rows"] == VALID[name]
    assert job["completed_rows"] == 0 and job["end_time"] is None
    assert job["start_time"] == NOW
    assert job_problems(job, T0, detail=True) == []
    listed = client.get("/v1/background_jobs", headers=auth()).get_json()
    assert listed[0] == {k: v for k, v in job.items() if k != "completed_rows"}
    assert listed[1:] == before
    single = client.get(f"/v1/background_jobs/{job['job_id']}", headers=auth())
    assert single.get_json() == job
    settle(client)
    done = client.get(f"/v1/background_jobs/{job['job_id']}", headers=auth()).get_json()
    assert done["status"] == "completed" and done["completed_rows"] == VALID[name]
    assert "errors" not in client.get(f"/__admin/jobs/{job['job_id']}").get_json()


@pytest.mark.parametrize("name", ["EVENTS.CSV", "events.jsonl", "Events.NDJSON"])
def test_extensions_are_case_insensitive_and_jsonl_is_ndjson(client, name):
    content = fixture("events.csv" if name.lower().endswith("csv") else "events.ndjson")
    response = upload(client, content, name)
    assert response.status_code == 200 and response.get_json()["total_rows"] == 4


def test_filename_keeps_only_the_base_name(client):
    response = upload(client, fixture("events.csv"), "C:\\Users\\me\\exports/events.csv")
    assert response.get_json()["filename"] == "events.csv"


def test_extra_parts_are_ignored(client):
    response = client.post("/v1/imports", headers=auth(), data={
        "note": "hello", "other": (io.BytesIO(b"ignored"), "notes.txt"),
        "file": (io.BytesIO(fixture("events.ndjson")), "events.ndjson")})
    assert response.status_code == 200 and response.get_json()["total_rows"] == 4


def test_csv_variants_bom_crlf_blank_lines_and_quoted_newlines(client):
    content = ("\ufeffevent_type,user_id,event_name,source,inserted_at,metadata\r\n"
               "track,u1,Clicked,backend-http,2024-07-28 08:00:00,\r\n"
               "\r\n"
               'track,u2,"Multi\r\nline",backend-http,2024-07-28 08:00:01,"{""a"": 1}"\r\n'
               "track,u3,Clicked,backend-http,2024-07-28 08:00:02,\r\n").encode()
    response = upload(client, content, "v.csv")
    assert response.status_code == 200 and response.get_json()["total_rows"] == 3


def test_ndjson_blank_lines_are_skipped(client):
    content = b"\n" + fixture("track.ndjson").replace(b"\n", b"\n\n") + b"   \n"
    assert upload(client, content, "t.ndjson").get_json()["total_rows"] == 3


# -- lifecycle -----------------------------------------------------------------

def test_job_moves_through_every_status_at_1200_rows_per_minute(client):
    content = "".join(example_rows(10_000, "csv")).encode()
    job = upload(client, content, "big.csv").get_json()
    assert (job["status"], job["total_rows"], job["file_size"]) == ("queued", 10_000, len(content))
    timeline = client.get(f"/__admin/jobs/{job['job_id']}").get_json()["timeline"]
    assert list(timeline) == list(PHASES) + ["completed"]
    starts = {phase: parse_instant(at) for phase, at in timeline.items()}
    assert starts["pending_refresh"] - starts["processing"] == 500  # 10,000 rows / 1,200 per minute
    seen, rows = [], []
    t = T0
    for _ in range(1000):
        current = client.get(f"/v1/background_jobs/{job['job_id']}", headers=auth()).get_json()
        assert job_problems(current, t, detail=True) == []
        if not seen or seen[-1] != current["status"]:
            seen.append(current["status"])
        rows.append(current["completed_rows"])
        if current["status"] == "completed":
            break
        advance(client, 7)
        t += 7
    assert seen == list(PHASES) + ["completed"]
    assert rows == sorted(rows) and rows[-1] == 10_000 and len(set(rows)) > 50
    assert current["elapsed_time"] == starts["completed"] - starts["queued"]
    assert 500 < current["elapsed_time"] < 500 + 300


def test_bad_rows_fail_at_validating_with_reasons_by_line(client):
    job = upload(client, fixture("invalid_rows.ndjson"), "invalid_rows.ndjson").get_json()
    assert job["status"] == "queued" and job["total_rows"] == 8
    admin = client.get(f"/__admin/jobs/{job['job_id']}").get_json()
    assert list(admin["timeline"]) == ["queued", "validating", "failed"]
    assert admin["error_count"] == 10
    assert [(e["line"], e["field"]) for e in admin["errors"]] == [
        (2, "user_id"), (3, "source"), (4, "inserted_at"), (4, "pathname"), (5, "metadata"),
        (5, "event_name"), (6, "event_type"), (7, None), (9, "hostname"), (9, "user_agent")]
    assert all(set(e) == {"line", "field", "problem"} and e["problem"] for e in admin["errors"])
    assert "fax-machine" in admin["errors"][1]["problem"]
    assert admin["errors"][7]["problem"].startswith("not valid JSON")
    public = client.get(f"/v1/background_jobs/{job['job_id']}", headers=auth()).get_json()
    assert "errors" not in public
    settle(client)
    public = client.get(f"/v1/background_jobs/{job['job_id']}", headers=auth()).get_json()
    assert public["status"] == "failed" and public["completed_rows"] == 0
    assert job_problems(public, None, detail=True) == []


def test_bad_csv_rows_fail_with_reasons_by_line(client):
    job = upload(client, fixture("invalid_rows.csv"), "invalid_rows.csv").get_json()
    admin = client.get(f"/__admin/jobs/{job['job_id']}").get_json()
    assert job["total_rows"] == 7 and admin["error_count"] == 8
    assert [(e["line"], e["field"]) for e in admin["errors"]] == [
        (3, "user_id"), (4, "source"), (5, "inserted_at"), (5, "pathname"), (6, "metadata"),
        (6, "event_name"), (7, "event_type"), (8, None)]
    assert "has 7 fields" in admin["errors"][-1]["problem"]


def test_only_the_first_100_errors_are_kept_and_all_counted(client):
    good = fixture("track.ndjson")
    content = good + b"{}\n" * 150  # each: event_type, source, inserted_at missing
    job = upload(client, content, "many.ndjson").get_json()
    admin = client.get(f"/__admin/jobs/{job['job_id']}").get_json()
    assert admin["error_count"] == 450 and len(admin["errors"]) == MAX_REPORTED_ERRORS
    assert admin["errors"][0] == {"line": 4, "field": "event_type", "problem": "missing"}


def test_csv_line_numbers_follow_multiline_records(client):
    content = ("event_type,user_id,event_name,source,inserted_at\n"
               'track,u1,"two\nlines",backend-http,2024-07-28 08:00:00\n'
               "track,u2,,backend-http,2024-07-28 08:00:01\n").encode()
    admin = client.get(f"/__admin/jobs/{upload(client, content, 'm.csv').get_json()['job_id']}").get_json()
    assert admin["errors"] == [{"line": 4, "field": "event_name", "problem": "missing"}]


def test_csv_header_problems(client):
    content = ("event_type,user_id,user_id,event_name,source,inserted_at\n"
               "track,u1,u1,Clicked,backend-http,2024-07-28 08:00:00\n").encode()
    admin = client.get(f"/__admin/jobs/{upload(client, content, 'h.csv').get_json()['job_id']}").get_json()
    assert admin["errors"] == [{"line": 1, "field": "user_id", "problem": "duplicate column"}]


def test_overlong_lines_and_deep_json_are_bad_rows_not_crashes(client):
    content = (fixture("track.ndjson") + b'{"x": "' + b"a" * (MAX_LINE_BYTES + 10) + b'"}\n'
               + b"[" * 100_000 + b"\n" + b'{"n": ' + b"9" * 10_000 + b"}\n")
    response = upload(client, content, "odd.ndjson")
    assert response.status_code == 200
    admin = client.get(f"/__admin/jobs/{response.get_json()['job_id']}").get_json()
    assert response.get_json()["total_rows"] == 6
    assert [(e["line"], e["field"]) for e in admin["errors"]] == [(4, None), (5, None), (6, None)]
    assert "longer than" in admin["errors"][0]["problem"]
    long_csv = b"event_type,metadata\ntrack,\"" + b"x" * 200_000 + b"\"\n"
    response = upload(client, long_csv, "odd.csv", key=OTHER_KEY)
    assert response.status_code == 200
    admin = client.get(f"/__admin/jobs/{response.get_json()['job_id']}").get_json()
    assert admin["errors"][0]["line"] == 2 and "CSV" in admin["errors"][0]["problem"]


# -- one import at a time --------------------------------------------------------

def test_second_upload_is_409_until_the_first_is_terminal(client):
    first = upload(client, fixture("events.csv")).get_json()
    count = len(admin_jobs(client))
    response = upload(client, fixture("events.ndjson"), "events.ndjson")
    assert response.status_code == 409
    item = error_item(response)
    assert item["message"] == "Import job already in progress" and first["job_id"] in item["details"]
    assert len(admin_jobs(client)) == count
    assert upload(client, fixture("events.ndjson"), "events.ndjson", key=OTHER_KEY).status_code == 200
    settle(client)
    assert upload(client, fixture("events.ndjson"), "events.ndjson").status_code == 200


def test_a_failed_import_frees_the_app_too(client):
    upload(client, fixture("invalid_rows.csv"), "invalid_rows.csv")
    assert upload(client, fixture("events.csv")).status_code == 409
    settle(client)
    assert upload(client, fixture("events.csv")).status_code == 200


def test_an_import_added_through_the_control_api_blocks_uploads(client):
    client.post("/__admin/jobs", json={"api_key": KEY, "type": "import", "total_rows": 100})
    assert upload(client, fixture("events.csv")).status_code == 409
    client.post("/__admin/jobs", json={"api_key": OTHER_KEY, "type": "export", "total_rows": 100})
    assert upload(client, fixture("events.csv"), key=OTHER_KEY).status_code == 200


def test_409_comes_before_reading_the_body(client):
    upload(client, fixture("events.csv"))
    response = client.post("/v1/imports", headers=auth(), data=b"not multipart")
    assert response.status_code == 409


# -- refusals ---------------------------------------------------------------------

BOUNDARY = "b0undary"


def multipart(*parts: bytes, boundary: str = BOUNDARY) -> bytes:
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    return body + b"--" + boundary.encode() + b"--\r\n"


def file_part(content: bytes, filename: str = "events.csv", name: str = "file") -> bytes:
    return (f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: text/csv\r\n\r\n").encode() + content


MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
EVENTS = (FIXTURES / "events.csv").read_bytes()
REFUSALS = {
    # name: (content type, body, status, error_code or None)
    "json body": ("application/json", b'{"file": "events.csv"}', 400, "not_multipart"),
    "urlencoded": ("application/x-www-form-urlencoded", b"file=events.csv", 400, "not_multipart"),
    "no content type": (None, EVENTS, 400, "not_multipart"),
    "no boundary": ("multipart/form-data", multipart(file_part(EVENTS)), 400, "not_multipart"),
    "non-ascii boundary": ("multipart/form-data; boundary=é", b"x", 400, "not_multipart"),
    "no body": (MULTIPART, b"", 400, "bad_multipart"),
    "garbage": (MULTIPART, b"\x00\xffgarbage" * 100, 400, "bad_multipart"),
    "big garbage": (MULTIPART, b"x" * 300_000, 400, "bad_multipart"),
    "wrong boundary": (MULTIPART, multipart(file_part(EVENTS), boundary="other"), 400, "bad_multipart"),
    "truncated": (MULTIPART, multipart(file_part(EVENTS))[:-40], 400, "bad_multipart"),
    "no disposition": (MULTIPART, multipart(b"Content-Type: text/csv\r\n\r\n" + EVENTS), 400, "bad_multipart"),
    "non-utf8 part header": (MULTIPART, multipart(b"Content-Disposition: form-data; name=\"f\xff\"\r\n\r\nx"),
                             400, "bad_multipart"),
    "too many parts": (MULTIPART, multipart(*[b'Content-Disposition: form-data; name="x"\r\n\r\n1'] * 20),
                       400, "bad_multipart"),
    "empty multipart": (MULTIPART, b"--" + BOUNDARY.encode() + b"--\r\n", 400, "no_file"),
    "no file part": (MULTIPART, multipart(file_part(EVENTS, name="upload")), 400, "no_file"),
    "file as text field": (MULTIPART, multipart(b'Content-Disposition: form-data; name="file"\r\n\r\n' + EVENTS),
                           400, "no_file"),
    "empty file name": (MULTIPART, multipart(file_part(EVENTS, filename="")), 400, None),
    "two file parts": (MULTIPART, multipart(file_part(EVENTS), file_part(EVENTS)), 400, None),
    "empty file": (MULTIPART, multipart(file_part(b"")), 400, "empty_file"),
    "header only": (MULTIPART, multipart(file_part(b"event_type,user_id\n")), 400, None),
    "blank lines only": (MULTIPART, multipart(file_part(b"\n\n  \n", "e.ndjson")), 400, None),
    "not utf-8": (MULTIPART, multipart(file_part((FIXTURES / "not_utf8.csv").read_bytes())), 400, None),
    "utf-16": (MULTIPART, multipart(file_part(EVENTS.decode().encode("utf-16"))), 400, None),
    "binary": (MULTIPART, multipart(file_part(bytes(range(256)) * 10, "x.ndjson")), 400, None),
    "unknown extension": (MULTIPART, multipart(file_part(EVENTS, "events.txt")), 415, "unsupported_file_type"),
    "no extension": (MULTIPART, multipart(file_part(EVENTS, "events")), 415, "unsupported_file_type"),
    "xlsx": (MULTIPART, multipart(file_part(b"PK\x03\x04", "events.xlsx")), 415, "unsupported_file_type"),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_refused_uploads_are_4xx_in_the_error_shape_and_create_no_job(client, name):
    content_type, body, status, code = REFUSALS[name]
    before = admin_jobs(client)
    headers = auth()
    if content_type:
        headers["Content-Type"] = content_type
    response = client.post("/v1/imports", headers=headers, input_stream=io.BytesIO(body),
                           content_length=len(body))
    assert response.status_code == status, response.get_json()
    item = error_item(response)
    if code:
        assert item["error_code"] == code
    assert admin_jobs(client) == before
    assert KEY not in response.get_data(as_text=True)
    assert upload(client, EVENTS).status_code == 200  # nothing was left half-done


def test_fixture_refusals(client):
    before = imports_of(client)
    for name, status in (("empty.csv", 400), ("not_utf8.csv", 400), ("events.txt", 415)):
        response = upload(client, fixture(name), name)
        assert response.status_code == status, name
        error_item(response)
    assert imports_of(client) == before


def test_unauthenticated_upload_is_401(client):
    response = client.post("/v1/imports", data={"file": (io.BytesIO(EVENTS), "events.csv")})
    assert response.status_code == 401
    error_item(response)


def test_content_length_over_the_limit_is_413_before_reading(app):
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Response
    environ = EnvironBuilder(path="/v1/imports", method="POST", headers=auth(), content_type=MULTIPART,
                             input_stream=io.BytesIO(b"never read")).get_environ()
    environ["CONTENT_LENGTH"] = str(MAX_FILE_BYTES + 10**6)
    response = Response.from_app(app, environ)
    assert response.status_code == 413
    assert json.loads(response.get_data())["errors"][0]["error_code"] == "file_too_large"
    assert environ["wsgi.input"].read() == b"never read"


# -- through a real server ---------------------------------------------------------

@pytest.fixture(scope="module")
def server(server_kind):
    with MockServer(seed=3, now=NOW, frozen=True, jobs=0, server=server_kind) as running:
        yield running


def test_real_server_upload_poll_until_completed(server):
    import requests
    key = "real-server-key"
    content = "".join(example_rows(10_000, "ndjson")).encode()
    response = requests.post(server.url + "/v1/imports", headers=auth(key),
                             files={"file": ("events.ndjson", content)}, timeout=30)
    assert response.status_code == 200, response.text
    job = response.json()
    assert (job["status"], job["total_rows"], job["file_size"]) == ("queued", 10_000, len(content))
    assert job["links"] == f"{server.url}/v1/background_jobs/{job['job_id']}"
    assert requests.post(server.url + "/v1/imports", headers=auth(key), timeout=30,
                         files={"file": ("e.csv", EVENTS)}).status_code == 409
    other = requests.post(server.url + "/v1/imports", headers=auth(key + "-other"), timeout=30,
                          files={"file": ("e.csv", EVENTS)})
    assert other.status_code == 200
    statuses = []
    for _ in range(200):
        current = requests.get(f"{server.url}/v1/background_jobs/{job['job_id']}", headers=auth(key),
                               timeout=30).json()
        if not statuses or statuses[-1] != current["status"]:
            statuses.append(current["status"])
        if current["status"] == "completed":
            break
        requests.post(server.url + "/__admin/clock", json={"advance_seconds": 10}, timeout=30)
    assert statuses == list(PHASES) + ["completed"]
    assert current["completed_rows"] == 10_000
    assert 500 <= current["elapsed_time"] <= 500 + 300


def test_real_server_chunked_upload(server):
    import requests
    body = multipart(file_part(EVENTS))
    response = requests.post(server.url + "/v1/imports", data=iter([body[:100], body[100:]]), timeout=30,
                             headers={**auth("chunked-key"), "Content-Type": MULTIPART})
    assert response.status_code == 200, response.text
    assert response.json()["total_rows"] == 4


@pytest.mark.slow
def test_real_server_file_over_50_mib_is_413_from_the_app(server):
    import requests
    key = "big-key"
    body = multipart(file_part(b"a" * (MAX_FILE_BYTES + 1)))
    response = requests.post(server.url + "/v1/imports", data=body, timeout=60,
                             headers={**auth(key), "Content-Type": MULTIPART})
    assert response.status_code == 413
    assert response.json()["errors"][0]["error_code"] == "file_too_large"
    assert "Cowboy" == response.headers["server"]
    jobs = requests.get(server.url + "/__admin/jobs", params={"api_key": key}, timeout=30).json()
    assert [j for j in jobs if j["type"] == "import"] == []


def test_concurrent_uploads_create_exactly_one_job(server):
    import requests
    key = "concurrent-key"
    body = multipart(file_part("".join(example_rows(2000, "csv")).encode()))
    barrier = threading.Barrier(8)
    codes = []

    def send():
        barrier.wait()
        response = requests.post(server.url + "/v1/imports", data=body, timeout=60,
                                 headers={**auth(key), "Content-Type": MULTIPART})
        codes.append(response.status_code)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [200] + [409] * 7
    jobs = requests.get(server.url + "/__admin/jobs", params={"api_key": key}, timeout=30).json()
    assert len([j for j in jobs if j["type"] == "import"]) == 1


@pytest.mark.slow
def test_a_50_mib_upload_raises_peak_memory_by_at_most_10_mb():
    """Runs bench/import_memory.py: a real server in a subprocess, peak RSS
    before and after uploading a file just under 50 MiB (rows padded to
    16 KB so that validation is quick; the bench's default, small rows, is
    the slower, fuller run)."""
    import subprocess
    import sys
    script = Path(__file__).resolve().parent.parent / "bench" / "import_memory.py"
    result = subprocess.run([sys.executable, str(script), "--size-mib", "50", "--max-mb", "10",
                             "--pad", "16000"],
                            capture_output=True, text=True, timeout=300)
    report = json.loads(result.stdout.strip().splitlines()[-1]) if result.stdout.strip() else {}
    assert result.returncode == 0, (report, result.stderr[-2000:])
    assert report["status"] == 200 and report["peak_growth_mb"] <= 10
    assert MAX_FILE_BYTES - 20_000 < report["file_size"] <= MAX_FILE_BYTES  # one padded row short at most


# -- rules, unit level --------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "2024-07-28 08:55:35.874555", "2024-07-28T08:55:35Z", "2024-07-28T08:55:35.1Z",
    "2024-07-28T08:55:35+02:00", "2024-07-28T08:55:35-0530", "2024-07-28T08:55:35+02",
    "2024-07-28t08:55:35z", "2024-07-28 08:55", "2024-07-28T08:55:35.123456789",
    "2024-07-28T08:55:35,5", "2024-02-29T00:00:00"])
def test_inserted_at_accepts_iso_8601_forms(text):
    assert parse_inserted_at(text) is not None


@pytest.mark.parametrize("text", [
    "", "yesterday", "2024-07-28", "28/07/2024 08:55", "2024-13-01T00:00:00", "2023-02-29T00:00:00",
    "2024-07-28T25:00:00", "2024-07-28T08:55:35+24:00", "2024-07-28T08:55:35 UTC", "1722156935",
    "2024-07-28T08:55:35.Z", "2024-07-28T08:55:35.1234567890", "2024-07-28T08:55:35+02:00junk"])
def test_inserted_at_refuses_other_text(text):
    assert parse_inserted_at(text) is None


def test_inserted_at_offsets_and_no_zone_mean_utc():
    assert parse_inserted_at("2024-07-28 10:55:35+02:00") == parse_inserted_at("2024-07-28T08:55:35Z")
    assert parse_inserted_at("2024-07-28 08:55:35") == parse_inserted_at("2024-07-28T08:55:35Z")


BASE = {"source": "backend-http", "inserted_at": "2024-07-28 08:55:35"}


@pytest.mark.parametrize("event, problems", [
    ({"event_type": "identify_user", "user_id": "u"}, []),  # metadata missing: becomes {}
    ({"event_type": "identify_user", "user_id": "u", "metadata": None}, []),
    ({"event_type": "identify_user", "user_id": "u", "metadata": []}, ["metadata"]),
    ({"event_type": "identify_user", "user_id": " "}, ["user_id"]),
    ({"event_type": "identify_user", "user_id": 42}, ["user_id"]),
    ({"event_type": "identify_company"}, ["company_id"]),
    ({"event_type": "page_view", "user_id": "u"}, ["hostname", "pathname"]),
    ({"event_type": "page_view", "user_id": "u", "url": "https://a.example/x"}, []),
    ({"event_type": "page_view", "user_id": "u", "url": "not a url"}, ["url"]),
    ({"event_type": "track", "user_id": "u"}, ["event_name"]),
    ({"event_type": "track", "user_id": "u", "event_name": "e", "source": "web-client"},
     ["hostname", "pathname", "user_agent"]),
    ({"event_type": "track", "user_id": "u", "event_name": "e", "source": "web-client",
      "url": "https://a.example/", "user_agent": "UA"}, []),
    ({"event_type": "identify_company", "company_id": "c", "source": "web-client"}, []),
    ({"event_type": "nope"}, ["event_type"]),
    ({"event_type": "track", "user_id": "u", "event_name": "e", "source": "email"}, ["source"]),
    ({"event_type": "track", "user_id": "u", "event_name": "e", "inserted_at": 1722156935}, ["inserted_at"]),
    ({}, ["event_type", "source", "inserted_at"]),
])
def test_event_rules(event, problems):
    event = {**({} if event == {} else BASE), **event}
    assert [name for name, _ in validate_event(event)] == problems


# -- never a 5xx ----------------------------------------------------------------------

@pytest.mark.slow
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=400), filename=st.sampled_from(["a.csv", "a.ndjson", "a.jsonl", "a.bin"]))
def test_any_file_content_is_a_job_or_a_4xx(content, filename):
    client = create_app(seed=1, now=NOW, frozen=True, jobs=0).test_client()
    response = upload(client, content, filename)
    assert response.status_code in (200, 400, 415), response.get_data()
    if response.status_code != 200:
        error_item(response)
        assert admin_jobs(client) == []


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(body=st.one_of(
    st.binary(max_size=300),
    st.lists(st.sampled_from([b"--" + BOUNDARY.encode(), b"\r\n", b"\n", b"--", b"Content-Disposition: form-data",
                              b'; name="file"', b'; filename="a.csv"', b"; filename*=UTF-8''%C3%A9.csv",
                              b"Content-Type: text/csv", b"event_type,user_id\n", b"\xff", b"\r\n\r\n",
                              EVENTS]), max_size=25).map(b"".join)))
def test_any_multipart_body_is_a_job_or_a_4xx(body):
    client = create_app(seed=1, now=NOW, frozen=True, jobs=0).test_client()
    response = client.post("/v1/imports", data=body, headers={**auth(), "Content-Type": MULTIPART})
    assert 200 <= response.status_code < 500 and response.status_code != 500, response.get_data()
    if response.status_code != 200:
        error_item(response)
        assert admin_jobs(client) == []


def test_an_app_forgotten_during_the_upload_gets_the_job(app, client):
    from mock_server.families.imports.models import ImportReport, create_import
    backend = app.extensions["userpilot"].backend
    stale = backend.authenticate(KEY)
    client.post("/__admin/reset", json={})
    report = ImportReport(total_rows=3)
    job = create_import(backend, stale, "events.csv", 100, report)
    assert job.job_id in [j["job_id"] for j in client.get("/v1/background_jobs", headers=auth()).get_json()]
