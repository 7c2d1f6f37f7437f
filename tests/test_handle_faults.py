"""The handle's fault methods (docs/pytest.md, the handle's signature
table): ``delay`` and ``fail_next`` for the handle's app only, a general
``add_fault(**rule)``, ``retry_after`` as seconds or an HTTP-date, naive
datetimes refused."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mock_server import create_app
from mock_server.handle import UserpilotMock, UserpilotMockError

from .conftest import NOW, OTHER_KEY, auth

LIST = "/v1/background_jobs"


@pytest.fixture
def mock():
    app = create_app(seed=1, now=NOW, frozen=True)
    handle = UserpilotMock.in_process(app)
    handle.client = app.test_client()
    return handle


def test_delay_is_for_the_handles_app_only(mock):
    """The issue: ``delay(operation, ms)`` delayed every app although
    documented for the handle's app."""
    rule = mock.delay("listJobs", 5)
    assert rule["app_token"] == mock.app_token and rule["latency_ms"] == 5
    faults = mock.client.application.extensions["userpilot"].backend.faults
    other = faults.backend.token_for(OTHER_KEY)
    assert faults.decide("listJobs", other) is None
    assert faults.decide("listJobs", mock.app_token).latency_ms == 5
    assert mock.delay("getJob", (1, 3))["latency_ms"] == [1, 3]


def test_fail_next_is_for_the_handles_app_and_takes_retry_after(mock):
    mock.fail_next("listJobs", status=429, times=2, retry_after=30)
    assert mock.client.get(LIST, headers=auth(OTHER_KEY)).status_code == 200
    answer = mock.client.get(LIST, headers=mock.headers)
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "30"
    when = datetime(2026, 12, 1, 8, 30, tzinfo=timezone(timedelta(hours=9)))  # 23:30 UTC the day before
    mock.clear_faults()
    mock.fail_next("listJobs", status=503, retry_after=when)
    assert mock.client.get(LIST, headers=mock.headers).headers["Retry-After"] == "Mon, 30 Nov 2026 23:30:00 GMT"
    mock.fail_next("listJobs", status=503, retry_after="Sun, 06 Nov 1994 08:49:37 GMT")
    assert mock.client.get(LIST, headers=mock.headers).headers["Retry-After"] == "Sun, 06 Nov 1994 08:49:37 GMT"
    mock.fail_next("listJobs", status=503, retry_after=timedelta(minutes=2))
    assert mock.client.get(LIST, headers=mock.headers).headers["Retry-After"] == "120"


def test_a_naive_datetime_is_refused_before_anything_is_sent(mock):
    with pytest.raises(TypeError, match="aware"):
        mock.fail_next("listJobs", retry_after=datetime(2026, 12, 1, 8, 30))
    with pytest.raises(TypeError, match="aware"):
        mock.trigger_export(from_=datetime(2026, 11, 1))
    assert mock.faults == []


def test_add_fault_takes_any_rule(mock):
    rule = mock.add_fault(operation="getJob", status=404, probability=1.0)
    assert rule["app_token"] == mock.app_token and rule["probability"] == 1.0
    everyone = mock.add_fault(operation="triggerExport", fault="RANDOM_DATA_THEN_CLOSE", every_app=True)
    assert everyone["app_token"] is None
    theirs = mock.add_fault(operation="trackEvent", status=500, api_key=OTHER_KEY)
    assert theirs["app_token"] == mock.client.application.extensions["userpilot"].backend.token_for(OTHER_KEY)
    assert [r["id"] for r in mock.faults] == [rule["id"], everyone["id"], theirs["id"]]
    mock.remove_fault(rule["id"])
    assert [r["id"] for r in mock.faults] == [everyone["id"], theirs["id"]]
    with pytest.raises(UserpilotMockError) as refused:
        mock.add_fault(operation="listJobs", status=200)
    assert refused.value.status == 400


def test_trigger_export_takes_aware_datetimes(mock):
    job = mock.trigger_export(from_=datetime(2026, 11, 1, tzinfo=timezone.utc),
                              to=datetime(2026, 11, 2, 9, tzinfo=timezone(timedelta(hours=9))))
    assert job["job_id"]


def test_the_signature_table_lists_every_public_method():
    """docs/pytest.md has a row for each public method of the handle."""
    from pathlib import Path
    text = (Path(__file__).resolve().parents[1] / "docs" / "pytest.md").read_text(encoding="utf-8")
    table = text[text.index("| signature |"):]
    missing = [name for name in dir(UserpilotMock) if not name.startswith("_") and f".{name}" not in table
               and name not in ("over_http", "in_process")]
    assert missing == [], missing
