"""Exports on the appex host: the trigger, Show Jobs and Show Job by Job ID,
on the fake's frozen clock (in-process, Flask test client)."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from mock_server import create_app
from mock_server.export_invariants import (export_job_problems, export_list_problems, export_transition_problems,
                                           views_agree)
from mock_server.times import parse_instant

from .conftest import KEY, NOW, OTHER_KEY, auth, error_item

TRIGGER = "/api/v1/analytics/exports"
JOBS = "/api/v1/analytics/exports/jobs/"
T0 = parse_instant(NOW)
DAY = 86_400


def trigger(client, body=None, key: str = KEY, **kwargs):
    if body is None and not kwargs:
        return client.post(TRIGGER, headers=auth(key))
    return client.post(TRIGGER, headers=auth(key), json=body if body is not None else kwargs)


def show(client, job_id: str, key: str = KEY):
    return client.get(JOBS + job_id, headers=auth(key))


def advance(client, seconds: float) -> None:
    assert client.post("/__admin/clock", json={"advance_seconds": seconds}).status_code == 200


def now(client) -> float:
    return parse_instant(client.get("/__admin/clock").get_json()["now"])


def finish(client, job_id: str) -> dict:
    """Advance the clock to the export's end; its detail then."""
    timeline = client.get(f"/__admin/jobs/{job_id}").get_json()["timeline"]
    end = max(parse_instant(at) for at in timeline.values())
    advance(client, max(0.0, end - now(client)))
    return show(client, job_id).get_json()


# -- the trigger -------------------------------------------------------------------

def test_trigger_answers_201_with_the_documented_fields(client):
    response = trigger(client, {"from": "2026-11-01", "to": "2026-11-29T00:00:00Z", "event_type": ["track"]})
    assert response.status_code == 201, response.get_json()
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    body = response.get_json()
    token = client.get("/__admin/jobs", query_string={"api_key": KEY}).get_json()[0]["app_token"]
    assert body == {"environment_app_token": token, "environment_name": "production", "job_id": body["job_id"],
                    "links": f"http://localhost{JOBS}{body['job_id']}", "start_time": NOW}
    assert body["job_id"].startswith(f"bulk:jobs:{token}:")


def test_a_second_trigger_while_one_runs_is_409_and_makes_nothing(client):
    first = trigger(client).get_json()
    again = trigger(client, format="ndjson")
    assert again.status_code == 409
    assert error_item(again)["message"] == "Export job already in progress"
    assert [j["job_id"] for j in client.get(JOBS, headers=auth()).get_json()] == [first["job_id"]]
    assert trigger(client, key=OTHER_KEY).status_code == 201  # another app is not held up
    finish(client, first["job_id"])
    assert trigger(client).status_code == 201  # a completed export frees the slot


def test_a_failed_export_frees_the_slot(client):
    made = client.post("/__admin/jobs", json={"api_key": KEY, "type": "export", "fail_at": "processing"}).get_json()
    assert trigger(client).status_code == 409
    finish(client, made["job_id"])
    assert show(client, made["job_id"]).get_json()["status"] == "failed"
    assert trigger(client).status_code == 201


def test_the_trigger_needs_a_key(client):
    response = client.post(TRIGGER, json={})
    assert response.status_code == 401
    assert error_item(response)["message"] == "Invalid API key or insufficient permissions"
    assert client.get(JOBS).status_code == 401
    assert client.get(JOBS + "x").status_code == 401


@pytest.mark.parametrize("body, named", [
    ([], "JSON object"),
    ("csv", "JSON object"),
    ({"formats": "csv"}, "'formats'"),
    ({"format": "json"}, "format"),
    ({"from": "yesterday"}, "from"),
    ({"from": 20261101}, "from"),
    ({"to": "2026-13-01"}, "to"),
    ({"from": "2026-11-20", "to": "2026-11-10"}, "from is after to"),
    ({"event_type": "track"}, "event_type"),
    ({"event_type": ["track", "purchase"]}, "'purchase'"),
    ({"user_id": "user-0001"}, "user_id"),
    ({"company_id": [1, 2]}, "company_id"),
    ({"segment_id": 101}, "segment_id"),
    ({"segment_id": "no-such-segment"}, "segment_id"),
    ({"segment_id": None}, "segment_id"),  # null is no way to say "no segment": the spec types it a string
    ({"exclusions": ["page_view"]}, "exclusions"),
    ({"emails": "a@example.com"}, "emails"),
])
def test_a_malformed_filter_is_a_400_naming_it(client, body, named):
    response = trigger(client, body)
    assert response.status_code == 400, response.get_json()
    item = error_item(response)
    assert named in item["message"]
    assert client.get(JOBS, headers=auth()).get_json() == []


