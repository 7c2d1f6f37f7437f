"""The contract kit covers exports, bulk identify and the real-time calls:
the fake passes (CLI and ``pytest --pyargs contract_tests``), servers that
break the families' rules fail naming the check, the vendor's quirks show
as known deviations, and the exports host is configurable.

The end-to-end runs are in the slow lane; the parts (event schema, filters,
declared authentication, the catalogue of the checks the flows name) are fast.
"""
from __future__ import annotations

import ast
import functools
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from contract_tests import catalogue, deviations, specs
from contract_tests.events import event_problems, filter_problems
from contract_tests.export_checks import CHECK_NAMES as EXPORT_CHECK_NAMES
from contract_tests.operations import OPERATIONS, label, on_exports_host, operation_index
from contract_tests.options import ContractOptions, UsageError
from contract_tests.runner import run_contract
from mock_server import create_app
from mock_server.cli import main
from mock_server.export_invariants import CODES as EXPORT_CODES
from mock_server.spec import operations
from mock_server.times import parse_instant

from . import drift

ROOT = Path(__file__).resolve().parent.parent
KEY = "families-key"
EXPORTS = ("triggerExport", "getExportJob", "listExportJobs")
BULK = ("bulkIdentifyUsers", "bulkIdentifyCompanies")
REALTIME = ("identifyUser", "identifyCompany", "trackEvent")
FAMILIES = EXPORTS + BULK + REALTIME

EVENT = {"app_token": "NX-0123abcd", "event_type": "track", "event_name": "Report Exported", "user_id": "kim",
         "company_id": "acme", "source": "web-client", "inserted_at": "2026-11-29T11:58:16.123456Z",
         "hostname": "app.example.com", "pathname": "/", "screen_width": 1366, "screen_height": 768,
         "device_type": "desktop", "user_agent": "Mozilla/5.0", "operating_system": "Linux", "browser": "Firefox",
         "browser_language": "en-US", "session": "ab12", "country_code": "DE", "metadata": {"format": "pdf"}}


# ------------------------------------------------------------------ the parts (fast)

def test_an_event_of_the_schema_holds_and_each_broken_rule_is_named():
    assert event_problems(EVENT, "NX-0123abcd") == []
    csv_row = {k: ("" if v is None else str(v) if not isinstance(v, dict) else json.dumps(v)) for k, v in EVENT.items()}
    assert event_problems(csv_row) == []  # CSV cells are strings
    for change, problem in [
        ({"event_type": "purchase"}, "event_type 'purchase'"),
        ({"source": "mobile"}, "source 'mobile'"),
        ({"inserted_at": "2026-11-29T11:58:16Z"}, "microseconds"),
        ({"event_type": "page_view"}, "has an event_name"),
        ({"event_type": "interaction", "event_name": "checklist-2-seen"}, "{entity}:{id}:{STATUS}"),
        ({"screen_width": "wide"}, "screen_width"),
        ({"country_code": "DEU"}, "country_code"),
        ({"metadata": "[1]"}, "metadata"),
    ]:
        assert any(problem in p for p in event_problems({**EVENT, **change})), change
    assert "not the export's" in event_problems(EVENT, "NX-ffffffff")[0]
    assert event_problems({k: v for k, v in EVENT.items() if k != "session"}) == ["fields missing: session"]


def test_events_are_held_to_the_trigger_filters():
    start, end = parse_instant("2026-11-29T00:00:00Z"), parse_instant("2026-11-30T00:00:00Z")
    inside = {**EVENT, "inserted_at": "2026-11-29T11:58:16.123456Z"}
    assert filter_problems(inside, {"event_type": ["track"], "user_id": ["kim"]}, start=start, end=end) == []
    assert filter_problems(inside, {"event_type": ["page_view"]}, start=None, end=None)
    assert filter_problems(inside, {"user_id": ["lee"]}, start=None, end=None)
    assert filter_problems(inside, {}, start=end, end=None) and filter_problems(inside, {}, start=None, end=start)


