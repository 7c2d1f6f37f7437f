"""Evidence carried into the fake (docs/evidence.md): cassettes, redaction,
profiles, calibration, diff, replay, drift; against a stand-in for the real
API (tests/standin.py) whose timings and forms are not the defaults."""
from __future__ import annotations

import json
import re

import jsonschema
import pytest
from werkzeug.test import Client

from mock_server import create_app
from mock_server.backend.lifecycle import TERMINAL
from mock_server.backend.profile import DEFAULT_PROFILE, Forms, load_profile
from mock_server.config import SettingError
from mock_server.evidence.calibrate import calibrate, profile_yaml
from mock_server.evidence.diff import run_diff
from mock_server.evidence.har import CassetteError, Exchange, Recorded, load_har, read_cassette, write_cassette
from mock_server.evidence.record import RecordingMiddleware
from mock_server.evidence.replay import ReplayBook
from mock_server.invariants import job_problems, list_problems, transition_problems
from mock_server.times import parse_iso8601

from . import standin

SENTINEL = "SENTINEL-b7f3c9e1d2a8-API-KEY"

#: HAR 1.2's required fields (http://www.softwareishard.com/blog/har-12-spec/), as a JSON Schema.
_RECORD = {"type": "object", "required": ["name", "value"],
           "properties": {"name": {"type": "string"}, "value": {"type": "string"}}}
HAR_1_2 = {
    "type": "object", "required": ["log"],
    "properties": {"log": {
        "type": "object", "required": ["version", "creator", "entries"],
        "properties": {
            "version": {"const": "1.2"},
            "creator": {"type": "object", "required": ["name", "version"]},
            "entries": {"type": "array", "items": {
                "type": "object", "required": ["startedDateTime", "time", "request", "response", "cache", "timings"],
                "properties": {
                    "startedDateTime": {"type": "string",
                                        "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"},
                    "time": {"type": "number", "minimum": 0},
                    "request": {"type": "object", "required": ["method", "url", "httpVersion", "cookies", "headers",
                                                               "queryString", "headersSize", "bodySize"],
                                "properties": {"headers": {"type": "array", "items": _RECORD},
                                               "queryString": {"type": "array", "items": _RECORD},
                                               "cookies": {"type": "array"},
                                               "postData": {"type": "object", "required": ["mimeType"]}}},
                    "response": {"type": "object", "required": ["status", "statusText", "httpVersion", "cookies",
                                                                "headers", "content", "redirectURL", "headersSize",
                                                                "bodySize"],
                                 "properties": {"status": {"type": "integer"},
                                                "headers": {"type": "array", "items": _RECORD},
                                                "content": {"type": "object", "required": ["size", "mimeType"]}}},
                    "cache": {"type": "object"},
                    "timings": {"type": "object", "required": ["send", "wait", "receive"],
                                "properties": {k: {"type": "number", "minimum": -1}
                                               for k in ("send", "wait", "receive")}},
                }}},
        }}},
}


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """A client's polling session against the stand-in, recorded: ``(cassette path, exchanges)``."""
    sink = Recorded()
    standin.wsgi_session(RecordingMiddleware(standin.standin(), sink))
    path = tmp_path_factory.mktemp("evidence") / "standin.har"
    write_cassette(path, sink.exchanges, comment="stand-in session")
    return path, read_cassette(path)


@pytest.fixture(scope="module")
def calibrated(session, tmp_path_factory):
    """The stand-in session calibrated: ``(profile, path of its YAML)``."""
    _path, exchanges = session
    profile = calibrate(exchanges, name="calibrated-standin", sources=["standin.har"])
    path = tmp_path_factory.mktemp("profile") / "calibrated.yaml"
    path.write_text(profile_yaml(profile), encoding="utf-8")
    return profile, path


# ---------------------------------------------------------------- cassettes