@pytest.mark.parametrize("raw, content_type", [
    (b"{", "application/json"), (b"\xff\xfe", "application/json"), (b'{"from": NaN}', "application/json"),
    (b"[" * 100_000, "application/json"), (b"from=2026-11-01", "application/x-www-form-urlencoded"),
])
def test_a_body_that_is_not_json_is_a_400(client, raw, content_type):
    response = client.post(TRIGGER, headers={**auth(), "Content-Type": content_type}, data=raw)
    assert response.status_code == 400
    assert error_item(response)["error_code"] == "invalid_json"


@pytest.mark.parametrize("raw", [b"null", b"[]", b'"from"', b"3"])
def test_a_json_body_that_is_not_an_object_is_a_400(client, raw):
    """JSON null is not "no body" (found by the contract kit on a running clock)."""
    response = client.post(TRIGGER, headers={**auth(), "Content-Type": "application/json"}, data=raw)
    assert response.status_code == 400, response.get_json()
    assert "must be a JSON object" in error_item(response)["message"]
    assert client.get(JOBS, headers=auth()).get_json() == []


def test_a_body_over_1_mib_is_a_413(client):
    response = client.post(TRIGGER, headers={**auth(), "Content-Type": "application/json"},
                           data=b'{"user_id": ["' + b"u" * (1024 * 1024) + b'"]}')
    assert response.status_code == 413
    assert error_item(response)["error"] == "Payload Too Large"


def test_no_body_and_an_empty_object_take_the_defaults(client):
    first = trigger(client)
    assert first.status_code == 201
    job = client.get(f"/__admin/jobs/{first.get_json()['job_id']}").get_json()
    export = job["export"]
    assert export["format"] == "csv" and export["to"] == T0 and export["from"] == T0 - 30 * DAY
    assert job["filename"] == "export_events_2026-11-29.csv" and job["type"] == "export"


# -- on the clock ------------------------------------------------------------------

def test_an_export_moves_through_its_lifecycle_on_the_clock(client):
    job_id = trigger(client, format="ndjson").get_json()["job_id"]
    seen = []
    for _ in range(200):
        job = show(client, job_id).get_json()
        assert export_job_problems(job, now(client)) == [], job
        if seen:
            assert export_transition_problems(seen[-1], job) == []
        seen.append(job)
        if job["status"] == "completed":
            break
        advance(client, 5)
    statuses = [j["status"] for j in seen]
    assert statuses[0] == "queued" and statuses[-1] == "completed"
    assert "processing" in statuses
    done = seen[-1]
    assert done["progress"] == "100" and done["completed_chunks"] == done["all_chunks"] == ["part1"]
    assert [u["filename"] for u in done["presigned_urls"]] == ["export-part1.ndjson"]
    assert all(not j["presigned_urls"] for j in seen[:-1])


def test_show_jobs_lists_the_apps_exports_newest_first_for_3_days(client):
    first = trigger(client).get_json()["job_id"]
    finish(client, first)
    advance(client, DAY)
    second = trigger(client).get_json()["job_id"]
    listed = client.get(JOBS, headers=auth()).get_json()
    assert [j["job_id"] for j in listed] == [second, first]
    assert export_list_problems(listed, now(client)) == []
    assert client.get(JOBS, headers=auth(OTHER_KEY)).get_json() == []
    advance(client, T0 + 3 * DAY - 1 - now(client))  # the first started at T0
    assert show(client, first).status_code == 200
    advance(client, 1)
    gone = show(client, first)
    assert gone.status_code == 404 and error_item(gone)["message"] == "Export job not found"
    assert [j["job_id"] for j in client.get(JOBS, headers=auth()).get_json()] == [second]
    # List Jobs documents no retention: the job is still there
    assert first in [j["job_id"] for j in client.get("/v1/background_jobs", headers=auth()).get_json()]


