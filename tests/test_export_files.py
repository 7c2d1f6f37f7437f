"""Export files: the presigned download URLs, every format, the expiry, and
the bounded memory of a large download."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from mock_server import create_app
from mock_server.backend import jobtypes
from mock_server.backend.activity import COLUMNS, EVENT_TYPES
from mock_server.families.exports import models
from mock_server.times import parse_instant

from .conftest import KEY, NOW, OTHER_KEY, auth, error_item
from .test_exports import JOBS, TRIGGER, advance, finish, now

T0 = parse_instant(NOW)
DAY = 86_400
MICROS = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$"


def local(url: str) -> str:
    """The path and query of a download URL (the test client has no host)."""
    parts = urlsplit(url)
    assert parts.scheme == "http" and parts.netloc == "localhost"
    return parts.path + "?" + parts.query


def parse(fmt: str, data: bytes) -> list[dict]:
    """The events of one export file, as dicts of the export event schema's columns."""
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
        assert tuple(rows[0]) == COLUMNS
        return [dict(zip(COLUMNS, r)) for r in rows[1:]]
    if fmt == "ndjson":
        return [json.loads(line) for line in data.decode("utf-8").splitlines()]
    if fmt == "parquet":
        pq = pytest.importorskip("pyarrow.parquet")
        table = pq.read_table(io.BytesIO(data))
        assert tuple(table.column_names) == COLUMNS
        return table.to_pylist()
    fastavro = pytest.importorskip("fastavro")
    return list(fastavro.reader(io.BytesIO(data)))


def completed_export(client, key: str = KEY, **filters) -> dict:
    answer = client.post(TRIGGER, headers=auth(key), json=filters)
    assert answer.status_code == 201, answer.get_json()
    return finish(client, answer.get_json()["job_id"])


def download(client, job: dict) -> list[bytes]:
    out = []
    for item in job["presigned_urls"]:
        response = client.get(local(item["url"]))
        assert response.status_code == 200, response.get_data()
        out.append(response.get_data())
    return out


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "parquet", "avro"])
def test_every_format_downloads_the_filtered_events_in_time_order(client, fmt):
    if fmt in jobtypes.FORMAT_LIBRARIES:
        pytest.importorskip(jobtypes.FORMAT_LIBRARIES[fmt][0])
    job = completed_export(client, format=fmt, event_type=["track", "interaction"], **{"from": "2026-11-15"})
    files = download(client, job)
    events = [e for data in files for e in parse(fmt, data)]
    total = client.get(f"/__admin/jobs/{job['job_id']}").get_json()["total_rows"]
    assert len(events) == total > 0
    assert {e["event_type"] for e in events} == {"track", "interaction"}
    token = job["app_token"]
    assert {e["app_token"] for e in events} == {token}
    if fmt in ("csv", "ndjson"):
        stamps = [e["inserted_at"] for e in events]
        assert all(__import__("re").match(MICROS, s) for s in stamps)
        assert stamps == sorted(stamps) and stamps[0] >= "2026-11-15T00:00:00" and stamps[-1] < NOW
        meta = [e["metadata"] if fmt == "ndjson" else json.loads(e["metadata"]) for e in events]
        assert all(isinstance(m, dict) for m in meta)
        names = [e["event_name"] for e in events if e["event_type"] == "interaction"]
        assert names and all(__import__("re").fullmatch(r"(experience|checklist|banner|spotlight|survey):\d+:"
                                                        r"(SEEN|COMPLETED|DISMISSED)", n) for n in names)


def test_files_carry_every_event_type_sources_and_auto_captured_fields(client):
    job = completed_export(client, format="ndjson")
    events = parse("ndjson", download(client, job)[0])
    assert {e["event_type"] for e in events} == set(EVENT_TYPES)
    assert "web-client" in {e["source"] for e in events}
    web = next(e for e in events if e["source"] == "web-client")
    for name in ("hostname", "pathname", "screen_width", "screen_height", "device_type", "user_agent",
                 "operating_system", "browser", "browser_language", "session", "country_code"):
        assert web[name] not in (None, ""), name
    assert isinstance(web["screen_width"], int)
    assert all(e["event_name"] is None for e in events if e["event_type"] in ("page_view", "session_start",
                                                                                "identify_user", "identify_company"))
    assert all(e["user_id"] is None and e["company_id"] for e in events if e["event_type"] == "identify_company")