def test_a_written_cassette_is_har_1_2(session):
    path, exchanges = session
    document = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.validate(document, HAR_1_2)
    assert document["log"]["creator"]["name"] == "userpilot-mock"
    assert len(document["log"]["entries"]) == len(exchanges) > 100
    first = exchanges[0]
    assert first.method == "GET" and first.status == 200 and first.json()


def test_a_cassette_left_open_by_a_killed_recorder_is_read_to_its_last_exchange(session, tmp_path):
    path, exchanges = session
    text = path.read_text(encoding="utf-8")
    cut = tmp_path / "killed.har"
    cut.write_text(text[: len(text) // 2], encoding="utf-8")
    read = read_cassette(cut)
    assert 0 < len(read) < len(exchanges)
    assert read[-1].body == exchanges[len(read) - 1].body


@pytest.mark.parametrize("content, problem", [
    ("not json", "not JSON"), ('{"log": {}}', "not a HAR 1.2 file: log.version is missing"),
    ('{"log": {"version": "1.2", "creator": {"name": "x", "version": "1"}, "entries": [{}]}}',
     "log.entries[0].startedDateTime is missing"),
])
def test_a_file_that_is_not_a_cassette_is_one_clear_error(tmp_path, content, problem):
    path = tmp_path / "bad.har"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CassetteError, match=re.escape(problem)):
        load_har(path)


def _echo_app(environ, start_response):
    """An answer that echoes the request's secrets back, as a careless server might."""
    body = json.dumps({"job_id": "bulk:jobs:NX-ac54070e:c6f91301-54c1-4df7-a077-b34715c38875",
                       "app_token": "NX-ac54070e", "environment_app_token": "NX-RE213S2",
                       "api_key": SENTINEL, "nested": {"client_secret": "s3cr3t-value-xyz"},
                       "echo": environ.get("HTTP_AUTHORIZATION", "")}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Set-Cookie", f"session={SENTINEL}"),
                              ("X-Api-Key", SENTINEL), ("x-request-id", "abcdefghijklmnopqrst")])
    return [body]


def test_a_cassette_never_holds_the_key_and_keeps_app_tokens(tmp_path):
    sink = Recorded()
    client = Client(RecordingMiddleware(_echo_app, sink))
    client.post(f"/v1/users/bulk_identify?api_key={SENTINEL}&page=2",
                json={"users": [{"user_id": "u1"}], "token": SENTINEL, "password": "hunter2-pass"},
                headers={"Authorization": f"Token {SENTINEL}", "Cookie": f"sid={SENTINEL}"})
    path = tmp_path / "secrets.har"
    write_cassette(path, sink.exchanges)
    text = path.read_text(encoding="utf-8")
    for secret in (SENTINEL, "s3cr3t-value-xyz", "hunter2-pass", "sid="):
        assert secret not in text
    (exchange,) = read_cassette(path)
    assert exchange.header("authorization", response=False) == "Token [Filtered]"
    assert exchange.header("cookie", response=False) is None and exchange.header("set-cookie") is None
    assert ("page", "2") in exchange.query and ("api_key", "[Filtered]") in exchange.query
    answer = exchange.json()
    assert answer["app_token"] == "NX-ac54070e" and answer["environment_app_token"] == "NX-RE213S2"
    assert answer["job_id"].startswith("bulk:jobs:NX-ac54070e:")
    assert answer["api_key"] == "[Filtered]" and answer["nested"]["client_secret"] == "[Filtered]"
    assert exchange.header("x-request-id") == "abcdefghijklmnopqrst"


# ----------------------------------------------------------------- profiles