def test_another_apps_export_is_not_found(client):
    job_id = trigger(client).get_json()["job_id"]
    for key in (OTHER_KEY, KEY + "-x"):
        response = show(client, job_id, key)
        assert response.status_code == 404
        assert error_item(response)["message"] == "Export job not found"
    assert client.get("/v1/background_jobs/" + job_id, headers=auth(OTHER_KEY)).status_code == 404


def test_history_exports_are_listed_by_list_jobs_only(client):
    history = [j for j in client.get("/v1/background_jobs", headers=auth()).get_json() if j["type"] == "export"]
    assert history
    assert client.get(JOBS, headers=auth()).get_json() == []
    assert show(client, history[0]["job_id"]).status_code == 404
    assert trigger(client).status_code == 201  # running history exports never block the trigger


def test_both_views_agree_at_every_instant(client):
    job_id = trigger(client).get_json()["job_id"]
    for _ in range(60):
        export = show(client, job_id).get_json()
        listed = next(j for j in client.get("/v1/background_jobs", headers=auth()).get_json()
                      if j["job_id"] == job_id)
        detail = client.get("/v1/background_jobs/" + job_id, headers=auth()).get_json()
        assert views_agree(export, listed) == [] and views_agree(export, detail) == []
        if export["status"] == "completed":
            break
        advance(client, 7)
    assert export["status"] == "completed"


def test_a_control_api_export_shows_on_both_views(client):
    made = client.post("/__admin/jobs", json={"api_key": KEY, "type": "export", "total_rows": 250_000,
                                              "format": "ndjson"}).get_json()
    assert made["filename"].endswith(".ndjson")
    done = finish(client, made["job_id"])
    assert done["all_chunks"] == ["part1", "part2", "part3"]
    assert [u["filename"] for u in done["presigned_urls"]] == [
        "export-part1.ndjson", "export-part2.ndjson", "export-part3.ndjson"]


@pytest.mark.parametrize("spec, message", [
    ({"type": "import", "format": "csv"}, "format is only for a job of type export"),
    ({"format": "csv"}, "format is only for a job of type export"),
    ({"type": "export", "format": "csv", "filename": "x.ndjson"}, "an export's filename names its format (csv: .csv)"),
    ({"type": "export", "format": "xlsx"}, "format"),
])
def test_control_api_export_specs_are_checked(client, spec, message):
    response = client.post("/__admin/jobs", json={"api_key": KEY, **spec})
    assert response.status_code == 400
    assert message in error_item(response)["message"]


def test_prefer_faults_and_the_journal_cover_the_export_operations(client):
    response = client.post(TRIGGER, headers={**auth(), "Prefer": "code=409"}, json={})
    assert response.status_code == 409 and error_item(response)["message"] == "Export job already in progress"
    assert client.get(JOBS, headers=auth()).get_json() == []
    rule = client.post("/__admin/faults", json={"operation": "getExportJob", "status": 503, "times": 1})
    assert rule.status_code == 201, rule.get_json()
    job_id = trigger(client).get_json()["job_id"]
    assert show(client, job_id).status_code == 503
    assert show(client, job_id).status_code == 200
    client.get(JOBS + "?page=2", headers=auth())
    journal = client.get("/__admin/requests").get_json()
    last = journal[-1]
    assert last["operation"] == "listExportJobs"
    assert [v["name"] for v in last["violations"]] == ["page"]


def test_the_trailing_slash_of_show_jobs_is_part_of_the_path(client):
    assert client.get(JOBS.rstrip("/"), headers=auth()).status_code == 404  # never a redirect
    assert client.get(JOBS, headers=auth()).status_code == 200


# -- property-based: the invariants over seeds and instants ---------------------------------

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), offsets=st.lists(st.integers(0, 4 * DAY), min_size=1, max_size=6),
       fmt=st.sampled_from(["csv", "ndjson"]), rows=st.one_of(st.none(), st.integers(0, 400_000)))
