"""The contract kit's parts: check catalogue, known deviations, import file
strategies, rate limiting, reports, options, Schemathesis settings."""
from __future__ import annotations

import csv
import io
import json
from urllib.parse import quote
import subprocess
import sys
import time
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings

from contract_tests import catalogue, deviations, specs
from contract_tests.media import (COLUMNS, INVALID_UPLOADS, REQUIRED, SOURCES, csv_files, ndjson_files,
                                  to_csv)
from contract_tests.options import ContractOptions, UsageError, add_options
from contract_tests.report import MASK, Finding, Report
from contract_tests.state import Throttle
from contract_tests.target import retry_after_seconds
from mock_server.families import handlers
from mock_server.invariants import CODES, Violation, job_problems, list_problems, transition_problems
from mock_server.times import parse_instant

HANDLERS = handlers()

ROOT = Path(__file__).resolve().parent.parent

GOOD = {"elapsed_time": 60, "end_time": "2026-11-29T11:01:00Z", "file_size": 10, "filename": "a.csv",
        "job_id": "bulk:jobs:NX-0123abcd:c6f91301-54c1-4df7-a077-b34715c38875",
        "links": "http://localhost/x", "start_time": "2026-11-29T11:00:00Z", "status": "completed",
        "total_rows": 5, "type": "import", "completed_rows": 5}
NOW = parse_instant("2026-11-29T12:00:00Z")


# ------------------------------------------------------------------ catalogue

BROKEN = {
    "job_status_known": {"status": "paused"},
    "job_counters_are_integers": {"file_size": "10"},
    "job_times_are_iso8601": {"start_time": "29/11/2026"},
    "job_end_time_matches_status": {"end_time": None},
    "job_elapsed_time_agrees": {"elapsed_time": 61 + 3600},
    "job_counters_in_range": {"completed_rows": 6},
    "fake_job_details": {"job_id": "x"},
}


@pytest.mark.parametrize("check", sorted(BROKEN))
def test_every_invariant_problem_belongs_to_its_check(check):
    problems = job_problems({**GOOD, **BROKEN[check]}, NOW, detail=True)
    assert problems
    assert check in {catalogue.classify(p) for p in problems}


def test_list_and_transition_problems_are_classified():
    assert job_problems(GOOD, NOW, detail=True) == []
    assert {catalogue.classify(p) for p in list_problems([GOOD, GOOD], NOW)} == {"job_ids_unique"}
    assert catalogue.classify(list_problems({"data": []})[0]) == "job_answer_shape"
    moved = transition_problems({**GOOD, "status": "completed"}, {**GOOD, "status": "processing"})
    assert {catalogue.classify(p) for p in moved} == {"job_status_never_backwards"}
    assert catalogue.classify(Violation("something_nobody_wrote_yet", "?")) == "job_answer_shape"


def test_every_violation_code_maps_to_one_of_the_kits_checks():
    assert set(catalogue.CHECK_OF_CODE) == set(CODES)
    assert set(catalogue.CHECK_OF_CODE.values()) <= set(catalogue.OWN_CHECKS)
    broken = [job_problems({**GOOD, **change}, NOW, detail=True) for change in BROKEN.values()]
    broken += [list_problems([GOOD, GOOD], NOW), list_problems({"data": []}),
               transition_problems({**GOOD, "status": "completed"}, {**GOOD, "status": "processing"})]
    assert {v.code for found in broken for v in found} <= set(CODES)


def test_violations_carry_a_code_and_the_message_people_read():
    (violation,) = job_problems({**GOOD, "status": "paused"}, NOW, detail=True)
    assert violation == Violation(
        "status_unknown", "status 'paused' is not one of queued, validating, processing, pending_refresh, "
        "completed, failed")
    assert str(violation) == violation.message
    listed = list_problems([{**GOOD, "end_time": None, "status": "processing"}, GOOD], NOW)
    assert [(v.code, v.message) for v in listed] == [  # a listed job's message names its index
        ("elapsed_disagrees", "job 0: elapsed_time 60 disagrees with now - start_time = 3600"),
        ("job_id_duplicate", f"job_id {GOOD['job_id']} appears twice")]