def test_the_default_forms_stay_the_real_apis():
    app = create_app(now=standin.NOW, frozen=True)
    answer = Client(app).get("/v1/background_jobs", headers={"Authorization": "Token k"})
    assert answer.headers["cache-control"] == "max-age=0, private, must-revalidate"
    assert answer.headers["server"] == "Cowboy" and len(answer.headers["x-request-id"]) == 20
    jobs = answer.get_json()
    assert list_problems(jobs, parse_iso8601(standin.NOW)) == []
    assert all(j["start_time"].endswith(":00Z") or j["start_time"][-4] != "." for j in jobs)
    assert any(j["end_time"] is None for j in jobs)  # running jobs carry end_time: null
    assert Client(app).get("/__admin/health").get_json()["profile"] is None


def _rate(app, key: str, rows: int = 2400) -> float:
    """Rows per minute of a job made now in ``app``, measured from completed_rows."""
    client = Client(app)
    made = client.post("/__admin/jobs", json={"api_key": key, "total_rows": rows}).get_json()
    timeline = {k: parse_iso8601(v) for k, v in made["timeline"].items()}
    return rows / (timeline["pending_refresh"] - timeline["processing"]) * 60


def test_two_fakes_in_one_process_follow_their_own_profiles():
    slow = create_app(profile=standin.PROFILE, now=standin.NOW, frozen=True)
    default = create_app(now=standin.NOW, frozen=True)
    assert _rate(slow, "k") == pytest.approx(600, rel=0.01)
    assert _rate(default, "k") == pytest.approx(1200, rel=0.01)
    slow_answer = Client(slow).get("/v1/background_jobs", headers={"Authorization": "Token k"})
    assert slow_answer.headers["server"] == "nginx" and len(slow_answer.headers["x-request-id"]) == 32
    assert slow_answer.get_json()[0]["start_time"].endswith(".000000Z")
    assert Client(slow).get("/__admin/health").get_json()["profile"] == "stand-in"
    assert _rate(default, "k2") == pytest.approx(1200, rel=0.01)  # the other fake's profile did not leak


@pytest.mark.parametrize("document, problem", [
    ({"profile": 2}, "profile: must be 1"),
    ({"profile": 1, "exports": {}}, "unknown section"),
    ({"profile": 1, "jobs": {"rows_per_minute": {"value": -5}}}, "rows_per_minute: expected a number above 0"),
    ({"profile": 1, "jobs": {"queued_secs": {"value": [1, 2]}}}, "unknown parameter"),
    ({"profile": 1, "forms": {"list_order": {"value": "random"}}}, "one of newest_first, oldest_first"),
    ({"profile": 1, "jobs": {"pending_refresh_seconds": {"value": [9, 3]}}}, "low <= high"),
    ("not-a-file.yaml", "cannot be read"),
])
def test_a_bad_profile_is_a_setting_error_naming_it(document, problem):
    with pytest.raises(SettingError, match=problem) as caught:
        create_app(profile=document)
    assert caught.value.setting == "profile"


def test_a_profile_file_round_trips(calibrated):
    profile, path = calibrated
    again = load_profile(path)
    assert again.document() == profile.document() | {"name": "calibrated-standin"}
    assert again.name == "calibrated-standin"


# --------------------------------------------------------------- calibrate

def test_calibration_measures_the_standins_timings_and_forms(calibrated):
    profile, _path = calibrated
    value = profile.value
    assert value("jobs", "rows_per_minute") == pytest.approx(standin.RATE, rel=0.02)
    low, high = value("jobs", "pending_refresh_seconds")
    assert standin.PENDING_REFRESH - 2 <= low <= high <= standin.PENDING_REFRESH + 2
    assert value("forms", "time_fraction_digits") == standin.FRACTION_DIGITS
    assert value("forms", "headers") == standin.HEADERS
    assert value("forms", "request_id_length") == standin.REQUEST_ID_LENGTH
    assert value("forms", "end_time_while_running") == "null" and value("forms", "list_order") == "newest_first"
    for name in ("rows_per_minute", "pending_refresh_seconds", "queued_seconds"):
        parameter = profile.parameter("jobs", name)
        assert parameter.basis == "measured" and parameter.observations >= 3 and parameter.interval is not None


