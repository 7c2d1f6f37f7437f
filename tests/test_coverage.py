"""The coverage of a client's tests, as the fake observes it: what an answer
counts for (operation, code, injected, body fault, delay), the job statuses,
transitions and outcomes a client saw, the universe derived from the spec and
the families, the report's plain words, merging, bounds, and
``GET``/``DELETE /__admin/coverage``."""
from __future__ import annotations

import copy

import pytest

from mock_server import coverage, create_app, schemas
from mock_server.backend import coverage as recorder_module
from mock_server.backend.lifecycle import OUTCOMES, STATUSES, TRANSITIONS
from mock_server.families import FAMILIES, job_types
from mock_server.handle import UserpilotMock
from mock_server.spec import load_spec, operations
from tests.conftest import NOW, auth

DURATIONS = {"queued": 10, "validating": 10, "processing": 60, "pending_refresh": 10}


@pytest.fixture
def fake():
    app = create_app(seed=3, now=NOW, frozen=True, scenario="empty")
    return app, app.test_client()


def report(client) -> dict:
    answer = client.get("/__admin/coverage")
    assert answer.status_code == 200
    body = answer.get_json()
    assert not schemas.problems("CoverageReport", body)
    return body


def add_job(client, **spec) -> str:
    answer = client.post("/__admin/jobs", json={"api_key": "test-key-1", **spec})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["job_id"]


def advance(client, seconds: float) -> None:
    assert client.post("/__admin/clock", json={"advance_seconds": seconds}).status_code == 200


# --- the universe -------------------------------------------------------------------

def test_the_universe_is_every_documented_code_of_the_kit_spec_and_every_job_type():
    space = coverage.universe(load_spec("kit"), job_types())
    documented = {(op["operationId"], str(code)) for _p, _m, op in operations(load_spec("kit"))
                  for code in op["responses"] if code != "default"}
    assert {(name, code) for name, op in space["operations"].items() for code in op["codes"]} == documented
    assert ("createImport", "409") in documented and ("getJob", "404") in documented
    assert set(space["job_types"]) >= {t for family in FAMILIES for t in family.job_types} | {"export"}
    assert space["statuses"] == list(STATUSES)
    assert space["transitions"] == [f"{a} -> {b}" for a, b in TRANSITIONS]
    assert space["outcomes"] == list(OUTCOMES) == ["completed", "failed at validating", "failed at processing"]
    assert space["faults"][-4:] == ["5xx", "latency", "MALFORMED_RESPONSE_CHUNK", "RANDOM_DATA_THEN_CLOSE"]
    assert "429 with Retry-After" in space["faults"] and "429" not in space["faults"]


def test_a_new_operation_joins_the_universe_by_itself():
    spec = copy.deepcopy(load_spec("kit"))
    spec["paths"]["/v1/things"] = {"post": {"operationId": "makeThing", "responses": {
        "201": {"description": "made"}, "422": {"description": "no"}, "5XX": {"description": "broken"}}}}
    app = create_app(spec=spec, seed=1, now=NOW, frozen=True)
    client = app.test_client()
    space = report(client)["universe"]
    assert space["operations"]["makeThing"] == {"method": "POST", "path": "/v1/things", "codes": ["201", "422", "5XX"]}
    assert "422" in space["faults"]
    assert client.post("/v1/things", headers=auth()).status_code == 201
    body = report(client)
    assert "no test got 422 from makeThing" in body["missed"]
    assert "no test got 5XX from makeThing" in body["missed"]
    client.post("/__admin/faults", json={"operation": "makeThing", "status": 503, "times": 1})
    client.post("/v1/things", headers=auth())
    assert "no test got 5XX from makeThing" not in report(client)["missed"]  # a range: any code in it