def test_every_check_is_tagged_with_a_rule_and_a_source():
    from contract_tests.checks import CHECK_NAMES
    for name in CHECK_NAMES:
        rule = catalogue.OWN_CHECKS[name]
        assert rule.tag in (catalogue.DOCUMENTED, catalogue.ASSUMED) and rule.rule and rule.source
    assert catalogue.tag_for("response_schema_conformance", schema_keyword="required") == catalogue.ASSUMED
    assert catalogue.tag_for("response_schema_conformance", schema_keyword="enum") == catalogue.DOCUMENTED
    assert catalogue.tag_for("status_code_conformance", spec="vendor") == catalogue.DOCUMENTED
    assert catalogue.tag_for("no_such_check") == catalogue.ASSUMED


def test_normalize_merges_the_same_drift_on_two_jobs():
    a = "job 3: end_time is set (2026-11-29T11:00:00Z) on a processing job"
    b = "job 17: end_time is set (2026-11-28T01:02:03Z) on a processing job"
    assert catalogue.normalize(a) == catalogue.normalize(b)


# ---------------------------------------------------------- known deviations

def test_shipped_known_deviations_have_reasons():
    entries = deviations.load()
    assert entries and all(len(d.reason) > 40 for d in entries)
    assert all(d.for_spec("kit") or d.for_spec("vendor") for d in entries)


@pytest.mark.parametrize("text, message", [
    ("deviations: [{id: a, spec: vendor, check: c}]", "'reason' is required"),
    ("deviations: [{id: a, spec: vendor, check: c, reason: ''}]", "'reason' is required"),
    ("deviations: [{id: a, spec: v2, check: c, reason: r}]", "spec must be one of"),
    ("deviations: [{id: a, spec: kit, check: c, reason: r, match: '('}]", "bad 'match'"),
    ("deviations: [{id: a, spec: kit, check: c, reason: r, colour: red}]", "unknown field"),
    ("deviations: [{id: a, spec: kit, check: c, reason: r}, {id: a, spec: kit, check: c, reason: r}]",
     "appears twice"),
    ("nothing: here", "'deviations' list"),
])
def test_malformed_known_deviations_are_usage_errors(tmp_path, text, message):
    path = tmp_path / "known.yaml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        deviations.load(path)


def test_a_deviation_matches_only_its_spec_check_operation_and_pattern():
    entry = deviations.Deviation(id="x", spec="vendor", check="response_schema_conformance", reason="r",
                                 operation="listJobs", match="end_time")
    finding = Finding(operation="listJobs (GET /v1/background_jobs)", check="response_schema_conformance",
                      tag="documented", expected="type: 'string' at 0/end_time", seen="null is not of type")
    assert entry.matches("vendor", finding)
    assert not entry.matches("kit", finding)
    assert not entry.matches("vendor", Finding(**{**finding.__dict__, "expected": "enum at 0/status"}))
    assert not entry.matches("vendor", Finding(**{**finding.__dict__, "operation": "getJob (GET /x)"}))


# ------------------------------------------------------------- import files

def _valid_row(row: dict) -> bool:
    kind = row["event_type"]
    return (kind in REQUIRED and all(row.get(f) not in (None, "") for f in REQUIRED[kind])
            and row["source"] in SOURCES and parse_instant(row["inserted_at"].replace(" ", "T")) > 0)


@settings(max_examples=40, deadline=None)
@given(csv_files)
def test_csv_files_hold_valid_events(content):
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8"))))
    assert rows and tuple(rows[0]) == COLUMNS
    for row in rows:
        parsed = {k: v for k, v in row.items() if v != ""}
        if "metadata" in parsed:
            assert isinstance(json.loads(parsed["metadata"]), dict)
        assert _valid_row(parsed), row