def test_only_the_export_job_gets_of_the_vendor_document_declare_no_key():
    def no_key(name):
        spec = specs.load(name)
        return sorted((m, p) for p, m, _ in operations(spec) if specs.declares_no_key(spec, p, m))
    assert no_key("kit") == []
    assert no_key("vendor") == [("get", "/api/v1/analytics/exports/jobs/"),
                                ("get", "/api/v1/analytics/exports/jobs/{job_id}")]


def test_the_vendor_spec_joins_the_published_documents_as_they_are():
    spec = specs.load("vendor")
    paths = set(spec["paths"])
    assert {"/v1/background_jobs", "/api/v1/analytics/exports", "/v1/users/bulk_identify", "/v1/track"} <= paths
    status = spec["paths"]["/api/v1/analytics/exports/jobs/{job_id}"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]["properties"]["status"]
    assert status == {"type": "string"}  # no enum, as published
    assert "$ref" not in json.dumps(spec["paths"]["/v1/users/bulk_identify"])  # resolved in place
    exported = specs.with_exports_host(specs.load("kit"), "https://appex.example", specs_is_exports)
    assert exported["paths"]["/api/v1/analytics/exports"]["servers"] == [{"url": "https://appex.example"}]
    assert "servers" not in exported["paths"]["/v1/background_jobs"]


def specs_is_exports(path: str) -> bool:
    return on_exports_host(path)


def test_every_operation_is_named_by_the_kit_specs_id_in_both_specs():
    kit = operation_index("kit")
    assert set(kit) == set(OPERATIONS.values()) and len(kit) == 23
    assert set(operation_index("vendor")) <= set(kit)  # the vendor's documents have no ids: the kit's, by path
    assert label("identifyUser", *kit["identifyUser"]) == "identifyUser (POST /v1/identify)"


def test_every_export_code_belongs_to_a_check_of_the_catalogue():
    assert set(catalogue.CHECK_OF_EXPORT_CODE) == set(EXPORT_CODES)
    assert set(catalogue.CHECK_OF_EXPORT_CODE.values()) <= set(catalogue.OWN_CHECKS)
    assert set(EXPORT_CHECK_NAMES) <= set(catalogue.OWN_CHECKS)