def test_a_large_export_is_split_into_chunks(client, monkeypatch):
    monkeypatch.setattr(models, "CHUNK_EVENTS", 1000)
    made = client.post("/__admin/jobs", json={"api_key": KEY, "type": "export", "total_rows": 2500,
                                              "format": "csv"}).get_json()
    job = finish(client, made["job_id"])
    assert job["all_chunks"] == job["completed_chunks"] == ["part1", "part2", "part3"]
    files = download(client, job)
    counts = [len(parse("csv", data)) for data in files]
    assert counts == [1000, 1000, 500]
    stamps = [e["inserted_at"] for data in files for e in parse("csv", data)]
    assert stamps == sorted(stamps)  # the chunks continue one another


def test_a_running_export_grows_its_completed_chunks(client, monkeypatch):
    monkeypatch.setattr(models, "CHUNK_EVENTS", 1000)
    made = client.post("/__admin/jobs", json={"api_key": KEY, "type": "export", "total_rows": 5000,
                                              "durations": {"queued": 1, "validating": 1, "processing": 100,
                                                            "pending_refresh": 10}}).get_json()
    seen = []
    for _ in range(12):
        job = client.get(JOBS + made["job_id"], headers=auth()).get_json()
        seen.append((len(job["completed_chunks"]), int(job["progress"]), job["current_chunk"]))
        advance(client, 10)
    assert [c for c, _p, _cur in seen] == sorted(c for c, _p, _cur in seen)
    assert seen[0] == (0, 0, "part1") and seen[-1][:2] == (5, 100)
    assert 0 < seen[4][0] < 5


def test_download_urls_expire_2_days_after_creation(client):
    job = completed_export(client)
    url = local(job["presigned_urls"][0]["url"])
    query = dict(p.split("=", 1) for p in urlsplit(url).query.split("&"))
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256" and query["X-Amz-SignedHeaders"] == "host"
    assert int(query["X-Amz-Expires"]) == T0 + 2 * DAY - parse_instant(job["end_time"])
    advance(client, T0 + 2 * DAY - 1 - now(client))
    assert client.get(url).status_code == 200
    advance(client, 1)
    expired = client.get(url)
    assert expired.status_code == 403
    assert expired.headers["Content-Type"] == "application/xml"
    text = expired.get_data(as_text=True)
    assert "<Code>AccessDenied</Code>" in text and "<Message>Request has expired</Message>" in text
    assert "<Expires>2026-12-01T12:00:00Z</Expires>" in text
    assert client.get(JOBS + job["job_id"], headers=auth()).status_code == 200  # the job is still shown


@pytest.mark.parametrize("change, status, code", [
    (lambda u: u.replace("X-Amz-Signature=", "X-Amz-Signature=0"), 403, "SignatureDoesNotMatch"),
    (lambda u: u.replace("X-Amz-Expires=", "X-Amz-Expires=9"), 403, "SignatureDoesNotMatch"),
    (lambda u: u.replace("part1.csv", "part2.csv"), 403, "SignatureDoesNotMatch"),
    (lambda u: u.split("?")[0], 403, "AccessDenied"),
    (lambda u: u.split("&X-Amz-Signature")[0], 403, "AccessDenied"),
])
def test_a_changed_url_is_refused_as_s3_refuses_it(client, change, status, code):
    url = local(completed_export(client)["presigned_urls"][0]["url"])
    response = client.get(change(url))
    assert response.status_code == status
    assert f"<Code>{code}</Code>" in response.get_data(as_text=True)


def test_a_signed_url_of_a_forgotten_app_is_no_such_key(client):
    url = local(completed_export(client)["presigned_urls"][0]["url"])
    day = client.get("/__admin/clock").get_json()["now"]
    client.post("/__admin/reset", json={"now": day, "frozen": True})  # same seed: same signing key
    response = client.get(url)
    assert response.status_code == 404 and "<Code>NoSuchKey</Code>" in response.get_data(as_text=True)


def test_head_and_other_methods(client):
    url = local(completed_export(client)["presigned_urls"][0]["url"])
    head = client.head(url)
    assert head.status_code == 200 and head.get_data() == b"" and head.headers["Content-Type"].startswith("text/csv")
    assert head.headers["Content-Disposition"] == 'attachment; filename="export-part1.csv"'
    posted = client.post(url)
    assert posted.status_code == 405 and posted.headers["Allow"] == "GET, HEAD"
    assert "<Code>MethodNotAllowed</Code>" in posted.get_data(as_text=True)
    assert client.get("/__files/userpilot-exports/nothing").status_code == 403