@settings(max_examples=40, deadline=None)
@given(ndjson_files)
def test_ndjson_files_hold_valid_events(content):
    lines = content.decode("utf-8").splitlines()
    assert lines
    for line in lines:
        row = json.loads(line)
        assert _valid_row(row), row
        if "metadata" in row:
            assert isinstance(row["metadata"], dict)


def test_invalid_uploads_are_the_kind_a_server_refuses():
    names = {name for name, _, _ in INVALID_UPLOADS}
    assert "empty.csv" in names and any(not n.endswith((".csv", ".ndjson")) for n in names)
    assert to_csv([]).count(b"\n") == 1  # a header only


@pytest.mark.skipif("createImport" not in HANDLERS, reason="the imports feature is not merged yet")
def test_generated_import_files_are_accepted_by_the_fake():  # pragma: no cover - after the merge
    from mock_server import create_app
    app = create_app(seed=1, frozen=True)
    content = to_csv([{"event_type": "track", "user_id": "u", "event_name": "e", "source": "web-client",
                       "inserted_at": "2024-07-28 08:55:35.874555"}])
    response = app.test_client().post("/v1/imports", headers={"Authorization": "Token k"},
                                      data={"file": (io.BytesIO(content), "events.csv", "text/csv")})
    assert response.status_code == 200, response.get_data()


# -------------------------------------------------------------- rate limits

def test_throttle_spaces_requests_and_backs_off():
    throttle = Throttle(50)
    started = time.monotonic()
    for _ in range(6):
        throttle.wait()
    assert time.monotonic() - started >= 5 / 50 * 0.9
    throttle.back_off(0.1)
    started = time.monotonic()
    throttle.wait()
    assert time.monotonic() - started >= 0.05
    unlimited = Throttle(None)
    started = time.monotonic()
    for _ in range(100):
        unlimited.wait()
    assert time.monotonic() - started < 0.5


def test_retry_after_values():
    assert retry_after_seconds("3") == 3
    assert retry_after_seconds("3600") == 60
    assert retry_after_seconds("-5") == 0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert 0 <= retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") <= 60


def test_429_is_retried_after_its_retry_after():
    from contract_tests.target import Target
    calls = []

    def app(environ, start_response):
        calls.append(time.monotonic())
        if len(calls) < 3:
            start_response("429 Too Many Requests", [("Retry-After", "0.05"), ("Content-Type", "application/json")])
            return [b'{"errors": []}']
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"[]"]

    target = Target("real", "http://localhost", "test", "k", app=app)
    answer = target.request("GET", "/v1/background_jobs")
    assert answer.status == 200 and len(calls) == 3
    assert calls[2] - calls[1] >= 0.04


# ------------------------------------------------------------------ reports

def test_report_masks_the_key_where_it_stands_and_writes_junit():
    key = "s3cr3t-key"
    report = Report(target="t", spec="kit", operations=["listJobs (GET /v1/background_jobs)"], secrets=(key,))
    report.add(Finding(operation="listJobs (GET /v1/background_jobs)", check="job_status_known",
                       tag="documented", expected="e", seen=f"server echoed Token {key}",
                       curl=f"curl -H 'Authorization: Token {key}' http://x"))
    report.add(Finding(operation="listJobs (GET /v1/background_jobs)", check="job_ids_unique",
                       tag="assumed", expected="e", seen="job_id x appears twice", phase="lifecycle"))
    text, junit = report.render(), report.junit()
    assert key not in text and key not in junit and MASK in text
    suite = ET.fromstring(junit.split("\n", 1)[1])
    assert suite.get("failures") == "2"
    assert {c.get("name") for c in suite.iter("testcase")} == {
        "listJobs (GET /v1/background_jobs): job_status_known", "lifecycle: job_ids_unique"}
    assert report.exit_code == 1
    report.assumptions = "warn"
    assert len(report.counted) == 1


