"""Scenarios: the bundled datasets, the format and its errors, and how they
reach the fake (settings, reset, POST /__admin/scenario, CLI)."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from mock_server import create_app
from mock_server import schemas
from mock_server.times import parse_instant
from mock_server.backend.errors import BadRequest, NotFound
from mock_server.backend.scenarios import (ScenarioError, bundled_names, compile_document,
                                           load_bundled, load_file, parse_text, resolve)
from mock_server.cli import main
from mock_server.invariants import list_problems
from mock_server.resources import data_path

from .conftest import KEY, NOW, OTHER_KEY, auth

T0 = parse_instant(NOW)
ROOT = Path(__file__).resolve().parents[1]


def jobs_of(client, key=KEY):
    response = client.get("/v1/background_jobs", headers=auth(key))
    assert response.status_code == 200
    return response.get_json()


def fake(scenario, **settings):
    app = create_app(now=NOW, frozen=True, scenario=scenario, **settings)
    return app, app.test_client()


def error_of(response):
    body = response.get_json()
    assert set(body) == {"errors"}
    return body["errors"][0]


# --- the bundled scenarios --------------------------------------------------

def test_bundled_names():
    assert {"empty", "mixed", "all_failed", "in_flight", "large"} <= set(bundled_names())


def test_schema_is_valid_and_every_bundled_file_follows_it():
    import yaml
    schema = json.loads(data_path("fixtures", "scenario.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, registry=schemas.registry())
    for name in bundled_names():
        document = yaml.safe_load((ROOT / "fixtures" / "scenarios" / f"{name}.yaml").read_text())
        assert list(validator.iter_errors(document)) == [], name
        assert document.get("description"), f"{name} has no description"


@pytest.mark.parametrize("name, statuses", [
    ("empty", {}),
    ("mixed", {"completed": 3, "failed": 2, "processing": 1, "queued": 1}),
    ("all_failed", {"failed": 6}),
    ("in_flight", {"queued": 1, "validating": 1, "processing": 1, "pending_refresh": 1}),
])
def test_bundled_scenario_contents(name, statuses):
    _app, client = fake(name)
    jobs = jobs_of(client)
    assert Counter(j["status"] for j in jobs) == statuses
    assert list_problems(jobs, T0) == []


def test_in_flight_completes_and_blocks_imports_meanwhile():
    _app, client = fake("in_flight")
    jobs = jobs_of(client)
    assert [j["type"] for j in jobs if j["status"] == "processing"] == ["import"]
    client.post("/__admin/clock", json={"advance_seconds": 720})
    later = jobs_of(client)
    assert {j["status"] for j in later} == {"completed"}
    assert list_problems(later, T0 + 720) == []


@pytest.mark.slow
def test_large_has_ten_thousand_consistent_jobs():
    _app, client = fake("large")
    jobs = jobs_of(client)
    assert len(jobs) == 10_000
    assert Counter(j["type"] for j in jobs) == {"export": 5000, "import": 5000}
    assert sum(j["status"] == "failed" for j in jobs) == 1000
    assert len({j["job_id"] for j in jobs}) == 10_000
    assert "export_events_1.ndjson" in {j["filename"] for j in jobs}
    assert list_problems(jobs, T0) == []
    starts = [parse_instant(j["start_time"]) for j in jobs]
    assert min(starts) >= T0 - 15 * 86400


def test_every_app_gets_its_own_copy_relative_to_its_first_use():
    app, client = fake("mixed")
    first = jobs_of(client, KEY)
    client.post("/__admin/clock", json={"advance_seconds": 3600})
    second = jobs_of(client, OTHER_KEY)
    assert len(first) == len(second) == 7
    assert not {j["job_id"] for j in first} & {j["job_id"] for j in second}
    # the other app was first used an hour later: its jobs are an hour later too
    assert parse_instant(second[0]["start_time"]) - parse_instant(first[0]["start_time"]) == 3600
    assert [j["status"] for j in second] == [j["status"] for j in
                                             jobs_of(create_app(now=NOW, frozen=True, scenario="mixed")
                                                     .test_client(), OTHER_KEY)]


def test_same_seed_same_jobs():
    a = jobs_of(fake("mixed", seed=3)[1])
    b = jobs_of(fake("mixed", seed=3)[1])
    c = jobs_of(fake("mixed", seed=4)[1])
    assert a == b
    assert [j["job_id"] for j in a] != [j["job_id"] for j in c]


# --- the format ---------------------------------------------------------------

def test_repeat_every_and_numbered_filenames():
    doc = {"jobs": [{"repeat": 3, "every": 60, "job": {"filename": "f_{n}.csv", "started_ago": 10,
                                                        "outcome": "completed"}}]}
    _app, client = fake(doc)
    jobs = jobs_of(client)
    assert sorted(j["filename"] for j in jobs) == ["f_1.csv", "f_2.csv", "f_3.csv"]
    starts = sorted(parse_instant(j["start_time"]) for j in jobs)
    assert starts == [T0 - 130, T0 - 70, T0 - 10]


def test_jobs_naming_an_app_go_to_that_app_only():
    doc = {"jobs": [{"filename": "everyone.csv"}, {"filename": "mine.csv", "api_key": KEY}]}
    _app, client = fake(doc)
    assert {j["filename"] for j in jobs_of(client, KEY)} == {"everyone.csv", "mine.csv"}
    assert {j["filename"] for j in jobs_of(client, OTHER_KEY)} == {"everyone.csv"}


def test_history_adds_generated_jobs():
    _app, client = fake({"history": 4, "jobs": [{"filename": "listed.csv"}]})
    jobs = jobs_of(client)
    assert len(jobs) == 5 and "listed.csv" in {j["filename"] for j in jobs}


@pytest.mark.parametrize("document, where, field, fragment", [
    ({"jobs": [{}, {"total_rows": -5}]}, 1, "total_rows", "jobs[1].total_rows: -5 is less than the minimum of 0"),
    ({"jobs": [{"colour": "red"}]}, 0, None, "'colour' was unexpected"),
    ({"jobs": [{"outcome": "completed", "fail_at": "processing"}]}, 0, None,
     "a completed job cannot have fail_at"),
    ({"jobs": [{"api_key": "a", "app_token": "NX-0000000a"}]}, 0, None, "give api_key or app_token, not both"),
    ({"jobs": [{"app_token": "bogus"}]}, 0, "app_token", "jobs[0].app_token: 'bogus' does not match"),
    ({"jobs": [{"repeat": 2, "job": {"app_token": "NX-ABCDEF12"}}]}, 0, "app_token", "does not match"),
    ({"jobs": [{"type": "sync"}]}, 0, "type", "jobs[0].type: 'sync' is not one of"),
    ({"jobs": [{"durations": {"cooking": 3}}]}, 0, "durations", "'cooking' was unexpected"),
    ({"jobs": [{"repeat": 2, "job": {"total_rows": "many"}}]}, 0, "total_rows",
     "jobs[0].job.total_rows: 'many' is not of type 'integer'"),
    ({"jobs": [{"repeat": 3, "every": 2e8, "job": {}}]}, 0, "every", "jobs[0].every: the last copy"),
    ({"jobz": []}, None, None, "'jobs' is a required property"),
])
def test_malformed_documents_name_the_job_and_field(document, where, field, fragment):
    with pytest.raises(ScenarioError) as caught:
        compile_document(document, "my.yaml")
    error = caught.value
    assert error.status == 400 and error.error_code == "invalid_scenario"
    assert error.message.startswith("my.yaml: ")
    assert fragment in error.details  # every problem, the first one in the message too
    assert error.job_index == where
    assert error.field == field


def test_every_problem_is_listed_in_details():
    with pytest.raises(ScenarioError) as caught:
        compile_document({"jobs": [{"total_rows": -1}, {"file_size": "x"}]}, "two.yaml")
    assert "jobs[0].total_rows" in caught.value.details and "jobs[1].file_size" in caught.value.details


def test_a_file_error_names_the_file(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("jobs:\n  - {total_rows: 10}\n  - {started_ago: -1}\n")
    with pytest.raises(ScenarioError) as caught:
        load_file(bad)
    assert caught.value.message.startswith(f"{bad}: jobs[1].started_ago")
    bad.write_text("jobs: [\n  {total_rows: 10\n")
    with pytest.raises(ScenarioError, match=r"broken.yaml: .*not valid YAML at line \d+, column \d+"):
        load_file(bad)
    with pytest.raises(ScenarioError, match="a scenario must be a mapping"):
        parse_text("- 1\n- 2\n", "list.yaml")
    with pytest.raises(BadRequest, match="cannot read scenario file"):
        load_file(tmp_path / "missing.yaml")


def test_resolve_names_documents_and_paths(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("description: mine\njobs: [{filename: a.csv}]\n")
    assert resolve(None) is None
    assert resolve("mixed") is load_bundled("mixed")
    assert resolve(str(path), allow_path=True).name == str(path)
    assert resolve({"name": "x", "jobs": []}).name == "x"
    with pytest.raises(BadRequest, match="not a bundled scenario name"):
        resolve(str(path))
    with pytest.raises(NotFound, match="no bundled scenario named 'nope'"):
        resolve("nope")


# --- through the fake ----------------------------------------------------------

def test_post_scenario_by_name_keeps_the_clock_and_replaces_jobs(client):
    client.post("/__admin/clock", json={"advance_seconds": 100})
    assert len(jobs_of(client)) == 25
    response = client.post("/__admin/scenario", json={"name": "all_failed"})
    assert response.status_code == 200
    assert response.get_json()["name"] == "all_failed" and response.get_json()["jobs"] == 6
    assert client.get("/__admin/clock").get_json()["now"] == "2026-11-29T12:01:40Z"
    assert {j["status"] for j in jobs_of(client)} == {"failed"}
    assert client.get("/__admin/scenario").get_json()["name"] == "all_failed"


def test_post_scenario_inline_document(client):
    response = client.post("/__admin/scenario", json={"description": "two", "jobs": [{}, {}]})
    assert response.status_code == 200 and response.get_json()["name"] == "inline document"
    assert len(jobs_of(client)) == 2


@pytest.mark.parametrize("body, status, code", [
    ({"name": "/etc/passwd"}, 400, "invalid_scenario"),
    ({"name": "../fixtures/scenarios/mixed.yaml"}, 400, "invalid_scenario"),
    ({"name": "nope"}, 404, "scenario_not_found"),
    ({"name": 7}, 400, "invalid_scenario"),
    ({"jobs": [{"total_rows": -1}]}, 400, "invalid_scenario"),
    ({}, 400, "invalid_scenario"),
    ([], 400, "bad_request"),
])
def test_post_scenario_refuses_paths_and_bad_documents(client, body, status, code):
    before = jobs_of(client)
    response = client.post("/__admin/scenario", json=body)
    assert response.status_code == status
    assert error_of(response)["error_code"] == code
    assert jobs_of(client) == before  # nothing changed


def test_post_scenario_error_names_the_job_and_field(client):
    response = client.post("/__admin/scenario", json={"jobs": [{}, {"fail_at": "never"}]})
    assert "jobs[1].fail_at" in error_of(response)["message"]


def test_list_bundled_scenarios(client):
    listed = client.get("/__admin/scenarios").get_json()
    assert {s["name"] for s in listed} >= {"empty", "mixed", "large"}
    assert next(s for s in listed if s["name"] == "large")["jobs"] == 10_000


def test_reset_with_scenario_jobs_and_fallback_to_settings():
    app, client = fake("mixed")
    assert len(jobs_of(client)) == 7
    client.post("/__admin/reset", json={"scenario": "empty"})
    assert jobs_of(client) == []
    client.post("/__admin/reset", json={"scenario": "empty", "jobs": 3})
    assert len(jobs_of(client)) == 3
    client.post("/__admin/reset", json={})
    assert len(jobs_of(client)) == 7  # back to the settings' scenario
    client.post("/__admin/reset", json={"scenario": None})
    assert len(jobs_of(client)) == 25  # generated history
    response = client.post("/__admin/reset", json={"scenario": "nope", "seed": 9})
    assert response.status_code == 404
    assert client.get("/__admin/scenario").get_json()["name"] is None  # unchanged


def test_settings_scenario_may_be_a_path(tmp_path):
    path = tmp_path / "one.yaml"
    path.write_text("jobs: [{filename: only.csv}]\n")
    _app, client = fake(str(path))
    assert [j["filename"] for j in jobs_of(client)] == ["only.csv"]


def test_cli_refuses_a_bad_scenario(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("jobs: [{total_rows: -2}]\n")
    runner = CliRunner()
    result = runner.invoke(main, ["serve", "--port", "0", "--scenario", str(bad)])
    assert result.exit_code == 2
    assert "--scenario" in result.output and "jobs[0].total_rows" in result.output
    result = runner.invoke(main, ["serve", "--port", "0", "--scenario", "nope"])
    assert result.exit_code == 2 and "bundled scenarios: " in result.output


# --- size limit ------------------------------------------------------------------

def test_a_scenario_gives_an_app_at_most_100000_jobs():
    from mock_server.backend.scenarios import MAX_SCENARIO_JOBS
    assert MAX_SCENARIO_JOBS == 100_000
    at_limit = compile_document({"history": 40_000, "jobs": [{"repeat": 59_999, "job": {}}, {}]})
    assert at_limit.job_count + at_limit.history == 100_000
    for document in ({"jobs": [{"repeat": 100_000, "every": 0, "job": {}}] * 2},
                     {"history": 50_000, "jobs": [{"repeat": 50_000, "job": {}}, {}]}):
        with pytest.raises(ScenarioError, match="more than the 100000 allowed"):
            compile_document(document)


def test_post_scenario_refuses_too_many_jobs(client):
    before = jobs_of(client)
    body = {"jobs": [{"repeat": 100000, "every": 0, "job": {}}, {"repeat": 100000, "every": 0, "job": {}}]}
    for path, payload in (("/__admin/scenario", body), ("/__admin/reset", {"scenario": body})):
        response = client.post(path, json=payload)
        assert response.status_code == 400
        error = error_of(response)
        assert error["error_code"] == "invalid_scenario"
        assert "200000 jobs" in error["message"] and "100000 allowed" in error["message"]
    assert jobs_of(client) == before


def test_cli_refuses_a_scenario_with_too_many_jobs(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("history: 1\njobs: [{repeat: 100000, job: {}}]\n")
    result = CliRunner().invoke(main, ["serve", "--port", "0", "--scenario", str(big)])
    assert result.exit_code == 2
    assert "--scenario" in result.output and "100000 allowed" in result.output
    assert result.output.count("\n") <= 4  # click's usage lines, then one error line


# --- app tokens ------------------------------------------------------------------

def test_a_well_shaped_app_token_waits_for_its_app():
    from mock_server.ids import app_token_for
    token = app_token_for(KEY, 20250519)
    _app, client = fake({"jobs": [{"filename": "everyone.csv"}, {"filename": "mine.csv", "app_token": token},
                                  {"filename": "nobody.csv", "app_token": "NX-00000000"}]}, seed=20250519)
    assert {j["filename"] for j in jobs_of(client, KEY)} == {"everyone.csv", "mine.csv"}
    assert {j["filename"] for j in jobs_of(client, OTHER_KEY)} == {"everyone.csv"}


def test_post_scenario_refuses_an_ill_shaped_app_token(client):
    response = client.post("/__admin/scenario", json={"jobs": [{"app_token": "bogus"}]})
    assert response.status_code == 400 and error_of(response)["error_code"] == "invalid_scenario"
    assert "jobs[0].app_token" in error_of(response)["message"]


def test_a_long_non_name_is_not_echoed_in_full(client):
    text = "root:x:0:0:root:/root:/bin/bash\n" * 200
    response = client.post("/__admin/scenario", json={"name": text})
    assert response.status_code == 400
    assert len(error_of(response)["message"]) < 200


@pytest.mark.parametrize("job, message", [
    ({"type": "export", "format": "csv", "filename": "x.ndjson"},
     "jobs[1].filename: 'x.ndjson' does not match: an export's filename names its format (csv: .csv)"),
    ({"type": "import", "format": "csv"}, "format is only for a job of type export"),
    ({"type": "bulk_identify_users", "filename": "u.parquet"}, None),
])
def test_scenario_exports_are_checked_at_load(job, message):
    document = {"jobs": [{"type": "export"}, job]}
    if message is None:
        assert compile_document(document).job_count == 2
        return
    with pytest.raises(ScenarioError) as error:
        compile_document(document, "mine.yaml")
    assert message in str(error.value)


def test_scenario_export_formats_need_their_extra(monkeypatch):
    from mock_server.backend import jobtypes
    monkeypatch.setattr(jobtypes.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ScenarioError, match=r"jobs\[0\]\.format: format parquet is not available"):
        compile_document({"jobs": [{"type": "export", "format": "parquet"}]}, "mine.yaml")