def _checks_named_in(path: Path) -> set[str]:
    """The check names a lifecycle module passes to ``ran(...)`` and ``finding(op, check, ...)``."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            args = node.args if node.func.attr == "ran" else node.args[1:2] if node.func.attr in (
                "finding", "refused") else []
            for arg in args:
                for sub in ast.walk(arg):
                    if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                        names.add(sub.value)
    return names


def test_every_check_the_flows_name_is_in_the_catalogue_with_a_tag_and_a_source():
    named = _checks_named_in(ROOT / "contract_tests" / "flows.py")
    assert {"export_events_schema", "bulk_rate_documented", "realtime_names_missing_field"} <= named
    unknown = named - set(catalogue.OWN_CHECKS) - set(catalogue.BUILTIN_CHECKS)
    assert not unknown, unknown


def test_the_kits_additions_to_the_export_jobs_are_tagged_assumed():
    assert catalogue.tag_for("response_schema_conformance", schema_keyword="enum",
                             operation="getExportJob") == catalogue.ASSUMED
    assert catalogue.tag_for("response_schema_conformance", schema_keyword="enum",
                             operation="listJobs") == catalogue.DOCUMENTED
    assert catalogue.tag_for("response_schema_conformance", schema_keyword="pattern") == catalogue.ASSUMED
    assert catalogue.tag_for("ignored_auth", operation="listExportJobs") == catalogue.ASSUMED
    assert catalogue.tag_for("ignored_auth", operation="triggerExport") == catalogue.DOCUMENTED


def test_known_deviations_take_lists_of_specs_checks_and_operations(tmp_path):
    path = tmp_path / "known.yaml"
    path.write_text("deviations: [{id: a, spec: [kit, vendor], check: [c1, c2], operation: [o1, o2], "
                    "reason: because}]")
    (entry,) = deviations.load(path)
    assert entry.for_spec("kit") and entry.for_spec("vendor")
    path.write_text("deviations: [{id: a, spec: [kit, v9], check: c, reason: r}]")
    with pytest.raises(UsageError, match="spec must be one of"):
        deviations.load(path)
    path.write_text("deviations: [{id: a, spec: kit, check: [], reason: r}]")
    with pytest.raises(UsageError, match="'check' is required"):
        deviations.load(path)


def test_the_exports_url_is_an_option_with_an_environment_variable(monkeypatch):
    monkeypatch.setenv("USERPILOT_EXPORTS_URL", "https://appex.example/")
    assert ContractOptions().validated().exports_url == "https://appex.example"
    with pytest.raises(UsageError, match="--exports-url must start with http"):
        ContractOptions(exports_url="appex.example").validated()


# ---------------------------------------------------------------- end to end (slow)

def run(app, **options):
    options.setdefault("max_examples", 2)
    options.setdefault("seed", 1)
    return run_contract(ContractOptions(app=app, api_key=KEY, quiet=True, **options))


@functools.cache
def drifted(kind: str, operations: tuple[str, ...]):
    return run(drift.broken(kind, KEY), operations=operations)


#: drift -> (the operations its run tests, the checks that must name it)
FAMILY_DRIFTS = {
    "export_progress_backwards": (EXPORTS, {"export_progress_never_backwards"}),
    "export_url_before_completion": (EXPORTS, {"export_urls_when_completed"}),
    "export_event_outside_filters": (EXPORTS, {"export_events_match_filters"}),
    "concurrent_exports_accepted": (EXPORTS, {"export_one_at_a_time"}),
    "bulk_faster_than_documented": (BULK, {"bulk_rate_documented"}),
    "concurrent_bulk_accepted": (BULK, {"bulk_one_at_a_time"}),
    "realtime_without_user_id_accepted": (REALTIME, {"realtime_names_missing_field"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(FAMILY_DRIFTS))
def test_a_server_breaking_a_familys_rule_fails_naming_the_check(kind):
    ops, expected = FAMILY_DRIFTS[kind]
    report = drifted(kind, ops)
    assert report.exit_code == 1
    failed = {f.check for f in report.counted}
    assert expected <= failed, f"{kind}: expected {expected}, got {failed}\n{report.render()}"
    text = report.render()
    finding = next(f for f in report.counted if f.check in expected)
    assert finding.expected and finding.seen and f"{finding.check} [" in text


@pytest.mark.slow
def test_the_plain_fake_passes_every_familys_checks_and_the_report_lists_them(tmp_path):
    junit = tmp_path / "junit.xml"
    report = run(None, operations=FAMILIES, junit=str(junit), max_examples=3, seed=4)
    assert report.exit_code == 0, report.render()
    lifecycle = report.ran["lifecycle"]
    assert {"export_progress_never_backwards", "export_chunks_consistent", "export_urls_when_completed",
            "export_times_ordered", "export_events_schema", "export_events_match_filters", "export_files_download",
            "export_holds_sent_data", "export_urls_expire", "export_job_retention", "export_views_agree",
            "export_one_at_a_time", "bulk_rate_documented", "bulk_one_at_a_time", "bulk_job_runs_to_the_end",
            "realtime_accepts_valid_call", "realtime_names_missing_field", "realtime_requires_key"} <= lifecycle
    names = {c.get("name") for c in ET.parse(junit).getroot().iter("testcase")}
    assert "lifecycle: export_events_schema" in names and "lifecycle: bulk_rate_documented" in names
    assert any(n.startswith("getExportJob (GET /api/v1/analytics/exports/jobs/{job_id}): export_") for n in names)
    assert "CHECKS RUN" in report.render() and "bulk_rate_documented" in report.render()


@pytest.mark.slow
def test_the_vendor_quirks_are_known_deviations():
    """--spec vendor: the export job GETs declare no key (seen against the
    fake); a server answering `pending` or integer elapsed_time on the
    exports API follows the vendor's documents, and is reported so."""
    report = run(None, spec="vendor", operations=EXPORTS)
    assert report.exit_code == 0, report.render()
    assert "vendor-export-job-gets-declare-no-auth" in report.known_deviations
    assert {"vendor-export-elapsed-time-string", "vendor-export-status-pending"} <= {
        d.id for d in report.unseen_deviations}

    def quirky(path, document, state):
        for job in drift._exports_of(path, document):
            job["elapsed_time"] = int(job["elapsed_time_seconds"])
        jobs = document if isinstance(document, list) else [document]
        for job in jobs:  # a fresh export is `pending`, on both views
            if isinstance(job, dict) and job.get("status") == "queued" and (
                    job.get("type") == "export" or path.startswith(drift.EXPORT_JOBS)):
                job["status"] = "pending"
        return document
    app = drift.Drift(drift.fake(KEY), body=quirky, prefixes=drift.FAMILY_PREFIXES)
    report = run(app, operations=EXPORTS)
    assert {"vendor-export-elapsed-time-string", "vendor-export-status-pending"} <= set(report.known_deviations), \
        report.render()
    assert report.exit_code == 0, report.render()