def test_a_parameter_seen_too_few_times_keeps_its_default_and_says_so(session):
    _path, exchanges = session
    few = calibrate(exchanges[:3])
    rate = few.parameter("jobs", "rows_per_minute")
    assert rate.value == DEFAULT_PROFILE.value("jobs", "rows_per_minute")
    assert rate.basis.startswith("default (assumed)")
    fail_at = few.parameter("jobs", "fail_at")
    assert fail_at.value == DEFAULT_PROFILE.value("jobs", "fail_at") and "not seen" in fail_at.basis
    text = profile_yaml(few)
    assert "too few observations" in text or "not seen" in text


def test_calibration_reads_the_other_forms_failures_types_and_sizes():
    """A second stand-in whose other forms differ (end_time absent while
    running, oldest first, ``+00:00``), whose in-flight jobs fail while
    validating and whose history is mostly imports: calibration finds each."""
    other = {"profile": 1, "name": "other stand-in",
             "jobs": {"job_types": {"value": {"import": 0.8, "export": 0.2}}, "list_length": {"value": 40},
                      "row_bytes": {"value": {".csv": [100, 100], ".ndjson": [300, 300]}}},
             "forms": {"end_time_while_running": {"value": "absent"}, "list_order": {"value": "oldest_first"},
                       "time_zone": {"value": "+00:00"}}}
    scenario = {"name": "failing session", "history": 40,
                "jobs": [{"type": "import", "total_rows": 600 * (i + 1), "started_ago": i, "outcome": "failed",
                          "fail_at": "validating", "filename": f"failing-{i}.csv"} for i in range(4)]}
    sink = Recorded()
    app = create_app(profile=other, now=standin.NOW, frozen=True, scenario=scenario)
    standin.wsgi_session(RecordingMiddleware(app, sink), steps=30)
    profile = calibrate(sink.exchanges)
    value = profile.value
    assert value("forms", "end_time_while_running") == "absent" and value("forms", "list_order") == "oldest_first"
    assert value("forms", "time_zone") == "+00:00"
    assert value("jobs", "fail_at") == {"validating": 1.0, "processing": 0.0}
    assert profile.parameter("jobs", "fail_at").observations == 4
    assert value("jobs", "list_length") == 44
    types = value("jobs", "job_types")
    assert types["import"] > types["export"] and profile.parameter("jobs", "job_types").observations == 44
    assert value("jobs", "row_bytes")[".csv"] == (100, 100)
    share = profile.parameter("jobs", "failure_share")
    assert share.basis == "measured" and share.interval[0] <= share.estimate <= share.interval[1]


def _poll_invariants(app, key: str, forms: Forms, steps: int = 60, step: float = 10) -> list:
    client = Client(app)
    headers = {"Authorization": f"Token {key}"}
    problems, last = [], {}
    for _ in range(steps):
        now = parse_iso8601(client.get("/__admin/clock").get_json()["now"])
        jobs = client.get("/v1/background_jobs", headers=headers).get_json()
        problems += list_problems(jobs, now, forms=forms)
        for job in jobs:
            if job["status"] in TERMINAL and job["job_id"] in last and last[job["job_id"]]["status"] in TERMINAL:
                continue
            single = client.get("/v1/background_jobs/" + job["job_id"], headers=headers).get_json()
            problems += job_problems(single, now, detail=True, forms=forms)
            if job["job_id"] in last:
                problems += transition_problems(last[job["job_id"]], single)
            last[job["job_id"]] = single
        client.post("/__admin/clock", json={"advance_seconds": step})
    return problems