def test_export_invariants_hold_over_seeds_and_instants(seed, offsets, fmt, rows):
    client = create_app(seed=seed, now=NOW, frozen=True, jobs=3).test_client()
    if rows is None:
        job_id = trigger(client, format=fmt).get_json()["job_id"]
    else:
        job_id = client.post("/__admin/jobs", json={"api_key": KEY, "type": "export", "total_rows": rows,
                                                    "format": fmt}).get_json()["job_id"]
    before = None
    for offset in sorted(offsets):
        advance(client, offset - (now(client) - T0))
        t = now(client)
        response = show(client, job_id)
        if t - T0 >= 3 * DAY:
            assert response.status_code == 404
            continue
        job = response.get_json()
        assert export_job_problems(job, t) == []
        assert export_list_problems(client.get(JOBS, headers=auth()).get_json(), t) == []
        listed = client.get("/v1/background_jobs/" + job_id, headers=auth()).get_json()
        assert views_agree(job, listed) == []
        if before is not None:
            assert export_transition_problems(before, job) == []
        before = job


def test_the_same_seed_and_calls_give_the_same_export_whatever_other_keys_do():
    def run(noise: bool):
        client = create_app(seed=9, now=NOW, frozen=True).test_client()
        if noise:
            trigger(client, key=OTHER_KEY, event_type=["page_view"])
            client.post("/__admin/jobs", json={"api_key": OTHER_KEY, "type": "export"})
        answer = trigger(client, event_type=["track", "interaction"]).get_json()
        advance(client, 3600)
        return answer, show(client, answer["job_id"]).get_json(), \
            client.get(f"/__admin/jobs/{answer['job_id']}").get_json()

    assert run(False) == run(True)


# -- the invariants catch what they must --------------------------------------------------

GOOD = {"all_chunks": ["part1", "part2"], "app_token": "NX-0123abcd", "completed_chunks": ["part1", "part2"],
        "current_chunk": "part2", "elapsed_time": "00:01:40", "elapsed_time_seconds": "100",
        "end_time": "2026-11-29T12:01:40Z", "job_id": "bulk:jobs:NX-0123abcd:c6f91301-54c1-4df7-a077-b34715c38875",
        "presigned_urls": [{"filename": "export-part1.csv", "url": "http://x/1"},
                           {"filename": "export-part2.csv", "url": "http://x/2"}],
        "progress": "100", "start_time": "2026-11-29T12:00:00Z", "status": "completed", "type": "export"}


@pytest.mark.parametrize("change, problem", [
    ({"completed_chunks": ["part3"]}, "not in all_chunks"),
    ({"completed_chunks": ["part2"], "status": "processing", "end_time": None, "presigned_urls": [],
      "progress": "50"}, "not the first chunks"),
    ({"presigned_urls": []}, "missing on a completed job"),
    ({"status": "processing", "end_time": None}, "present on a processing job"),
    ({"progress": "99"}, "progress 99"),
    ({"progress": "50%"}, "whole percentage"),
    ({"elapsed_time": "00:01:41"}, "is not elapsed_time_seconds"),
    ({"elapsed_time_seconds": "90"}, "end_time - start_time"),
    ({"end_time": "2026-11-29T11:00:00Z"}, "before start_time"),
    ({"end_time": None}, "null on a completed"),
    ({"status": "pending"}, "not one of"),
    ({"current_chunk": "part9"}, "current_chunk"),
    ({"type": "import"}, "not export"),
    ({"job_id": "export:jobs:xyz789"}, "bulk:jobs"),
])
def test_the_export_invariants_name_each_broken_rule(change, problem):
    assert export_job_problems(GOOD, parse_instant("2026-11-29T12:05:00Z")) == []
    problems = export_job_problems({**GOOD, **change}, parse_instant("2026-11-29T12:05:00Z"))
    assert any(problem in p for p in problems), problems


def test_the_transition_and_agreement_rules():
    running = {**GOOD, "status": "processing", "end_time": None, "presigned_urls": [], "progress": "60",
               "completed_chunks": ["part1"]}
    assert export_transition_problems(running, GOOD) == []
    assert any("backwards" in p for p in export_transition_problems(GOOD, running))
    assert any("progress decreased" in p for p in export_transition_problems(running, {**running, "progress": "10"}))
    listed = {"job_id": GOOD["job_id"], "type": "export", "status": "completed", "start_time": GOOD["start_time"],
              "end_time": GOOD["end_time"], "elapsed_time": 100}
    assert views_agree(GOOD, listed) == []
    assert views_agree(GOOD, {**listed, "status": "failed"}) != []
    twins = [running, {**running, "job_id": GOOD["job_id"][:-1] + "6"}]
    assert any("running at once" in p for p in export_list_problems(twins))