@pytest.mark.parametrize("key", ["k", "e", "a", "job", "1"])
def test_a_short_or_common_key_never_garbles_the_kits_own_words(key):
    """The kit's words are never masked: only what the target or
    Schemathesis wrote, where the key stands as a whole token."""
    op = "listJobs (GET /v1/background_jobs)"
    report = Report(target="the fake at http://127.0.0.1:8080", spec="kit", seed=1, operations=[op],
                    secrets=(key, key + "-other-app"))
    report.ran_check(op, "job_status_known")
    report.ran_check("lifecycle", "job_ids_unique")
    report.add(Finding(operation=op, check="job_status_known", tag="documented", expected="a known status",
                       seen="status 'backlog' is not one of queued, validating",
                       curl=f"curl -X GET -H \"Authorization: Token $USERPILOT_API_KEY\" "
                            f"'http://127.0.0.1:8080/v1/background_jobs?limit=50' -k"))
    text = report.render() + report.junit()
    assert MASK not in text, text
    for words in ("userpilot-mock contract: the fake at http://127.0.0.1:8080", "background_jobs",
                  "known deviation(s)", "status 'backlog'", "CHECKS RUN", "job_status_known"):
        assert words in text


def test_the_key_is_masked_in_headers_query_values_json_fields_curl_lines_and_echoes():
    from contract_tests.masking import KeyMask
    mask = KeyMask(["k", "k-other-app"])
    assert mask.text("userpilot-mock GET /v1/background_jobs known k.") == \
        "userpilot-mock GET /v1/background_jobs known [API key]."
    assert mask.text('{"message": "invalid key k", "key": "k"}') == \
        '{"message": "invalid key [API key]", "key": "[API key]"}'
    assert mask.text("Authorization: Token k-other-app") == "Authorization: Token [API key]"
    assert mask.curl("curl -X GET -H 'X-Echo: Token k' -k 'http://k.local:8080/v1/background_jobs/k?api_key=k&kk=1'") \
        == "curl -X GET -H 'X-Echo: Token [API key]' -k 'http://k.local:8080/v1/background_jobs/[API key]?" \
           "api_key=[API key]&kk=1'"
    sentinel = "SENTINEL/key+7f3a9c"
    mask = KeyMask([sentinel])
    for echoed in (f"Token {sentinel}", f"?key={quote(sentinel, safe='')}&x", json.dumps({"m": sentinel}),
                   f"Token%20{sentinel}", f"sent:\\n{sentinel}", f"'{sentinel}'"):
        assert sentinel not in mask.text(echoed) and quote(sentinel, safe="") not in mask.text(echoed), echoed
        assert MASK in mask.text(echoed)
    assert KeyMask([]).text("anything") == "anything" and KeyMask([None, ""]).curl("curl x") == "curl x"


def test_junit_holds_every_check_that_ran_passed_or_failed():
    op = "listJobs (GET /v1/background_jobs)"
    report = Report(target="t", spec="kit", operations=[op, "getJob (GET /v1/background_jobs/{job_id})"])
    for check in ("not_a_server_error", "job_status_known"):
        report.ran_check(op, check)
    for check in ("job_status_never_backwards", "running_job_stays_listed"):
        report.ran_check("lifecycle", check)
    report.add(Finding(operation=op, check="job_status_known", tag="documented", expected="e", seen="s"))
    suite = ET.fromstring(report.junit().split("\n", 1)[1])
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {f"{op}: not_a_server_error", f"{op}: job_status_known",
                          "lifecycle: job_status_never_backwards", "lifecycle: running_job_stays_listed",
                          "getJob (GET /v1/background_jobs/{job_id}): no check ran"}
    assert cases[f"{op}: job_status_known"].find("failure") is not None
    assert cases["lifecycle: running_job_stays_listed"].find("failure") is None
    assert cases["lifecycle: job_status_never_backwards"].get("classname") == "userpilot_contract.lifecycle"
    assert suite.get("tests") == "5" and suite.get("failures") == "1" and suite.get("skipped") == "1"