def test_the_universe_holds_the_exports_bulk_and_real_time_operations_their_codes_and_job_types():
    space = coverage.universe(load_spec("kit"), job_types())
    ops = space["operations"]
    assert {"409", "413"} <= set(ops["triggerExport"]["codes"])
    assert {"409", "413", "415"} <= set(ops["bulkIdentifyUsers"]["codes"]) & set(ops["bulkIdentifyCompanies"]["codes"])
    assert {"getExportJob", "listExportJobs", "identifyUser", "identifyCompany", "trackEvent",
            "lookupSegments"} <= set(ops)
    assert space["job_types"][:4] == ["import", "export", "bulk_identify_users", "bulk_identify_companies"]
    assert {"400", "401", "404", "409", "413", "415"} <= set(space["faults"])


def test_exports_and_bulk_jobs_are_seen_through_their_own_operations(fake):
    _app, client = fake
    exports = "/api/v1/analytics/exports"
    made = client.post(exports, headers=auth(), json={"format": "ndjson"})
    assert made.status_code == 201
    export = made.get_json()["job_id"]
    assert client.post(exports, headers=auth()).status_code == 409
    assert client.get(exports + "/jobs/" + export, headers=auth()).get_json()["status"] == "queued"
    users = {"users": [{"user_id": f"u-{i}", "metadata": {"plan": "pro"}} for i in range(3)]}
    bulk = client.post("/v1/users/bulk_identify", headers=auth(), json=users)
    assert bulk.status_code == 202 and bulk.get_json()["status"] == "queued"
    assert client.post("/v1/users/bulk_identify", headers=auth(), json=users).status_code == 409
    advance(client, 10_000)
    assert client.get(exports + "/jobs/", headers=auth()).get_json()[0]["status"] == "completed"
    client.get("/v1/background_jobs/" + bulk.get_json()["job_id"], headers=auth())
    body = report(client)
    observed = body["observed"]
    assert observed["statuses"] == {"bulk_identify_users": {"completed": 1, "queued": 1},
                                    "export": {"completed": 1, "queued": 1}}
    assert observed["transitions"] == {"bulk_identify_users": {"queued -> completed": 1},
                                       "export": {"queued -> completed": 1}}
    assert observed["outcomes"] == {"bulk_identify_users": {"completed": 1}, "export": {"completed": 1}}
    assert observed["operations"]["triggerExport"]["codes"] == {"201": {"answers": 1, "injected": 0},
                                                                "409": {"answers": 1, "injected": 0}}
    assert observed["operations"]["bulkIdentifyUsers"]["codes"]["409"] == {"answers": 1, "injected": 0}
    assert observed["faults"]["409"] == {"answers": 2, "injected": 0}
    assert "no test got 409 from triggerExport" not in body["missed"]
    assert "no test got 413 from triggerExport" in body["missed"]
    assert "no test saw a bulk_identify_companies job (no answer showed one)" in body["missed"]
    assert "no test polled an export job from processing to pending_refresh" in body["missed"]


# --- what an answer counts for --------------------------------------------------------

def test_codes_injected_or_not_and_the_faults_they_are(fake):
    _app, client = fake
    job = add_job(client, total_rows=10)
    client.get("/v1/background_jobs", headers=auth())
    client.get("/v1/background_jobs")                                          # 401, the fake's own
    client.get("/v1/background_jobs/bulk:jobs:NX-00000000:nope", headers=auth())  # 404, the fake's own
    client.get("/v1/background_jobs/" + job, headers={**auth(), "Prefer": "code=404"})
    client.post("/__admin/faults", json={"operation": "listJobs", "status": 429, "times": 1})
    client.get("/v1/background_jobs", headers=auth())
    client.post("/__admin/faults", json={"operation": "getJob", "status": 503, "times": 1})
    client.get("/v1/background_jobs/" + job, headers=auth())
    client.get("/no/such/path", headers=auth())
    observed = report(client)["observed"]
    assert observed["operations"]["listJobs"] == {
        "calls": 3, "body_faults": {},
        "codes": {"200": {"answers": 1, "injected": 0}, "401": {"answers": 1, "injected": 0},
                  "429": {"answers": 1, "injected": 1}}}
    assert observed["operations"]["getJob"]["codes"] == {"404": {"answers": 2, "injected": 1},
                                                         "503": {"answers": 1, "injected": 1}}
    assert "createImport" not in observed["operations"]
    assert observed["unrouted"] == {"404": 1}
    assert observed["faults"] == {"401": {"answers": 1, "injected": 0}, "404": {"answers": 2, "injected": 1},
                                  "429 with Retry-After": {"answers": 1, "injected": 1},
                                  "5xx": {"answers": 1, "injected": 1}}


