"""``pytest --userpilot-coverage``: a consumer's tests, run serially and under
pytest-xdist, report exactly the operations, codes, job statuses,
transitions, outcomes, faults and scenarios they went through (the HTTP fake
and the in-process one together), name what they missed, and fail under a
threshold. Inner runs use pytester, as tests/test_pytest_plugin.py does."""
from __future__ import annotations

import json
import re
import textwrap

import pytest

from tests.test_pytest_plugin import NO_SLOW_PLUGINS

pytest_plugins = ["pytester"]

CONSUMER_TESTS = textwrap.dedent("""
    import json, urllib.error, urllib.request

    import pytest

    DURATIONS = {"queued": 10, "validating": 10, "processing": 60, "pending_refresh": 10}


    def get(mock, path):
        request = urllib.request.Request(mock.url + path, headers=mock.headers)
        try:
            with urllib.request.urlopen(request) as answer:
                return answer.status, json.load(answer)
        except urllib.error.HTTPError as error:
            return error.code, None


    @pytest.mark.userpilot(scenario="empty", frozen=True)
    def test_poll_until_done(userpilot_mock):
        job = userpilot_mock.add_job(total_rows=1200, durations=DURATIONS)
        while True:                      # every 10 s: t = 0, 10, ..., 90
            _status, body = get(userpilot_mock, "/v1/background_jobs/" + job["job_id"])
            if body["status"] == "completed":
                break
            userpilot_mock.clock.advance(10)


    @pytest.mark.userpilot(scenario="empty", frozen=True)
    def test_a_503_then_a_list(userpilot_mock):
        userpilot_mock.fail_next("listJobs", status=503)
        assert get(userpilot_mock, "/v1/background_jobs")[0] == 503
        assert get(userpilot_mock, "/v1/background_jobs") == (200, [])


    def test_an_unknown_job(userpilot_mock):
        assert get(userpilot_mock, "/v1/background_jobs/nope")[0] == 404


    @pytest.mark.userpilot(scenario="empty", frozen=True)
    def test_in_process(userpilot_flask_client):
        mock = userpilot_flask_client.mock
        job = mock.add_job(total_rows=100, fail_at="validating", durations=DURATIONS)
        answer = userpilot_flask_client.get("/v1/background_jobs/" + job["job_id"], headers=mock.headers)
        assert answer.get_json()["status"] == "queued"
        mock.clock.advance(30)
        listed = userpilot_flask_client.get("/v1/background_jobs", headers=mock.headers).get_json()
        assert listed[0]["status"] == "failed"
""")

#: What those four tests went through, exactly.
OBSERVED = {
    "operations": {
        "getJob": {"calls": 12, "body_faults": {}, "codes": {"200": {"answers": 11, "injected": 0},
                                                             "404": {"answers": 1, "injected": 0}}},
        "listJobs": {"calls": 3, "body_faults": {}, "codes": {"200": {"answers": 2, "injected": 0},
                                                              "503": {"answers": 1, "injected": 1}}},
    },
    "unrouted": {},
    "statuses": {"import": {"completed": 1, "failed": 1, "pending_refresh": 1, "processing": 1, "queued": 2,
                            "validating": 1}},
    "transitions": {"import": {"pending_refresh -> completed": 1, "processing -> pending_refresh": 1,
                               "queued -> failed": 1, "queued -> validating": 1, "validating -> processing": 1}},
    "outcomes": {"import": {"completed": 1, "failed at validating": 1}},
    "faults": {"404": {"answers": 1, "injected": 0}, "5xx": {"answers": 1, "injected": 1}},
    "scenarios": {"(generated histories)": 1, "empty": 3},
}


def run_consumer(pytester, *args, subprocess: bool = False):
    pytester.makepyfile(test_consumer=CONSUMER_TESTS)
    runner = pytester.runpytest_subprocess if subprocess else pytester.runpytest
    return runner(*NO_SLOW_PLUGINS, "--userpilot-coverage-json", "coverage.json", *args)


def check_report(pytester, result) -> dict:
    result.assert_outcomes(passed=4)
    report = json.loads((pytester.path / "coverage.json").read_text(encoding="utf-8"))
    assert report["observed"] == OBSERVED
    missed = report["missed"]
    for sentence in ("no test called createImport (POST /v1/imports)", "no test got 401 from listJobs",
                     "no test saw an export job (no answer showed one)", "no test saw an import job fail at processing",
                     "no test polled an import job from validating to failed",
                     "no test got a 429 with Retry-After (a fault rule's status 429, or --rate-limit)"):
        assert sentence in missed
    for sentence in ("no test got 404 from getJob", "no test polled an import job from processing to pending_refresh",
                     "no test got a 5xx (a server error: a fault rule's status, Prefer: code=503 or --error-rate)"):
        assert sentence not in missed
    summary = report["summary"]
    # listJobs 200, getJob 200 and 404 (a 503 is no documented code of listJobs); every import status;
    # four steps (queued -> failed skips one); two ends; a 404 and a 5xx
    assert {kind: v["exercised"] for kind, v in summary["by_kind"].items()} == {
        "responses": 3, "statuses": 6, "transitions": 4, "outcomes": 2, "faults": 2}
    assert summary["exercised"] == 17 and summary["percent"] == round(1700 / summary["total"], 1)
    text = result.stdout.str()
    assert "userpilot-mock coverage: " in text and f"({summary['percent']:.1f}%)" in text
    assert "  - no test called createImport (POST /v1/imports)" in text
    assert re.search(r"\n  listJobs +GET /v1/background_jobs: 3 calls: 200 x2, 503 x1 \(1 injected\)\n", text)
    return report


@pytest.mark.slow
def test_serial_run_reports_exactly_what_the_tests_did(pytester):
    check_report(pytester, run_consumer(pytester))


@pytest.mark.slow
def test_xdist_run_reports_the_same(pytester):
    serial = check_report(pytester, run_consumer(pytester))
    parallel = check_report(pytester, run_consumer(pytester, "-n", "2", subprocess=True))
    assert parallel == serial


@pytest.mark.slow
def test_fail_under(pytester):
    below = run_consumer(pytester, "--userpilot-coverage-fail-under", "95")
    assert below.ret == pytest.ExitCode.TESTS_FAILED
    assert "FAIL: userpilot-mock coverage" in below.stdout.str() and "under --userpilot-coverage-fail-under 95" in \
        below.stdout.str()
    above = run_consumer(pytester, "--userpilot-coverage-fail-under", "10")
    assert above.ret == pytest.ExitCode.OK
    assert "reaches --userpilot-coverage-fail-under 10" in above.stdout.str()


def test_a_run_without_fixtures_reports_nothing_exercised(pytester):
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest(*NO_SLOW_PLUGINS, "--userpilot-coverage")
    result.assert_outcomes(passed=1)
    text = result.stdout.str()
    assert "userpilot-mock coverage: 0 of " in text and "(0.0%)" in text
    assert "no test called listJobs (GET /v1/background_jobs)" in text


def test_options_are_checked(pytester):
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest(*NO_SLOW_PLUGINS, "--userpilot-coverage-fail-under", "101")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "expected a percentage from 0 to 100, got 101" in result.stderr.str()
    assert pytester.runpytest(*NO_SLOW_PLUGINS).ret == pytest.ExitCode.OK  # off by default: no section
    assert "userpilot-mock coverage" not in pytester.runpytest(*NO_SLOW_PLUGINS).stdout.str()