def test_the_summary_counts_known_deviations_not_findings_and_a_pass_lists_the_checks():
    entry = deviations.Deviation(id="vendor-x", spec="vendor", check="response_schema_conformance", reason="r")
    op = "listJobs (GET /v1/background_jobs)"
    report = Report(target="t", spec="vendor", operations=[op])
    for seen in ("null is not of type 'string'", "'x' is not one of 'a', 'b'", "42 is not of type 'string'"):
        report.add(Finding(operation=op, check="response_schema_conformance", tag="documented", expected="e",
                           seen=seen, deviation=entry))
    report.ran_check(op, "response_schema_conformance")
    report.ran_check("lifecycle", "job_status_never_backwards")
    text = report.render()
    assert report.exit_code == 0 and len(report.known) == 3
    assert "1 known deviation(s)" in text, text
    ran = text[text.index("CHECKS RUN"):]
    assert f"{op}: response_schema_conformance" in ran and "lifecycle: job_status_never_backwards" in ran


def test_progress_is_a_live_line_on_a_terminal_and_plain_lines_elsewhere():
    from contract_tests.progress import Progress
    now = [0.0]
    live = io.StringIO()
    progress = Progress(live, live=True, clock=lambda: now[0])
    progress.phase("examples phase")
    for sent in range(1, 50):
        now[0] += 0.05
        progress.sent(sent)
    progress.phase("lifecycle polls")
    progress.close()
    out = live.getvalue()
    assert "\n" not in out and out.count("\r") > 5 and out.endswith("\r")
    assert "examples phase, 0 request(s) sent" in out and "lifecycle polls, 49 request(s) sent" in out
    assert out.rstrip("\r").rsplit("\r", 1)[-1].strip() == ""  # the last write erased the line

    now[0] = 0.0
    plain = io.StringIO()
    progress = Progress(plain, live=False, clock=lambda: now[0])
    progress.phase("fuzzing phase")
    for sent in range(1, 400):
        now[0] += 0.1  # 40 s in all: a line at 15 s and at 30 s
        progress.sent(sent)
    progress.close()
    lines = plain.getvalue().splitlines()
    assert "\r" not in plain.getvalue() and len(lines) == 3, lines
    assert lines[0].startswith("userpilot-mock contract: fuzzing phase, 0 request(s)")
    quiet = io.StringIO()
    progress = Progress(quiet, enabled=False)
    progress.phase("examples phase")
    progress.sent(3)
    progress.close()
    assert quiet.getvalue() == ""


def test_a_request_is_written_as_one_curl_line_with_the_key_as_the_variable():
    import shlex

    import requests

    from contract_tests.target import curl_of
    prepared = requests.Request("POST", "http://127.0.0.1:4010/v1/imports", headers={
        "Authorization": "Token k", "Accept": "l", "User-Agent": "x"}, data=b"a,b\r\n1,2\n").prepare()
    line = curl_of(prepared, api_key="k")
    assert "\n" not in line and "User-Agent" not in line
    assert '-H "Authorization: Token $USERPILOT_API_KEY"' in line and "-H 'Accept: l'" in line
    assert shlex.split(line)[-1] == "http://127.0.0.1:4010/v1/imports"
    big = requests.Request("POST", "http://x/v1/imports", data=bytes(range(256)) * 20).prepare()
    assert "5120-byte body, not shown" in curl_of(big)
    assert curl_of(None) is None


def test_only_the_real_api_is_said_to_need_a_key_as_the_real_api():
    from contract_tests.options import MISSING_KEY_MESSAGE, missing_key_message
    assert missing_key_message() == MISSING_KEY_MESSAGE and "real Userpilot API" in MISSING_KEY_MESSAGE
    stub = missing_key_message("http://127.0.0.1:4010")
    assert "real" not in stub and stub.startswith("http://127.0.0.1:4010 is not a fake")
    assert "USERPILOT_API_KEY" in stub and "--api-key-file" in stub


def test_a_clock_move_is_said_in_days_hours_and_seconds():
    from contract_tests.target import ClockMove, duration
    assert duration(42) == "42 s" and duration(90061) == "1 d 1 h 1 min 1 s (90,061 s)"
    move = ClockMove(before={"now": "x", "frozen": False, "speed": 10.0}, frozen_at=NOW, now=NOW + 86400 + 695,
                     restored=True)
    sentence = move.describe()
    assert "moved forward 1 d 0 h 11 min 35 s" in sentence and "runs again at speed 10, as before" in sentence
    assert "--clock keep" in sentence