def test_body_faults_and_latency_are_faults_not_codes(fake):
    _app, client = fake
    client.post("/__admin/faults", json={"operation": "listJobs", "fault": "MALFORMED_RESPONSE_CHUNK", "times": 1})
    client.post("/__admin/faults", json={"operation": "getJob", "fault": "RANDOM_DATA_THEN_CLOSE", "times": 1})
    client.post("/__admin/faults", json={"operation": "listJobs", "latency_ms": 1, "times": 1})
    client.get("/v1/background_jobs", headers=auth())
    client.get("/v1/background_jobs/x", headers=auth())
    client.get("/v1/background_jobs", headers=auth())
    observed = report(client)["observed"]
    assert observed["operations"]["listJobs"] == {"calls": 2, "codes": {"200": {"answers": 1, "injected": 0}},
                                                  "body_faults": {"MALFORMED_RESPONSE_CHUNK": 1}}
    assert observed["operations"]["getJob"] == {"calls": 1, "codes": {}, "body_faults": {"RANDOM_DATA_THEN_CLOSE": 1}}
    assert observed["faults"] == {"MALFORMED_RESPONSE_CHUNK": {"answers": 1, "injected": 1},
                                  "RANDOM_DATA_THEN_CLOSE": {"answers": 1, "injected": 1},
                                  "latency": {"answers": 1, "injected": 1}}


def test_rate_limit_and_error_rate_are_injected():
    app = create_app(seed=1, now=NOW, frozen=True, rate_limit="1/hour", error_rate=0.0)
    client = app.test_client()
    client.get("/v1/background_jobs", headers=auth())
    answer = client.get("/v1/background_jobs", headers=auth())
    assert answer.status_code == 429 and answer.headers["Retry-After"]
    assert report(client)["observed"]["operations"]["listJobs"]["codes"]["429"] == {"answers": 1, "injected": 1}
    app = create_app(seed=1, now=NOW, frozen=True, error_rate=1.0)
    client = app.test_client()
    assert client.get("/v1/background_jobs", headers=auth()).status_code == 503
    assert report(client)["observed"]["faults"]["5xx"] == {"answers": 1, "injected": 1}


# --- job statuses, transitions, outcomes -----------------------------------------------

def test_a_transition_is_two_reads_of_one_job(fake):
    _app, client = fake
    job = add_job(client, total_rows=1200, durations=DURATIONS)
    client.get("/v1/background_jobs/" + job, headers=auth())         # queued
    client.get("/v1/background_jobs/" + job, headers=auth())         # queued again: nothing new
    advance(client, 10)
    client.get("/v1/background_jobs", headers=auth())                # validating, from the list
    advance(client, 100)
    client.get("/v1/background_jobs/" + job, headers=auth())         # completed: a jump over two phases
    observed = report(client)["observed"]
    assert observed["statuses"] == {"import": {"completed": 1, "queued": 1, "validating": 1}}
    assert observed["transitions"] == {"import": {"queued -> validating": 1, "validating -> completed": 1}}
    assert observed["outcomes"] == {"import": {"completed": 1}}
    body = report(client)
    assert "no test polled an import job from validating to processing" in body["missed"]
    assert "no test polled an import job from queued to validating" not in body["missed"]
    assert any("validating -> completed x1" in line for line in coverage.text(body))  # shown, outside the universe