def test_files_answers_are_not_the_apis(client):
    url = local(completed_export(client)["presigned_urls"][0]["url"])
    response = client.get(url)
    assert "x-request-id" not in response.headers and "x-amz-request-id" in response.headers
    assert client.get("/__admin/requests").get_json()[-1]["path"].startswith(JOBS)  # downloads are not journaled


def test_download_urls_use_the_url_the_client_reached_or_the_public_url():
    client = create_app(seed=1, now=NOW, frozen=True).test_client()
    answer = client.post(TRIGGER, headers={**auth(), "Host": "appex.example.test:8443"}, json={})
    assert answer.get_json()["links"].startswith("http://appex.example.test:8443/api/v1/analytics/exports/jobs/")
    job = finish(client, answer.get_json()["job_id"])
    via = client.get(JOBS + job["job_id"], headers={**auth(), "Host": "files.example.test"}).get_json()
    assert via["presigned_urls"][0]["url"].startswith("http://files.example.test/__files/userpilot-exports/")
    public = create_app(seed=1, now=NOW, frozen=True, public_url="https://appex.userpilot.io").test_client()
    answer = public.post(TRIGGER, headers=auth(), json={}).get_json()
    assert answer["links"].startswith("https://appex.userpilot.io/api/v1/analytics/exports/jobs/")
    job = finish(public, answer["job_id"])
    assert job["presigned_urls"][0]["url"].startswith("https://appex.userpilot.io/__files/")


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "parquet", "avro"])
def test_the_same_seed_and_calls_give_the_same_bytes(fmt):
    if fmt in jobtypes.FORMAT_LIBRARIES:
        pytest.importorskip(jobtypes.FORMAT_LIBRARIES[fmt][0])

    def run():
        client = create_app(seed=5, now=NOW, frozen=True).test_client()
        return download(client, completed_export(client, format=fmt, event_type=["page_view"]))

    assert run() == run()


def test_without_the_formats_extra_parquet_and_avro_are_a_4xx_naming_it(client, monkeypatch):
    monkeypatch.setattr(jobtypes.importlib.util, "find_spec", lambda name: None)
    for fmt in ("parquet", "avro"):
        response = client.post(TRIGGER, headers=auth(), json={"format": fmt})
        assert response.status_code == 400
        item = error_item(response)
        assert item["error_code"] == "format_unavailable" and "userpilot-mock[formats]" in item["details"]
        made = client.post("/__admin/jobs", json={"api_key": KEY, "type": "export", "format": fmt})
        assert made.status_code == 400 and "userpilot-mock[formats]" in error_item(made)["details"]
    assert client.post(TRIGGER, headers=auth(), json={"format": "ndjson"}).status_code == 201


def test_a_file_whose_library_went_missing_is_refused_not_sent_in_another_format(client, monkeypatch):
    pytest.importorskip("pyarrow")
    url = local(completed_export(client, format="parquet")["presigned_urls"][0]["url"])
    monkeypatch.setattr(jobtypes.importlib.util, "find_spec", lambda name: None)
    response = client.get(url)
    assert response.status_code == 400
    assert "userpilot-mock[formats]" in response.get_data(as_text=True)


def test_other_apps_cannot_list_or_read_but_a_signed_url_is_its_own_key(client):
    job = completed_export(client)
    assert client.get(JOBS, headers=auth(OTHER_KEY)).get_json() == []
    assert client.get(local(job["presigned_urls"][0]["url"])).status_code == 200  # no API key: the URL is signed


@pytest.mark.slow
def test_downloading_a_million_events_grows_memory_by_under_50_mb():
    """Runs bench/export_memory.py: a real server in a subprocess, peak RSS
    (VmHWM) while every file of a 1,000,000-event export is downloaded."""
    script = Path(__file__).resolve().parent.parent / "bench" / "export_memory.py"
    result = subprocess.run([sys.executable, str(script), "--events", "1000000", "--max-mb", "50"],
                            capture_output=True, text=True, timeout=1200)
    report = json.loads(result.stdout.strip().splitlines()[-1]) if result.stdout.strip() else {}
    assert result.returncode == 0, (report, result.stderr[-2000:])
    assert report["events"] == 1_000_000 and report["files"] == 10 and report["peak_growth_mb"] < 50
