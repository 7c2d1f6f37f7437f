"""The handle (and so the pytest fixtures) drives exports and bulk identify:
trigger an export, wait for it on the clock, download and parse its files;
start a bulk identify; and the bundled scenario of exports and bulk jobs."""
from __future__ import annotations

import json

import pytest

from mock_server import MockServer, create_app
from mock_server.backend import jobtypes
from mock_server.export_invariants import export_job_problems, views_agree
from mock_server.handle import UserpilotMock, UserpilotMockError

NOW = "2026-11-29T12:00:00Z"


@pytest.fixture
def mock():
    handle = UserpilotMock.in_process(create_app(seed=3, now=NOW, frozen=True))
    handle.reset()
    return handle


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "parquet", "avro"])
def test_trigger_wait_download_and_parse(mock, fmt):
    if fmt in jobtypes.FORMAT_LIBRARIES:
        pytest.importorskip(jobtypes.FORMAT_LIBRARIES[fmt][0])
    answer = mock.trigger_export(from_="2026-11-20", event_type=["track"], format=fmt)
    assert answer["environment_app_token"] == mock.app_token
    with pytest.raises(UserpilotMockError) as refused:
        mock.trigger_export()
    assert refused.value.status == 409 and refused.value.message == "Export job already in progress"
    job = mock.wait_for_export(answer["job_id"])
    assert job["status"] == "completed" and export_job_problems(job, mock.clock.now.timestamp()) == []
    events = mock.export_events(job)
    assert events and {e["event_type"] for e in events} == {"track"}
    assert views_agree(job, mock.jobs()[0]) == []


def test_the_users_just_bulk_identified_come_back_out(mock):
    job = mock.bulk_identify_users([{"user_id": "kim", "company_id": "acme", "metadata": {"plan": "pro"}}])
    assert job["status"] == "queued" and job["type"] == "bulk_identify_users"
    with pytest.raises(UserpilotMockError) as refused:
        mock.bulk_identify_companies([{"company_id": "acme"}])
    assert refused.value.status == 409
    mock.finish(job["job_id"])
    mock.identify("lee", {"role": "admin"})
    mock.track("lee", "Report Exported", {"format": "pdf"})
    mock.clock.advance(1)
    export = mock.wait_for_export(mock.trigger_export(user_id=["kim", "lee"], format="ndjson")["job_id"])
    events = mock.export_events(export)
    assert [(e["event_type"], e["user_id"]) for e in events] == [
        ("identify_user", "kim"), ("identify_user", "lee"), ("track", "lee")]
    mock.requests.assert_called("POST", "/v1/users/bulk_identify", times=1)
    mock.requests.assert_no_violations()


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_metadata_with_line_separators_reads_back_as_sent(mock, fmt):
    """JSON writes U+2028, U+0085 and the like as they are inside a string:
    an NDJSON file is split at "\n" only (found by the contract kit)."""
    odd = {"note": "a\u2028b\u2029c\x85d\x1ce\r\nf"}
    mock.identify("lee", odd)
    mock.clock.advance(1)
    export = mock.wait_for_export(mock.trigger_export(user_id=["lee"], format=fmt)["job_id"])
    (event,) = mock.export_events(export)
    metadata = event["metadata"] if fmt == "ndjson" else json.loads(event["metadata"])
    assert metadata == odd


def test_an_expired_download_raises(mock):
    job = mock.wait_for_export(mock.trigger_export()["job_id"])
    mock.clock.advance(2 * 86400)
    with pytest.raises(UserpilotMockError) as refused:
        mock.export_files(job)
    assert refused.value.status == 403 and refused.value.error_code == "AccessDenied"
    assert refused.value.message == "Request has expired"


def test_the_handle_works_over_http_too():
    with MockServer(seed=3, now=NOW, frozen=True) as server:
        mock = UserpilotMock.over_http(server.url)
        mock.reset()
        job = mock.wait_for_export(mock.trigger_export(format="csv")["job_id"])
        assert job["presigned_urls"][0]["url"].startswith(server.url + "/__files/")
        files = mock.export_files(job)
        assert files[0][0] == "export-part1.csv" and files[0][1].startswith(b"app_token,event_type,")
        assert len(mock.export_events(job)) == mock.job(job["job_id"])["total_rows"]
        assert mock.export_jobs()[0]["job_id"] == job["job_id"]
        mock.close()


def test_the_bundled_scenario_of_exports_and_bulk_jobs(mock):
    mock.reset(scenario="exports_and_bulk")
    listed = mock.export_jobs()
    assert [j["status"] for j in listed] == ["completed", "completed"]  # the 4-day-old one is gone
    fresh, old = listed
    assert len(mock.export_events(fresh)) == 1500  # its URLs are still valid
    with pytest.raises(UserpilotMockError) as refused:
        mock.export_files(old)
    assert refused.value.status == 403
    types = [j["type"] for j in mock.jobs()]
    assert types.count("export") == 3 and "bulk_identify_users" in types
    with pytest.raises(UserpilotMockError) as busy:
        mock.bulk_identify_users([{"user_id": "x"}])
    assert busy.value.status == 409
    mock.clock.advance(300)
    assert mock.bulk_identify_users([{"user_id": "x"}])["status"] == "queued"
    assert mock.trigger_export()["job_id"]  # no export runs in the scenario


def test_control_api_exports_and_bulk_jobs_through_the_handle(mock):
    made = mock.add_job(type="export", total_rows=300, format="ndjson")
    assert made["type"] == "export" and made["filename"].endswith(".ndjson") and "export" not in made
    done = mock.wait_for_export(made["job_id"])
    assert len(mock.export_events(done)) == 300
    bulk = mock.add_job(type="bulk_identify_companies", total_rows=1800)
    assert mock.job(bulk["job_id"], timeline=True)["timeline"]["processing"]


@pytest.mark.userpilot(scenario="empty", frozen=True, now=NOW)
def test_with_the_pytest_fixture(userpilot_mock):
    answer = userpilot_mock.trigger_export(event_type=["page_view"])
    job = userpilot_mock.wait_for_export(answer["job_id"])
    assert job["status"] == "completed"
    events = userpilot_mock.export_events(job)
    assert events and all(e["event_type"] == "page_view" for e in events)
    started = userpilot_mock.bulk_identify_companies([{"company_id": "acme"}])
    assert started["job_id"] in [j["job_id"] for j in userpilot_mock.jobs()]