def test_the_calibrated_fake_processes_at_the_standins_rate_and_holds_every_invariant(calibrated):
    profile, path = calibrated
    app = create_app(profile=str(path), now=standin.NOW, frozen=True)
    assert Client(app).get("/__admin/health").get_json()["profile"] == "calibrated-standin"
    assert _rate(app, "new-app") == pytest.approx(standin.RATE, rel=0.10)
    made = Client(app).post("/__admin/jobs", json={"api_key": "new-app", "total_rows": 300}).get_json()
    timeline = {k: parse_iso8601(v) for k, v in made["timeline"].items()}
    assert standin.PENDING_REFRESH - 2 <= timeline["completed"] - timeline["pending_refresh"] <= \
        standin.PENDING_REFRESH + 2
    assert _poll_invariants(app, "new-app", Forms.of(profile)) == []


# --------------------------------------------------------------------- diff

def _kinds(report) -> set[tuple[str, str, str]]:
    return {(d.operation, d.kind, d.where) for d in report.differences}


def test_diff_shows_the_planted_differences_and_no_others(session):
    _path, exchanges = session
    report = run_diff(exchanges)
    found = _kinds(report)
    planted = {(op, kind, where) for op in ("listJobs", "getJob")
               for kind, where in (("header value", "cache-control"), ("header value", "server"),
                                   ("header form", "x-request-id"))}
    planted |= {("listJobs", "format", f"200 []{{{group}}}.{name}")
                for group, name in (("running", "start_time"), ("settled", "start_time"), ("settled", "end_time"))}
    planted |= {("getJob", "format", "200 {running}.start_time")}
    assert found == planted, report.render()
    assert report.exit_code == 1
    text = report.render()
    assert "6 fraction digits" in text and "no-store" in text and "nginx" in text


def test_diff_against_the_calibrated_fake_finds_no_difference(session, calibrated):
    _path, exchanges = session
    _profile, path = calibrated
    report = run_diff(exchanges, profile=str(path))
    assert report.differences == [] and report.exit_code == 0, report.render()


# ------------------------------------------------------------------- replay

def _recorded_statuses(exchanges, job_id: str) -> list[tuple[float, str]]:
    book = ReplayBook(exchanges)
    (key,) = [k for k in book.answers if k[1].endswith(job_id)]
    return [(r.offset, json.loads(r.body)["status"]) for r in book.answers[key]]


def test_replay_serves_a_jobs_polls_in_order_on_the_fakes_clock(session):
    path, exchanges = session
    job_id = next(j["job_id"] for e in exchanges for j in (e.json() if isinstance(e.json(), list) else [])
                  if j["total_rows"] == 1800)
    recorded = _recorded_statuses(exchanges, job_id)
    assert len({s for _o, s in recorded}) >= 3
    app = create_app(replay=str(path), now=standin.NOW, frozen=True)
    client = Client(app)
    headers = {"Authorization": "Token any-key"}
    seen, clock = [], 0.0
    for offset, _status in recorded:
        client.post("/__admin/clock", json={"advance_seconds": offset - clock})
        clock = offset
        answer = client.get("/v1/background_jobs/" + job_id, headers=headers)
        assert answer.status_code == 200
        seen.append(answer.get_json()["status"])
    assert seen == [s for _o, s in recorded]
    assert answer.headers["cache-control"] == "max-age=0, private, must-revalidate"  # the fake's own fixed headers
    assert answer.headers.getlist("server") in ([], ["Cowboy"])
    # a reset starts the replay again: the first recorded answer first
    client.post("/__admin/reset")
    assert client.get("/v1/background_jobs/" + job_id, headers=headers).get_json()["status"] == recorded[0][1]


def test_an_unrecorded_request_gets_the_fakes_own_answer_or_with_strict_a_404_naming_the_nearest(session):
    path, _exchanges = session
    headers = {"Authorization": "Token any-key"}
    lenient = Client(create_app(replay=str(path), now=standin.NOW, frozen=True))
    assert lenient.get("/v1/background_jobs/bulk:jobs:NX-00000000:nope", headers=headers).status_code == 404
    assert lenient.get("/v1/background_jobs", headers=headers).status_code == 200
    strict = Client(create_app(replay=str(path), replay_strict=True, now=standin.NOW, frozen=True))
    answer = strict.get("/v1/background_jobs?page=2", headers=headers)
    assert answer.status_code == 404
    (error,) = answer.get_json()["errors"]
    assert error["error_code"] == "not_recorded" and "nearest recorded request: GET /v1/background_jobs" in \
        error["details"]
    assert strict.get("/v1/background_jobs", headers=headers).status_code == 200


