"""The contract suite has teeth: it passes against the fake and fails, naming
the drift, against servers that break the contract.

Runs are small (a few examples per phase): each one still goes through every
Schemathesis phase and the lifecycle polls.
"""
from __future__ import annotations

import functools

import pytest

from contract_tests.options import ContractOptions
from contract_tests.runner import run_contract
from mock_server.families import handlers

HANDLERS = handlers()

from . import drift

#: Every test here runs the contract suite (the drift servers among them): the slow lane.
pytestmark = pytest.mark.slow

KEY = "teeth-key"
#: The drifts are in the job answers: their runs leave createImport out.
JOBS = ("listJobs", "getJob")
#: createImport has no domain handler until the imports feature lands; the
#: generic schema answer is not a fake import, so it is left out until then.
ALL = None if "createImport" in HANDLERS else JOBS


def run(app, **options):
    options.setdefault("max_examples", 3)
    options.setdefault("seed", 1)
    options.setdefault("operations", JOBS)
    return run_contract(ContractOptions(app=app, api_key=KEY, **options))


@functools.lru_cache(maxsize=None)
def drifted(kind: str):
    """The report of a run against the drift ``kind`` (one run per drift)."""
    return run(drift.broken(kind, KEY))


def failed_checks(report) -> set[str]:
    return {f.check for f in report.counted}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_fake_conforms(seed):
    report = run(None, seed=seed, max_examples=5, operations=ALL)
    assert report.exit_code == 0, report.render()
    assert report.requests > 50
    assert not report.errors


#: drift -> checks that must name it (at least one of them fails)
DRIFTS = {
    "unknown_status": {"job_status_known", "response_schema_conformance"},
    "counter_as_string": {"job_counters_are_integers", "response_schema_conformance"},
    "no_auth_check": {"ignored_auth"},
    "end_time_on_running": {"job_end_time_matches_status"},
    "status_backwards": {"job_status_never_backwards"},
    "non_iso_time": {"job_times_are_iso8601", "response_schema_conformance"},
    "server_error": {"not_a_server_error"},
    "wrong_content_type": {"content_type_conformance"},
    "detail_disagrees": {"job_detail_matches_list"},
    # and a few more of the kit's own
    "duplicate_ids": {"job_ids_unique"},
    "rows_past_total": {"job_counters_in_range"},
    "running_jobs_vanish": {"running_job_stays_listed"},
    "elapsed_time_wrong": {"job_elapsed_time_agrees"},
    "missing_links": {"response_schema_conformance"},
    "envelope": {"job_answer_shape", "response_schema_conformance"},
    "wrong_job": {"job_detail_is_the_requested_job"},
    "one_app_for_all_keys": {"apps_are_isolated"},
}


@pytest.mark.parametrize("kind", sorted(DRIFTS))
def test_drift_fails_and_is_named(kind):
    report = drifted(kind)
    assert report.exit_code == 1
    named = failed_checks(report) & DRIFTS[kind]
    assert named, f"{kind}: expected one of {DRIFTS[kind]}, got {failed_checks(report)}\n{report.render()}"
    text = report.render()
    for check in named:
        assert check in text
    # each failure says what was expected and seen, with a reproduction
    finding = next(f for f in report.counted if f.check in named)
    assert finding.expected and finding.seen
    assert finding.curl and "curl" in finding.curl and KEY not in finding.curl


def test_documented_and_assumed_failures_are_reported_apart():
    text = drifted("end_time_on_running").render()
    assert "ASSUMPTION CONTRADICTED" in text
    assert "job_end_time_matches_status [assumed]" in text
    report = drifted("unknown_status")
    assert "FAILURES (documented" in report.render()
    assert "job_status_known [documented]" in report.render()


def test_assumptions_warn_only_warns():
    report = run(drift.broken("end_time_on_running", KEY), assumptions="warn")
    assert report.contradicted and not report.failures
    assert report.exit_code == 0
    assert "warnings only" in report.render()
    # a documented drift still fails (the mode only changes how findings count)
    report = drifted("unknown_status")
    report.assumptions = "warn"
    try:
        assert report.failures and report.exit_code == 1
    finally:
        report.assumptions = "fail"


def test_vendor_spec_reports_known_deviations_apart_from_new_ones():
    report = run(None, spec="vendor", max_examples=10, operations=None)
    ids = {f.deviation.id for f in report.known}
    assert "vendor-end-time-not-nullable" in ids
    assert report.exit_code == 0, report.render()
    assert "KNOWN DEVIATIONS" in report.render()
    # a new drift in the same operation and check is still a failure
    report = run(drift.broken("unknown_status", KEY), spec="vendor", max_examples=5, operations=None)
    new = [f for f in report.failures if f.check == "response_schema_conformance"]
    assert new and all(f.deviation is None for f in new)
    assert report.exit_code == 1


def test_pytest_path_warns_instead_of_failing_for_assumptions():
    from contract_tests.test_contract import AssumptionContradicted, _judge
    report = drifted("end_time_on_running")
    with pytest.raises(pytest.fail.Exception, match="job_end_time_matches_status"):
        _judge(report, report.findings, "listJobs")
    report.assumptions = "warn"
    try:
        with pytest.warns(AssumptionContradicted, match="job_end_time_matches_status"):
            _judge(report, report.findings, "listJobs")
    finally:
        report.assumptions = "fail"


@pytest.mark.skipif("createImport" not in HANDLERS, reason="the imports feature is not merged yet")
def test_concurrent_imports_fail_one_at_a_time():  # pragma: no cover - after the merge
    report = run(drift.broken("concurrent_imports", KEY), operations=None)
    assert "import_one_at_a_time" in failed_checks(report), report.render()