@pytest.mark.slow
def test_the_exports_go_to_the_exports_url():
    """A fake whose base URL refuses the exports paths, and the same fake on
    a second socket as the exports host: only --exports-url makes it pass."""
    app = drift.fake(KEY)

    def no_exports(environ, status, headers, raw):
        if environ.get("PATH_INFO", "").startswith("/api/v1/analytics/exports"):
            return "404 NOT FOUND", headers, b'{"errors": []}'
        return status, headers, raw
    base = drift.Drift(app, answer=no_exports, prefixes=("/api/",))
    env = {"USERPILOT_API_KEY": KEY, "USERPILOT_BASE_URL": None, "USERPILOT_ENVIRONMENT": None,
           "USERPILOT_EXPORTS_URL": None}
    args = ["contract", "--max-examples", "2", "--seed", "1", "-q", *[x for op in EXPORTS for x in ("--operation", op)]]
    with drift.serve(base) as url, drift.serve(app) as appex:
        alone = CliRunner().invoke(main, [*args, "--base-url", url], env=env)
        both = CliRunner().invoke(main, [*args, "--base-url", url, "--exports-url", appex], env=env)
    assert alone.exit_code == 1, alone.output
    assert both.exit_code == 0, both.output
    assert f"the exports operations (/api/v1/analytics/exports...) go to {appex}" in both.stdout