def test_replay_is_a_stage_declared_in_the_pipeline(session):
    path, _exchanges = session

    def stages(app):
        api = app.wsgi_app.api
        return [s.name for s in api.stages]

    assert "replay" not in stages(create_app())
    names = stages(create_app(replay=str(path)))
    assert names.index("replay") == names.index("operation") - 1


@pytest.mark.parametrize("settings, setting", [({"replay": "missing.har"}, "replay"),
                                               ({"replay_strict": True}, "replay_strict")])
def test_a_replay_that_cannot_start_is_a_setting_error(settings, setting):
    with pytest.raises(SettingError) as caught:
        create_app(**settings)
    assert caught.value.setting == setting


# -------------------------------------------------------------------- drift

def _observed(rate_interval=(598.0, 600.0), rate=599.0, status=("queued", "completed")) -> dict:
    exchange = Exchange(method="GET", url="http://x/v1/background_jobs", path="/v1/background_jobs", query=(),
                        request_headers=(), request_body=b"", status=200, reason="OK",
                        response_headers=(("Content-Type", "application/json"),),
                        body=json.dumps([{"job_id": "bulk:jobs:NX-ac54070e:c6f91301-54c1-4df7-a077-b34715c38875",
                                          "status": s, "start_time": "2026-11-29T12:00:00Z"} for s in status]).encode(),
                        started=0.0, elapsed_ms=1.0)
    from mock_server.evidence.shapes import Shape

    timing = {name: {"basis": "default (assumed): not seen"} for name in
              ("queued_seconds", "validating_seconds", "pending_refresh_seconds", "failure_share")}
    timing["rows_per_minute"] = {"estimate": rate, "observations": 5, "interval": list(rate_interval),
                                 "basis": "measured"}
    return {"baseline": 1, "shape": Shape.of([exchange]).document(), "timing": timing}


def test_drift_is_a_new_value_or_a_timing_outside_the_baseline_interval():
    from contract_tests.evidence import drift

    baseline = _observed()
    assert drift(baseline, _observed(rate=601.0)) == []  # within the interval and its noise margin
    found = drift(baseline, _observed(rate=1200.0, status=("queued", "completed", "paused")))
    kinds = {(d.kind, d.what) for d in found}
    assert ("timing", "rows_per_minute") in kinds and ("shape", "value status") in kinds
    assert drift(baseline, _observed(status=("queued",))) == []  # a value not seen again is not drift


def test_values_that_always_vary_never_drift():
    from contract_tests.evidence import drift

    def observed(job_id: str, start: str, request_id: str) -> dict:
        exchange = Exchange(method="GET", url="http://x/v1/background_jobs/" + job_id,
                            path="/v1/background_jobs/" + job_id, query=(), request_headers=(), request_body=b"",
                            status=200, reason="OK", response_headers=(("x-request-id", request_id),
                                                                       ("date", "Sun, 29 Nov 2026 12:00:00 GMT")),
                            body=json.dumps({"job_id": job_id, "status": "completed", "start_time": start,
                                             "elapsed_time": 7}).encode(), started=0.0, elapsed_ms=1.0)
        from mock_server.evidence.shapes import Shape

        return {"baseline": 1, "shape": Shape.of([exchange]).document(), "timing": {}}

    baseline = observed("bulk:jobs:NX-ac54070e:c6f91301-54c1-4df7-a077-b34715c38875", "2026-11-29T12:00:00Z",
                        "F2x9kQ0aB7cD1eF3gH5i")
    other = observed("bulk:jobs:NX-0badf00d:0f3b6a1e-2c4d-4e5f-8a9b-0c1d2e3f4a5b", "2025-01-02T03:04:05Z",
                     "Zz0Yy1Xx2Ww3Vv4Uu5Tt")
    assert drift(baseline, other) == []


