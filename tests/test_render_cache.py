"""Reused answers never go stale: what the fake encodes once and serves
again (an in-flight job within its second, a terminal job forever) always
equals what it would encode now."""
from __future__ import annotations

import re
from urllib.parse import quote

from mock_server import create_app
from mock_server.backend.generate import make_filename
from mock_server.http.render import request_id

from .conftest import KEY, NOW, auth


def _in_flight(client):
    jobs = client.get("/v1/background_jobs", headers=auth()).get_json()
    return [j for j in jobs if j["status"] not in ("completed", "failed")]


def _single(client, job_id):
    response = client.get(f"/v1/background_jobs/{quote(job_id, safe='')}", headers=auth())
    assert response.status_code == 200
    return response.get_json()


def test_an_in_flight_job_moves_on_between_polls(client):
    job = _in_flight(client)[0]
    first = _single(client, job["job_id"])
    assert _single(client, job["job_id"]) == first  # same instant, same answer
    client.post("/__admin/clock", json={"advance_seconds": 1})
    later = _single(client, job["job_id"])
    assert later["elapsed_time"] == first["elapsed_time"] + 1
    listed = {j["job_id"]: j for j in client.get("/v1/background_jobs", headers=auth()).get_json()}
    assert {k: v for k, v in later.items() if k != "completed_rows"} == listed[job["job_id"]]


def test_a_job_polled_until_it_settles_shows_its_final_form(client):
    job = _in_flight(client)[0]
    _single(client, job["job_id"])
    client.get("/v1/background_jobs", headers=auth())
    client.post("/__admin/clock", json={"advance_seconds": 3600})
    final = _single(client, job["job_id"])
    assert final["status"] in ("completed", "failed") and final["end_time"] is not None
    listed = {j["job_id"]: j for j in client.get("/v1/background_jobs", headers=auth()).get_json()}
    assert listed[job["job_id"]]["status"] == final["status"]
    assert listed[job["job_id"]]["end_time"] == final["end_time"]


def test_list_and_single_forms_agree_whichever_is_encoded_first():
    for single_first in (True, False):
        app = create_app(seed=3, now=NOW, frozen=True)
        backend = app.extensions["userpilot"].backend
        t = backend.now()
        job = next(j for j in backend.authenticate(KEY).newest_first() if not j.timeline.is_terminal(t))
        client = app.test_client()

        def listed():
            return {j["job_id"]: j for j in client.get("/v1/background_jobs", headers=auth()).get_json()}

        if single_first:
            single, in_list = _single(client, job.job_id), listed()[job.job_id]
        else:
            in_list = listed()[job.job_id]
            single = _single(client, job.job_id)
        assert "completed_rows" in single and "completed_rows" not in in_list
        assert {k: v for k, v in single.items() if k != "completed_rows"} == in_list


def test_request_ids_are_twenty_url_safe_characters_and_distinct(client):
    ids = {client.get("/v1/background_jobs", headers=auth()).headers["x-request-id"] for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{20}", i) for i in ids | {request_id()})


def test_file_names_depend_only_on_the_seed():
    import random
    names = [[make_filename("import", 1_800_000_000, random.Random(9)) for _ in range(3)] for _ in range(2)]
    assert names[0] == names[1]
    assert re.fullmatch(r"[a-z0-9-]+_[a-z-]+_2027-01-15\.(csv|ndjson)", names[0][0])
    first = create_app(seed=5, now=NOW, frozen=True).test_client()
    second = create_app(seed=5, now=NOW, frozen=True).test_client()
    assert first.get("/v1/background_jobs", headers=auth(KEY)).data == \
        second.get("/v1/background_jobs", headers=auth(KEY)).data