def test_outcomes_say_where_a_job_failed(fake):
    _app, client = fake
    early = add_job(client, total_rows=100, outcome="failed", fail_at="validating", durations=DURATIONS)
    late = add_job(client, type="export", total_rows=6000, fail_at="processing", durations=DURATIONS)
    advance(client, 15)
    client.get("/v1/background_jobs", headers=auth())
    advance(client, 1000)
    client.get("/v1/background_jobs/" + early, headers=auth())
    client.get("/v1/background_jobs/" + late, headers=auth())
    observed = report(client)["observed"]
    assert observed["outcomes"] == {"export": {"failed at processing": 1}, "import": {"failed at validating": 1}}
    assert observed["transitions"] == {"export": {"validating -> failed": 1}, "import": {"validating -> failed": 1}}
    missed = report(client)["missed"]
    assert "no test saw an import job fail at processing" in missed
    assert "no test saw an export job complete" in missed
    assert "no test saw an import job fail at validating" not in missed


def test_injected_answers_show_no_job(fake):
    _app, client = fake
    job = add_job(client, total_rows=10)
    client.get("/v1/background_jobs", headers={**auth(), "Prefer": "example=empty"})
    client.get("/v1/background_jobs/" + job, headers={**auth(), "Prefer": "code=404"})
    client.post("/__admin/faults", json={"operation": "getJob", "fault": "MALFORMED_RESPONSE_CHUNK", "times": 1})
    client.get("/v1/background_jobs/" + job, headers=auth())  # the operation ran, the client got half a body
    assert report(client)["observed"]["statuses"] == {}


def test_a_reset_starts_a_new_generation_and_keeps_the_counts(fake):
    _app, client = fake
    job = add_job(client, total_rows=1200, durations=DURATIONS)
    advance(client, 500)
    client.get("/v1/background_jobs/" + job, headers=auth())         # completed
    client.post("/__admin/reset", json={"scenario": "empty"})         # same seed: the same job id comes back...
    assert add_job(client, total_rows=1200, durations=DURATIONS) == job
    client.get("/v1/background_jobs/" + job, headers=auth())         # ...queued: not a completed -> queued step
    observed = report(client)["observed"]
    assert observed["transitions"] == {}
    assert observed["statuses"] == {"import": {"completed": 1, "queued": 1}}
    assert observed["operations"]["getJob"]["calls"] == 2
    assert observed["scenarios"] == {"empty": 1}
    assert client.delete("/__admin/coverage").status_code == 204
    assert report(client)["observed"] == coverage.empty_observed()


def test_scenarios_used_are_counted(fake):
    _app, client = fake
    client.post("/__admin/reset", json={"scenario": "mixed"})
    client.post("/__admin/reset", json={"scenario": None})
    client.post("/__admin/scenario", json={"name": "in_flight"})
    client.post("/__admin/scenario", json={"name": "my own", "jobs": [{"total_rows": 5}]})
    assert report(client)["observed"]["scenarios"] == {"(generated histories)": 1, "in_flight": 1, "mixed": 1,
                                                         "my own": 1}


def test_memory_is_bounded(fake, monkeypatch):
    _app, client = fake
    monkeypatch.setattr(recorder_module, "MAX_TRACKED_JOBS", 5)
    monkeypatch.setattr(recorder_module, "MAX_SCENARIOS", 3)
    client.post("/__admin/reset", json={"jobs": 20})
    client.get("/v1/background_jobs", headers=auth())
    recorder = _app.extensions["userpilot"].backend.coverage
    assert len(recorder._last) == 5
    for i in range(6):
        client.post("/__admin/scenario", json={"name": f"inline {i}", "jobs": []})
    assert report(client)["observed"]["scenarios"] == {"(other)": 4, "empty": 1, "inline 0": 1, "inline 1": 1}
    for i in range(50):  # unknown paths and methods, whatever they are, count under their status
        client.open(f"/x/{i}", method="PATCH", headers=auth())
    assert report(client)["observed"]["unrouted"] == {"404": 50}