def test_the_same_drift_on_several_operations_is_one_finding_naming_them():
    from contract_tests.evidence import drift
    from mock_server.evidence.shapes import Shape

    def observed(server: str) -> dict:
        exchanges = [Exchange(method="GET", url="http://x" + path, path=path, query=(), request_headers=(),
                              request_body=b"", status=200, reason="OK", response_headers=(("server", server),),
                              body=b"[]", started=0.0, elapsed_ms=1.0)
                     for path in ("/v1/background_jobs", "/api/v1/analytics/exports/jobs/") for _ in range(2)]
        return {"baseline": 1, "shape": Shape.of(exchanges).document(), "timing": {}}

    (found,) = drift(observed("nginx"), observed("Cowboy"))
    assert found.operation == "listExportJobs, listJobs" and found.what == "header value server"
    assert (found.baseline, found.seen) == ("nginx", "Cowboy")


# ----------------------------------------------------- the other families

def _get(url: str, key: str | None = SENTINEL, method: str = "GET", body: bytes | None = None):
    import urllib.request

    headers = {"Content-Type": "application/json", **({"Authorization": f"Token {key}"} if key else {})}
    with urllib.request.urlopen(urllib.request.Request(url, data=body, method=method, headers=headers),
                                timeout=30) as answer:
        return answer.status, json.loads(answer.read() or b"null")


def test_the_recorder_sends_the_exports_paths_to_their_host_and_filters_presigned_signatures(tmp_path):
    from mock_server.evidence.record import RecordingServer, routes_for
    from mock_server.server import MockServer

    cassette = tmp_path / "two-hosts.har"
    with MockServer(now=standin.NOW, frozen=True, server="waitress") as analytex, \
            MockServer(now=standin.NOW, frozen=True, server="waitress") as appex:
        _status, made = _get(appex.url + "/api/v1/analytics/exports", method="POST", body=b'{"from": "2026-11-01"}')
        _get(appex.url + "/__admin/clock", key=None, method="POST", body=b'{"advance_seconds": 3600}')
        _status, settled = _get(appex.url + "/api/v1/analytics/exports/jobs/" + made["job_id"])
        signature = settled["presigned_urls"][0]["url"].rsplit("X-Amz-Signature=", 1)[1]
        with RecordingServer(analytex.url, cassette, routes=routes_for(None, appex.url)) as recorder:
            assert _get(recorder.url + "/v1/background_jobs")[0] == 200
            assert _get(recorder.url + "/api/v1/analytics/exports/jobs/")[0] == 200
            assert _get(recorder.url + "/api/v1/analytics/exports/jobs/" + made["job_id"])[0] == 200
    text = cassette.read_text(encoding="utf-8")
    assert SENTINEL not in text and signature not in text
    exchanges = read_cassette(cassette)
    assert [e.url.split("/", 3)[2] for e in exchanges] == [analytex.url.split("/")[2]] + [appex.url.split("/")[2]] * 2
    (url,) = [u["url"] for u in exchanges[-1].json()["presigned_urls"]]
    assert "X-Amz-Signature=%5BFiltered%5D" in url and "/__files/userpilot-exports/" in url
    assert routes_for("analytex", None) == (("/api/v1/analytics/exports", "https://appex.userpilot.io"),)