def test_the_same_drift_is_counted_not_repeated():
    report = Report(target="t", spec="kit")
    for i in range(3):
        report.add(Finding(operation="op", check="c", tag="assumed", expected="e",
                           seen=f"job {i}: end_time is set (2026-11-29T1{i}:00:00Z) on a queued job"))
    assert len(report.findings) == 1 and report.findings[0].count == 3


# ------------------------------------------------------------------ options

def test_options_read_the_environment(monkeypatch):
    monkeypatch.setenv("USERPILOT_BASE_URL", "http://127.0.0.1:8080/")
    monkeypatch.setenv("USERPILOT_API_KEY", "from-env")
    opts = ContractOptions().validated()
    assert opts.base_url == "http://127.0.0.1:8080" and opts.api_key == "from-env"
    assert "from-env" not in repr(opts)
    monkeypatch.delenv("USERPILOT_BASE_URL")
    monkeypatch.setenv("USERPILOT_ENVIRONMENT", "analytex-eu")
    assert ContractOptions().validated().environment == "analytex-eu"
    assert ContractOptions(base_url="http://x").validated().environment is None


@pytest.mark.parametrize("options", [dict(spec="v2"), dict(environment="us"), dict(assumptions="ignore"),
                                     dict(base_url="ftp://x"), dict(max_examples=0), dict(rate_limit=-1)])
def test_bad_options_are_usage_errors(options):
    with pytest.raises(UsageError):
        ContractOptions(**options).validated()


def test_pytest_options_are_prefixed_and_do_not_clash():
    import argparse

    class Group:
        def __init__(self):
            self.parser = argparse.ArgumentParser()

        def addoption(self, *names, **kwargs):
            self.parser.add_argument(*names, **kwargs)

    class Parser:
        group = Group()

        def getgroup(self, *args):
            return self.group

    parser = Parser()
    add_options(parser)
    names = [a.option_strings[0] for a in parser.group.parser._actions if a.option_strings[0] != "-h"]
    assert names and all(n.startswith("--userpilot-") for n in names)
    # the fixtures' plugin (issue 5) owns these
    assert not {"--userpilot-seed", "--userpilot-api-key", "--userpilot-port"} & set(names)


# ----------------------------------------------------- Schemathesis settings

def test_schemathesis_is_pinned_to_the_minor_series_it_is_tested_with():
    from importlib.metadata import version

    from packaging.requirements import Requirement

    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["contract"]
    (pin,) = [Requirement(r) for r in extra if Requirement(r).name == "schemathesis"]
    assert version("schemathesis") in pin.specifier, f"installed {version('schemathesis')}, pinned {pin}"
    assert any(s.operator == "<" and s.version.count(".") == 1 for s in pin.specifier), \
        f"{pin}: no upper bound on the minor series"


def test_schemathesis_toml_is_shipped_and_explains_every_tuning():
    from contract_tests.runner import config_path
    path = config_path()
    assert path == ROOT / "schemathesis.toml"
    config = tomllib.loads(path.read_text())
    assert config["hooks"] == "contract_tests.hooks"
    assert config["continue-on-failure"] is True
    text = path.read_text()
    for key in ("max-examples", "database", "workers", "object_level_authorization", "[cache]"):
        assert key in text
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"schemathesis.toml" = "contract_tests/schemathesis.toml"' in pyproject


def test_hooks_only_touch_the_userpilot_operations():
    import re

    from contract_tests.hooks import PATH_REGEX
    assert re.search(PATH_REGEX, "/v1/background_jobs/{job_id}") and re.search(PATH_REGEX, "/v1/imports")
    assert not re.search(PATH_REGEX, "/other") and not re.search(PATH_REGEX, "/v2/background_jobs")