def test_a_list_read_again_at_the_same_instant_costs_no_walk(fake, monkeypatch):
    app, client = fake
    client.post("/__admin/reset", json={"jobs": 30})
    client.get("/v1/background_jobs", headers=auth())
    recorder = app.extensions["userpilot"].backend.coverage
    walked = []
    monkeypatch.setattr(recorder, "_seen", lambda jobs, t: walked.append(len(jobs)))
    for _ in range(5):
        client.get("/v1/background_jobs", headers=auth())
    assert walked == []
    add_job(client, total_rows=5)
    client.get("/v1/background_jobs", headers=auth())  # the list changed: read once
    assert walked == [31]


# --- the report ----------------------------------------------------------------------------

def test_the_report_names_what_was_missed_in_plain_words(fake):
    _app, client = fake
    body = report(client)
    assert body["summary"]["exercised"] == 0 and body["summary"]["percent"] == 0.0
    assert body["summary"]["total"] == sum(v["total"] for v in body["summary"]["by_kind"].values())
    missed = body["missed"]
    assert "no test called createImport (POST /v1/imports)" in missed
    assert "no test saw an import job (no answer showed one)" in missed
    assert "no test got a 409 from any operation" in missed
    assert "no test got a 429 with Retry-After (a fault rule's status 429, or --rate-limit)" in missed
    job = add_job(client, total_rows=10)
    client.get("/v1/background_jobs/" + job, headers=auth())
    missed = report(client)["missed"]
    assert "no test got 404 from getJob" in missed and "no test got 401 from getJob" in missed
    assert "no test saw an import job in status pending_refresh" in missed
    assert "no test polled an import job from processing to pending_refresh" in missed


def test_merge_adds_counts_and_unites_universes(fake):
    _app, client = fake
    job = add_job(client, total_rows=1200, durations=DURATIONS)
    client.get("/v1/background_jobs/" + job, headers=auth())
    one = report(client)
    assert coverage.merge([one]) == one
    two = coverage.merge([one, one])
    assert two["observed"]["operations"]["getJob"]["calls"] == 2
    assert two["observed"]["statuses"] == {"import": {"queued": 2}}
    assert two["summary"] == one["summary"]
    other = copy.deepcopy(one)
    other["universe"]["operations"]["makeThing"] = {"method": "POST", "path": "/t", "codes": ["201"]}
    assert coverage.merge([one, other])["summary"]["total"] == one["summary"]["total"] + 1


def test_the_text_lists_operations_jobs_faults_scenarios_and_misses(fake):
    _app, client = fake
    client.post("/__admin/reset", json={"scenario": "mixed"})
    client.get("/v1/background_jobs", headers={**auth(), "Prefer": "code=401"})
    client.get("/v1/background_jobs", headers=auth())
    lines = coverage.text(report(client))
    assert lines[0].startswith("userpilot-mock coverage: ") and lines[0].endswith("%)")
    assert any("listJobs" in line and "200 x1, 401 x1 (1 injected)" in line for line in lines)
    assert any("createImport" in line and "not called" in line for line in lines)
    assert "scenarios: mixed x1" in lines
    assert any(line.startswith("never exercised (") for line in lines)


def test_the_handle_reads_and_clears_it():
    app = create_app(seed=1, now=NOW, frozen=True)
    mock = UserpilotMock.in_process(app)
    app.test_client().get("/v1/background_jobs", headers=mock.headers)
    assert mock.coverage()["observed"]["operations"]["listJobs"]["calls"] == 1
    mock.clear_coverage()
    assert mock.coverage()["observed"]["operations"] == {}