@pytest.mark.slow
def test_pytest_pyargs_passes_the_families_against_the_fake(tmp_path):
    junit = tmp_path / "junit.xml"
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("USERPILOT_API_KEY", "USERPILOT_BASE_URL", "USERPILOT_ENVIRONMENT")}
    ops = [x for op in EXPORTS + BULK for x in ("--userpilot-operation", op)]
    result = subprocess.run([sys.executable, "-m", "pytest", "--pyargs", "contract_tests", "-p", "no:cacheprovider",
                             "--userpilot-max-examples", "2", "--userpilot-contract-seed", "1", "--userpilot-quiet",
                             *ops, f"--junitxml={junit}"], capture_output=True, text=True, timeout=300,
                            env=environment, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test_conformance[triggerExport] PASSED" in result.stdout or "passed" in result.stdout
    properties = {(case.get("name"), p.get("name")): p.get("value")
                  for case in ET.parse(junit).getroot().iter("testcase") for p in case.iter("property")}
    assert "export_events_schema" in properties[("test_lifecycle", "checks_ran")]
    assert "export_job_shape" in properties[("test_conformance[getExportJob]", "checks_ran")]


@pytest.mark.slow
def test_operation_selects_what_schemathesis_sends_and_the_new_paths_get_the_key():
    seen: dict[str, set[str]] = {}
    app = drift.fake(KEY)

    def counting(environ, start_response):
        def record(status, headers, exc_info=None):
            seen.setdefault(environ["PATH_INFO"], set()).add(status[:3])
            return start_response(status, headers, exc_info)
        return app(environ, record)
    report = run(counting, operations=("lookupFlows", "identifyUser"), max_examples=2)
    assert report.exit_code == 0, report.render()
    assert {p for p in seen if not p.startswith("/__admin")} <= {
        "/api/v1/analytics/exports/lookups/flows", "/v1/identify", "/v1/background_jobs"}, seen
    # the kit's hook gives them the key (Schemathesis alone would get 401 only), and its probes take it away
    assert {"200", "401"} <= seen["/api/v1/analytics/exports/lookups/flows"]
    assert {"202", "400", "401"} <= seen["/v1/identify"]


@pytest.mark.slow
def test_on_a_clock_the_suite_does_not_move_the_families_are_followed_in_real_time():
    """--clock keep on a fake running 600 times faster than the wall clock:
    the suite's bulk jobs and export are polled in real time (as on the real
    API, within --max-wait) to the end, their files checked."""
    app = create_app(seed=2, api_keys=[KEY], speed=600)
    env = {"USERPILOT_API_KEY": KEY, "USERPILOT_BASE_URL": None, "USERPILOT_ENVIRONMENT": None,
           "USERPILOT_EXPORTS_URL": None}
    with drift.serve(app) as url:
        result = CliRunner().invoke(main, ["contract", "--base-url", url, "--clock", "keep", "--poll-interval", "0.2",
                                           "--max-wait", "60", "--max-examples", "2", "--seed", "2", "-q",
                                           *[x for op in EXPORTS + BULK for x in ("--operation", op)]], env=env)
    assert result.exit_code == 0, result.output
    assert "had not ended" not in result.stdout and "not followed" not in result.stdout, result.stdout
    ran = result.stdout[result.stdout.index("CHECKS RUN"):]
    for check in ("bulk_rate_documented", "bulk_job_runs_to_the_end", "export_events_schema", "export_files_download"):
        assert check in ran, check


@pytest.mark.slow
def test_a_server_that_is_not_a_fake_gets_no_write_of_the_families():
    """Read-only: no bulk identify, real-time call or trigger is sent (not by
    Schemathesis, not by the lifecycle); the app's exports are read."""
    methods = set()
    inner = drift.Drift(drift.fake(KEY), hide_admin=True)

    def recording(environ, start_response):
        methods.add((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        return inner(environ, start_response)
    env = {"USERPILOT_API_KEY": KEY, "USERPILOT_BASE_URL": None, "USERPILOT_ENVIRONMENT": None,
           "USERPILOT_EXPORTS_URL": None}
    with drift.serve(recording) as url:
        result = CliRunner().invoke(main, ["contract", "--base-url", url, "--max-examples", "1", "--seed", "1", "-q",
                                           "--rate-limit", "0", "--poll-interval", "0.1",
                                           *[x for op in FAMILIES for x in ("--operation", op)]], env=env)
    assert result.exit_code == 0, result.output
    assert {m for m, _ in methods} == {"GET"}, sorted(methods)
    assert "read-only: triggerExport" in result.stdout or "read-only:" in result.stdout
    for op in ("triggerExport", "bulkIdentifyUsers", "identifyUser"):
        assert op in result.stdout.split("read-only:", 1)[1].split("\n", 1)[0]
    assert "the app has no exports" in result.stdout


def test_the_rate_check_reads_a_bulk_job_against_the_documented_rate():
    from types import SimpleNamespace

    from contract_tests.flows import Flows
    life = SimpleNamespace(target=SimpleNamespace(), moves_clock=True)
    flows = Flows.__new__(Flows)
    flows.life = life
    start = parse_instant("2026-11-29T12:00:00Z")
    job = {"start_time": "2026-11-29T12:00:00Z", "status": "processing", "total_rows": 600, "completed_rows": 300}
    assert flows.rate_problems("bulkIdentifyUsers", job, start + 15) == []      # 1,200 a minute: 300 in 15 s
    assert flows.rate_problems("bulkIdentifyUsers", job, start + 10)            # 300 in 10 s: too fast
    assert flows.rate_problems("bulkIdentifyCompanies", job, start + 10) == []  # 1,800 a minute: 300 in 10 s
    done = {**job, "status": "completed", "completed_rows": 600, "end_time": "2026-11-29T12:00:20Z"}
    assert "more than 1,200 a minute" in flows.rate_problems("bulkIdentifyUsers", done, None)[0]
    assert flows.rate_problems("bulkIdentifyUsers", {**done, "end_time": "2026-11-29T12:00:31Z"}, None) == []
    assert flows.rate_problems("bulkIdentifyUsers", job, start - 3600) == []  # a server's clock behind its times