def _families_session():
    """Every family's GETs recorded against a default fake: the jobs, the
    exports API (a running and a settled export), lookups (a second page by
    its cursor), and a bulk identify and a real-time call."""
    sink = Recorded()
    app = create_app(now=standin.NOW, frozen=True)
    client = Client(RecordingMiddleware(app, sink))
    auth = {"Authorization": "Token families-key"}
    for spec in ({"total_rows": 600_000}, {"total_rows": 1200, "started_ago": 86_400}):
        Client(app).post("/__admin/jobs", json={"api_key": "families-key", "type": "export", **spec})
    # a real-time call whose properties make the events_properties lookup two pages long
    client.post("/v1/track", json={"user_id": "u1", "event_name": "e", "metadata": {f"k{i}": i for i in range(60)}},
                headers=auth)
    exports = client.get("/api/v1/analytics/exports/jobs/", headers=auth).get_json()
    for job in exports:
        client.get("/api/v1/analytics/exports/jobs/" + job["job_id"], headers=auth)
    first = client.get("/api/v1/analytics/exports/lookups/events_properties", headers=auth).get_json()
    cursor = first["metadata"]["cursor"]["after"]
    assert cursor  # more than one page: the diff must send the fake's own cursor for the second
    client.get("/api/v1/analytics/exports/lookups/events_properties", query_string={"after_cursor": cursor},
               headers=auth)
    client.get("/api/v1/analytics/exports/lookups/segments", headers=auth)
    client.get("/v1/background_jobs", headers=auth)
    return sink.exchanges


def test_diff_covers_every_family_and_a_recording_of_the_fake_diffs_clean():
    exchanges = _families_session()
    report = run_diff(exchanges)
    assert report.differences == [] and report.notes == [], report.render()
    assert report.sent >= 6
    shaped = {op for op in ("listExportJobs", "getExportJob", "lookupSegments", "trackEvent", "listJobs")}
    from mock_server.evidence.shapes import Shape

    assert shaped <= set(Shape.of(exchanges).operations)
    other = run_diff(exchanges, profile=standin.PROFILE)
    assert {("getExportJob", "header value", "server"), ("lookupSegments", "header value", "server"),
            ("trackEvent", "header form", "x-request-id")} <= _kinds(other)


# ------------------------------------------------------ rates and the kit

def test_a_calibrated_rate_replaces_the_assumed_throughputs_and_keeps_the_documented_ones():
    app = create_app(now=standin.NOW, frozen=True, profile={"profile": 1, "jobs": {"rows_per_minute": {"value": 600}}})
    backend = app.extensions["userpilot"].backend
    assert backend.rows_per_minute("import") == backend.rows_per_minute("export") == 600
    assert backend.rows_per_minute("bulk_identify_users") == 1200
    assert backend.rows_per_minute("bulk_identify_companies") == 1800
    for job_type, rate in (("import", 600), ("bulk_identify_companies", 1800)):
        answer = Client(app).post("/__admin/jobs", json={"api_key": f"k-{job_type}", "type": job_type,
                                                         "total_rows": 1800})
        timeline = answer.get_json()["timeline"]
        seconds = parse_iso8601(timeline["pending_refresh"]) - parse_iso8601(timeline["processing"])
        assert seconds == 1800 * 60 / rate


def test_the_contract_kit_expects_the_forms_a_fakes_health_names():
    from contract_tests.options import ContractOptions
    from contract_tests.target import open_target
    from mock_server.server import MockServer

    with MockServer(profile=standin.PROFILE, now=standin.NOW, frozen=True, server="waitress") as fake:
        assert _get(fake.url + "/__admin/health", key=None)[1]["forms"]["time_fraction_digits"] == 6
        target = open_target(ContractOptions(base_url=fake.url, api_key="k").validated())
        try:
            assert target.is_fake and target.forms.fraction_digits == 6
            from contract_tests.checks import body_problems

            answer = target.request("GET", "/v1/background_jobs")
            assert body_problems("listJobs", answer.json(), None, True, target.forms) == []
            assert body_problems("listJobs", answer.json(), None, True) != []  # the default forms would fail it
        finally:
            target.close()