PLAIN_OPERATIONS = ([] if "createImport" in HANDLERS
                    else ["--include-operation-id", "listJobs", "--include-operation-id", "getJob"])


def plain_schemathesis_run(url: str):
    return subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", f"{url}/__admin/spec/kit.yaml",
         "--max-examples", "3", "--seed", "4", *PLAIN_OPERATIONS],
        capture_output=True, text=True, cwd=ROOT, timeout=240)


@pytest.mark.slow
def test_plain_schemathesis_run_uses_the_same_settings_and_passes():
    """``schemathesis run <fake>/__admin/spec/kit.yaml`` from the repository
    root picks up schemathesis.toml (the kit's hooks and checks): it passes
    against the fake and fails on a drift only the kit's checks see."""
    from . import drift
    from mock_server.server import MockServer
    with MockServer(seed=4) as server:
        result = plain_schemathesis_run(server.url)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    with drift.serve(drift.broken("end_time_on_running", "demo-api-key")) as url:
        result = plain_schemathesis_run(url)
    assert result.returncode == 1
    assert "job_end_time_matches_status" in result.stdout


def _config_with(tmp_path, extra: str) -> Path:
    """The kit's schemathesis.toml with ``extra`` TOML appended."""
    path = tmp_path / "schemathesis.toml"
    path.write_text((ROOT / "schemathesis.toml").read_text() + "\n" + extra)
    return path


@pytest.mark.slow
def test_a_check_switched_off_in_schemathesis_toml_reports_nothing_in_any_phase(tmp_path, monkeypatch):
    from contract_tests import runner

    from . import drift
    app = drift.broken("duplicate_ids", "k")
    options = ContractOptions(app=app, api_key="k", max_examples=2, seed=1, operations=("listJobs", "getJob"))
    assert "job_ids_unique" in {f.check for f in runner.run_contract(options).findings}
    monkeypatch.setattr(runner, "config_path", lambda: _config_with(tmp_path, "[checks.job_ids_unique]\n"
                                                                              "enabled = false\n"))
    report = runner.run_contract(options)
    # the lifecycle polls read the same list answers: they would report it too
    assert "job_ids_unique" not in {f.check for f in report.findings}, report.render()
    assert report.requests > 20 and not report.errors


def test_job_detail_matches_list_takes_its_immutable_fields_from_schemathesis_toml(tmp_path):
    import schemathesis

    from contract_tests import _schemathesis, runner
    from contract_tests.checks import IMMUTABLE, agreement_problems, job_detail_matches_list

    def schema_of(path):
        return schemathesis.openapi.from_dict(specs.load("kit"), config=_schemathesis.load_config(path, seed=1))

    shipped = tomllib.loads((ROOT / "schemathesis.toml").read_text())["checks"]["job_detail_matches_list"]
    assert tuple(shipped["immutable"]) == IMMUTABLE
    text = (ROOT / "schemathesis.toml").read_text()
    path = tmp_path / "schemathesis.toml"
    path.write_text(text.replace('immutable = ["job_id", "type", "filename", ', 'immutable = ["job_id", '))
    schema = schema_of(path)
    assert _schemathesis.check_options(schema, "job_detail_matches_list")["immutable"][:2] == ["job_id", "file_size"]
    fields = runner._immutable_fields(schema)
    assert fields[:2] == ("job_id", "file_size") and "filename" not in fields
    running = {**GOOD, "status": "processing", "end_time": None}
    renamed = {**running, "filename": "b.csv"}  # a later answer, not at the same instant
    assert agreement_problems(running, renamed, same_instant=False, list_first=True) != []
    assert agreement_problems(running, renamed, same_instant=False, list_first=True, immutable=fields) == []
    with pytest.raises(ValueError, match="list of field names"):
        job_detail_matches_list(immutable="job_id")
    path.write_text(text.replace("immutable = [", "immutible = ["))
    with pytest.raises(UsageError, match=r"\[checks.job_detail_matches_list\]"):
        runner._immutable_fields(schema_of(path))
