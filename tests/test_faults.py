"""Faults on demand, in-process: Prefer, fault rules and their control API,
--error-rate, rate limits, and the parsers of the serve options."""
from __future__ import annotations

import time

import pytest
from click.testing import CliRunner

from mock_server import create_app
from mock_server.backend.faults import parse_latency, parse_rate_limit
from mock_server.cli import main
from mock_server.spec import load_spec

from .conftest import KEY, NOW, OTHER_KEY, auth, error_item

LIST = "/v1/background_jobs"


def add_rule(client, **rule):
    response = client.post("/__admin/faults", json=rule)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def statuses(client, n, path=LIST, key=KEY):
    return [client.get(path, headers=auth(key)).status_code for _ in range(n)]


# -- Prefer ----------------------------------------------------------------------
def test_prefer_code_429_has_retry_after(client):
    response = client.get(LIST, headers={**auth(), "Prefer": "code=429"})
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 0
    assert response.headers["Preference-Applied"] == "code=429"
    assert error_item(response)["error"] == "Too Many Requests"
    assert client.get(LIST, headers=auth()).status_code == 200  # that request only


def test_prefer_code_401_answers_the_documented_response(client):
    response = client.get(LIST, headers={**auth(), "Prefer": "code=401"})
    assert response.status_code == 401
    assert error_item(response)["message"] == "Invalid API key or insufficient permissions"


def test_prefer_code_409_uses_the_documented_description(client):
    response = client.post("/v1/imports", headers={**auth(), "Prefer": "code=409"})
    assert response.status_code == 409
    assert error_item(response)["message"] == "Import job already in progress"


def test_prefer_needs_authentication_first(client):
    response = client.get(LIST, headers={"Prefer": "code=503"})
    assert response.status_code == 401
    assert "injected" not in error_item(response)["details"]


@pytest.mark.parametrize("code", [404, 500, 503, 599])
def test_prefer_undocumented_error_code_is_a_generic_error(client, code):
    response = client.get(LIST, headers={**auth(), "Prefer": f"code={code}"})
    assert response.status_code == code
    assert "Prefer: code=" in error_item(response)["details"]


def test_prefer_405_carries_allow(client):
    response = client.get(LIST, headers={**auth(), "Prefer": "code=405"})
    assert response.status_code == 405 and response.headers["Allow"] == "GET, HEAD"  # as the real 405 of the path


def test_prefer_documented_success_code_runs_the_operation(client):
    plain = client.get(LIST, headers=auth())
    preferred = client.get(LIST, headers={**auth(), "Prefer": "code=200"})
    assert preferred.status_code == 200 and preferred.get_json() == plain.get_json()


@pytest.mark.parametrize("prefer", ["code=banana", "code=", "code=4040", "code=201", "code=302",
                                    "code=100", "=5", "foo bar", 'code="503', "example=", ";x"])
def test_bad_preference_is_a_400_naming_it(client, prefer):
    response = client.get(LIST, headers={**auth(), "Prefer": prefer})
    assert response.status_code == 400
    item = error_item(response)
    assert "Prefer" in item["message"] or "Prefer" in item["details"]


@pytest.mark.parametrize("prefer, status", [
    ('code="503"', 503),
    ("CODE=503", 503),
    ("return=minimal, code=404", 404),
    ("code=404; foo=bar, respond-async", 404),
    ("code=404, code=500", 404),  # the first wins (RFC 7240)
    ("dynamic=true", 200),  # Prism's, ignored: unknown preferences are ignored
    ("return=minimal", 200),
])
def test_prefer_grammar(client, prefer, status):
    assert client.get(LIST, headers={**auth(), "Prefer": prefer}).status_code == status


def test_query_code_fallback(client):
    response = client.get(f"{LIST}?__code=503", headers=auth())
    assert response.status_code == 503
    assert "__code=503" in error_item(response)["details"]
    assert client.get(f"{LIST}?__code=banana", headers=auth()).status_code == 400
    # the header wins over the query
    assert client.get(f"{LIST}?__code=503", headers={**auth(), "Prefer": "code=404"}).status_code == 404


def test_prefer_example_the_kit_spec_lacks_lists_none(client):
    response = client.get(LIST, headers={**auth(), "Prefer": "example=empty"})
    assert response.status_code == 400
    item = error_item(response)
    assert "empty" in item["message"] and "none" in item["details"]


@pytest.fixture
def example_client():
    spec = load_spec("kit")
    media = spec["paths"]["/v1/background_jobs"]["get"]["responses"]["200"]["content"]["application/json"]
    media["examples"] = {"empty": {"summary": "no jobs", "value": []},
                         "one": {"$ref": "#/components/examples/OneJob"}}
    spec["components"]["examples"] = {"OneJob": {"value": [{"job_id": "bulk:jobs:NX-ac54070e:x"}]}}
    error = spec["paths"]["/v1/background_jobs"]["get"]["responses"]["401"]["content"]["application/json"]
    error["examples"] = {"rotated": {"value": {"errors": [{"details": "d", "error": "Unauthorized",
                                                           "error_code": "key_rotated", "message": "m"}]}}}
    return create_app(seed=1, now=NOW, frozen=True, spec=spec).test_client()


def test_prefer_example_picks_a_named_example(example_client):
    response = example_client.get(LIST, headers={**auth(), "Prefer": "example=empty"})
    assert response.status_code == 200 and response.get_json() == []
    response = example_client.get(f"{LIST}?__example=one", headers=auth())
    assert response.get_json() == [{"job_id": "bulk:jobs:NX-ac54070e:x"}]
    response = example_client.get(LIST, headers={**auth(), "Prefer": "example=rotated"})
    assert response.status_code == 401 and error_item(response)["error_code"] == "key_rotated"
    response = example_client.get(LIST, headers={**auth(), "Prefer": "code=401, example=rotated"})
    assert response.status_code == 401
    # a documented 401 with named examples answers the first one for code=401
    response = example_client.get(LIST, headers={**auth(), "Prefer": "code=401"})
    assert error_item(response)["error_code"] == "key_rotated"


def test_prefer_unknown_example_lists_the_names_it_has(example_client):
    response = example_client.get(LIST, headers={**auth(), "Prefer": "example=nope"})
    assert response.status_code == 400
    item = error_item(response)
    assert "nope" in item["message"]
    assert all(name in item["details"] for name in ("empty", "one", "rotated"))
    response = example_client.get(LIST, headers={**auth(), "Prefer": "code=200, example=rotated"})
    assert response.status_code == 400 and "rotated" not in error_item(response)["details"]


# -- fault rules ---------------------------------------------------------------
def test_rule_lifecycle_and_listing_by_app_token(client, backend):
    rule = add_rule(client, operation="listJobs", api_key=KEY, status=503, times=2)
    assert rule["id"] and rule["app_token"] == backend.token_for(KEY)
    assert statuses(client, 3) == [503, 503, 200]
    listed = client.get("/__admin/faults")
    assert KEY not in listed.get_data(as_text=True)
    [view] = listed.get_json()
    assert view["id"] == rule["id"] and view["remaining"] == 0 and view["hits"] == 2
    assert client.delete(f"/__admin/faults/{rule['id']}").status_code == 204
    assert client.get("/__admin/faults").get_json() == []
    response = client.delete(f"/__admin/faults/{rule['id']}")
    assert response.status_code == 404
    error_item(response)


def test_rule_by_method_and_path_and_operation_scope(client):
    add_rule(client, operation="GET /v1/background_jobs/{job_id}", status=500)
    assert statuses(client, 2) == [200, 200]
    assert client.get(f"{LIST}/anything", headers=auth()).status_code == 500
    add_rule(client, operation="get /v1/background_jobs", status=502, times=1)
    assert statuses(client, 2) == [502, 200]


def test_rule_without_operation_or_app_hits_everything(client):
    add_rule(client, status=503, times=2)
    assert client.get(LIST, headers=auth(KEY)).status_code == 503
    assert client.post("/v1/imports", headers=auth(OTHER_KEY)).status_code == 503
    assert statuses(client, 1) == [200]


def test_rule_status_uses_documented_response_and_retry_after(client):
    add_rule(client, operation="listJobs", status=429, times=1)
    response = client.get(LIST, headers=auth())
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"
    assert "fault rule fault-" in error_item(response)["details"]
    add_rule(client, operation="listJobs", status=503, retry_after=7, times=1)
    response = client.get(LIST, headers=auth())
    assert response.status_code == 503 and response.headers["Retry-After"] == "7"
    add_rule(client, operation="listJobs", status=401, times=1)
    response = client.get(LIST, headers=auth())
    assert error_item(response)["message"] == "Invalid API key or insufficient permissions"


def test_faults_never_leak_across_apps(client):
    add_rule(client, operation="listJobs", api_key=KEY, status=500)
    assert statuses(client, 2, key=OTHER_KEY) == [200, 200]
    assert statuses(client, 2, key=KEY) == [500, 500]


def test_rule_by_app_token(client, backend):
    client.get(LIST, headers=auth(OTHER_KEY))
    add_rule(client, operation="listJobs", app_token=backend.token_for(OTHER_KEY), status=500)
    assert statuses(client, 1, key=OTHER_KEY) == [500]
    assert statuses(client, 1, key=KEY) == [200]


def test_reset_forgets_rules(client):
    add_rule(client, operation="listJobs", status=500)
    assert statuses(client, 1) == [500]
    assert client.post("/__admin/reset").status_code == 200
    assert client.get("/__admin/faults").get_json() == []
    assert statuses(client, 1) == [200]


def test_delete_all_rules(client):
    add_rule(client, operation="listJobs", status=500)
    add_rule(client, operation="getJob", status=500)
    assert client.delete("/__admin/faults").status_code == 204
    assert client.get("/__admin/faults").get_json() == []
    assert statuses(client, 1) == [200]


def test_first_rule_with_an_outcome_wins_and_latency_rules_add_up(client):
    delay = add_rule(client, operation="listJobs", latency_ms=0)
    first = add_rule(client, operation="listJobs", status=502, times=1)
    second = add_rule(client, operation="listJobs", status=503, times=1)
    assert statuses(client, 3) == [502, 503, 200]
    views = {v["id"]: v for v in client.get("/__admin/faults").get_json()}
    assert views[delay["id"]]["hits"] == 3
    assert views[first["id"]]["hits"] == 1 and views[second["id"]]["hits"] == 1


def test_rule_latency_shows_in_measured_time(client):
    add_rule(client, operation="listJobs", latency_ms=[40, 60], times=1)
    t0 = time.perf_counter()
    assert statuses(client, 1) == [200]
    assert time.perf_counter() - t0 >= 0.040


def test_body_faults_in_process(client):
    add_rule(client, operation="listJobs", fault="MALFORMED_RESPONSE_CHUNK", times=1)
    response = client.get(LIST, headers=auth())
    assert response.status_code == 200
    assert len(response.get_data()) < int(response.headers["Content-Length"])
    add_rule(client, operation="listJobs", fault="RANDOM_DATA_THEN_CLOSE", times=1)
    response = client.get(LIST, headers=auth())
    assert response.status_code == 200 and response.get_json(silent=True) is None
    assert statuses(client, 1) == [200]


@pytest.mark.parametrize("rule", [
    {"operation": "listJobs", "status": 503, "colour": "red"},
    {"operation": "listJobs", "status": 503, "times": 1, "probability": 0.5},
    {"operation": "listJobs", "status": 200},
    {"operation": "listJobs", "status": 399},
    {"operation": "listJobs", "status": 600},
    {"operation": "listJobs", "status": "503"},
    {"operation": "listJobs", "status": True},
    {"operation": "listJobs", "status": 503.5},
    {"operation": "deleteEverything", "status": 503},
    {"operation": "DELETE /v1/background_jobs", "status": 503},
    {"operation": 7, "status": 503},
    {"operation": "listJobs"},
    {},
    {"operation": "listJobs", "status": 503, "api_key": KEY, "app_token": "NX-00000000"},
    {"operation": "listJobs", "status": 503, "api_key": ""},
    {"operation": "listJobs", "status": 503, "app_token": "not-a-token"},
    {"operation": "listJobs", "status": 503, "times": 0},
    {"operation": "listJobs", "status": 503, "times": -1},
    {"operation": "listJobs", "status": 503, "probability": 1.5},
    {"operation": "listJobs", "status": 503, "probability": "high"},
    {"operation": "listJobs", "retry_after": 5, "latency_ms": 10},
    {"operation": "listJobs", "status": 503, "retry_after": -1},
    {"operation": "listJobs", "latency_ms": -5},
    {"operation": "listJobs", "latency_ms": [50, 10]},
    {"operation": "listJobs", "latency_ms": [1, 2, 3]},
    {"operation": "listJobs", "latency_ms": "100ms"},
    {"operation": "listJobs", "latency_ms": 10_000_000},
    {"operation": "listJobs", "fault": "CONNECTION_RESET_BY_PEER"},
    {"operation": "listJobs", "fault": "MALFORMED_RESPONSE_CHUNK", "status": 503},
])
def test_bad_rules_are_400(client, rule):
    response = client.post("/__admin/faults", json=rule)
    assert response.status_code == 400, response.get_json()
    item = error_item(response)
    if "api_key" in rule and rule["api_key"]:
        assert rule["api_key"] not in item["message"] + item["details"]
    assert client.get("/__admin/faults").get_json() == []


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b'"rule"', b"\xff\xfe"])
def test_bad_rule_bodies_are_400(client, body):
    response = client.post("/__admin/faults", data=body, content_type="application/json")
    assert response.status_code == 400
    error_item(response)


def test_api_key_outside_accepted_keys_is_refused():
    client = create_app(seed=1, now=NOW, frozen=True, api_keys=[KEY]).test_client()
    response = client.post("/__admin/faults", json={"api_key": "someone-else", "status": 500})
    assert response.status_code == 400
    assert "someone-else" not in response.get_data(as_text=True)


def test_adding_a_rule_by_api_key_creates_no_app(client, backend):
    add_rule(client, operation="listJobs", api_key=KEY, latency_ms=0)
    assert backend.token_for(KEY) not in backend.apps


def test_faults_control_api_is_documented():
    paths = load_spec("admin")["paths"]
    assert set(paths["/__admin/faults"]) >= {"get", "post", "delete"}
    assert "delete" in paths["/__admin/faults/{fault_id}"]


# -- probability and the seed ------------------------------------------------------
def _probability_run(seed):
    client = create_app(seed=seed, now=NOW, frozen=True).test_client()
    add_rule(client, operation="listJobs", status=503, probability=0.5)
    return statuses(client, 40)


def test_probability_rules_are_reproducible_with_the_seed():
    first = _probability_run(1)
    assert first == _probability_run(1)
    assert 5 < first.count(503) < 35
    assert first != _probability_run(2)


def test_reset_reseeds_the_fault_generator():
    client = create_app(seed=1, now=NOW, frozen=True).test_client()
    add_rule(client, operation="listJobs", status=503, probability=0.5)
    first = statuses(client, 20)
    client.post("/__admin/reset")
    add_rule(client, operation="listJobs", status=503, probability=0.5)
    assert statuses(client, 20) == first


def test_adding_rules_never_changes_the_jobs():
    plain = create_app(seed=3, now=NOW, frozen=True).test_client()
    faulty = create_app(seed=3, now=NOW, frozen=True).test_client()
    add_rule(faulty, operation="getJob", api_key=KEY, status=503, probability=0.5)
    add_rule(faulty, operation="listJobs", api_key=KEY, latency_ms=[0, 1])
    add_rule(faulty, operation="listJobs", status=500, probability=0.0)
    for _ in range(3):
        faulty.get(f"{LIST}/x", headers=auth())
    body = plain.get(LIST, headers=auth()).get_data()
    assert faulty.get(LIST, headers=auth()).get_data() == body
    plain.post("/v1/imports", headers=auth())
    faulty.post("/v1/imports", headers=auth())
    assert faulty.get(LIST, headers=auth()).get_data() == plain.get(LIST, headers=auth()).get_data()


# -- --error-rate and --latency -------------------------------------------------------
def test_error_rate_one_answers_503_in_the_error_shape():
    client = create_app(seed=1, now=NOW, frozen=True, error_rate=1.0).test_client()
    response = client.get(LIST, headers=auth())
    assert response.status_code == 503
    assert "--error-rate" in error_item(response)["details"]
    assert client.get("/__admin/health").status_code == 200


def test_error_rate_is_seeded():
    def run(seed):
        client = create_app(seed=seed, now=NOW, frozen=True, error_rate=0.3).test_client()
        return statuses(client, 30)
    assert run(5) == run(5)
    assert 0 < run(5).count(503) < 30


def test_server_latency_delays_api_answers_not_the_control_api():
    client = create_app(seed=1, now=NOW, frozen=True, latency="30-40ms").test_client()
    t0 = time.perf_counter()
    assert client.get(LIST).status_code == 401  # even a 401 is delayed
    assert time.perf_counter() - t0 >= 0.030


# -- rate limits --------------------------------------------------------------------
class FakeMonotonic:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_rate_limit_per_app():
    app = create_app(seed=1, now=NOW, frozen=True, rate_limit="10/min")
    client = app.test_client()
    clock = FakeMonotonic()
    app.extensions["userpilot"].backend.faults.limiter.monotonic = clock
    assert statuses(client, 10) == [200] * 10
    clock.now += 30
    response = client.get(LIST, headers=auth())
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "30"
    assert error_item(response)["error_code"] == "rate_limited"
    assert statuses(client, 3, key=OTHER_KEY) == [200] * 3  # another app is unaffected
    clock.now += 29.5
    assert statuses(client, 1) == [429]  # refused calls do not count
    clock.now += 0.6
    assert statuses(client, 10) == [200] * 10
    assert statuses(client, 1) == [429]
    client.post("/__admin/reset")
    assert statuses(client, 10) == [200] * 10


def test_rate_limit_comes_before_prefer_and_after_auth():
    client = create_app(seed=1, now=NOW, frozen=True, rate_limit="2/s").test_client()
    assert client.get(LIST, headers={**auth(), "Prefer": "code=500"}).status_code == 500
    assert client.get(LIST).status_code == 401  # unauthenticated: not counted
    assert statuses(client, 1) == [200]
    assert client.get(LIST, headers={**auth(), "Prefer": "code=500"}).status_code == 429


# -- settings and the CLI -----------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("50-200ms", (50.0, 200.0)), ("100ms", (100.0, 100.0)), ("0.1s", (100.0, 100.0)),
    ("0.05-0.2s", (50.0, 200.0)), (" 5 - 10 MS ", (5.0, 10.0)),
    (25, (25.0, 25.0)), ((1, 2), (1.0, 2.0)), (None, None), ("", None), ("0ms", None),
])
def test_parse_latency(text, expected):
    assert parse_latency(text) == expected


@pytest.mark.parametrize("text", ["fast", "200-50ms", "-5ms", "10m", "5-", "1e3ms", "61s", True, [1], "100", "5-10"])
def test_parse_latency_rejects(text):
    with pytest.raises(ValueError):
        parse_latency(text)


def test_a_latency_without_its_unit_is_refused_naming_both_readings():
    with pytest.raises(ValueError, match="needs its unit: 5ms or 5s"):
        parse_latency("5")
    result = CliRunner().invoke(main, ["serve", "--port", "0", "--latency", "5"])
    assert result.exit_code == 2 and "5ms or 5s" in result.output


@pytest.mark.parametrize("text, expected", [
    ("600/min", (600, 60.0)), ("10/s", (10, 1.0)), ("100/hour", (100, 3600.0)),
    ("10/30s", (10, 30.0)), ("5 / minute", (5, 60.0)), ((3, 2), (3, 2.0)), (None, None),
])
def test_parse_rate_limit(text, expected):
    assert parse_rate_limit(text) == expected


@pytest.mark.parametrize("text", ["600", "0/min", "10/fortnight", "ten/min", "10/0s", (0, 1), "-1/s"])
def test_parse_rate_limit_rejects(text):
    with pytest.raises(ValueError):
        parse_rate_limit(text)


@pytest.mark.parametrize("args", [["--latency", "soon"], ["--rate-limit", "lots"],
                                  ["--error-rate", "1.5"], ["--error-rate", "x"]])
def test_serve_rejects_bad_fault_options(args):
    result = CliRunner().invoke(main, ["serve", "--port", "0", *args])
    assert result.exit_code == 2
    assert args[0] in result.output


def test_serve_help_lists_fault_options():
    output = CliRunner().invoke(main, ["serve", "--help"]).output
    assert all(option in output for option in ("--latency", "--error-rate", "--rate-limit"))


# -- the delay of one answer, in all; Retry-After as an HTTP-date ------------------

def test_latencies_that_would_add_up_past_60_s_for_one_answer_are_a_400(client):
    """The issue: 1,000 rules of 60 s were accepted (one call would sleep 16 h)."""
    first = add_rule(client, latency_ms=60_000)
    response = client.post("/__admin/faults", json={"operation": "listJobs", "latency_ms": 1})
    assert response.status_code == 400
    item = error_item(response)
    assert item["error_code"] == "latency_too_long"
    assert "60,000 ms" in item["message"] and first["id"] in item["message"] and "in all" in item["message"]
    assert [r["id"] for r in client.get("/__admin/faults").get_json()] == [first["id"]]


def test_latencies_that_never_fire_together_do_not_add_up(client):
    add_rule(client, operation="listJobs", latency_ms=40_000)
    add_rule(client, operation="getJob", latency_ms=40_000)  # another operation
    add_rule(client, operation="triggerExport", api_key=KEY, latency_ms=30_000)
    add_rule(client, operation="triggerExport", api_key=OTHER_KEY, latency_ms=30_000)  # another app
    add_rule(client, operation="triggerExport", latency_ms=[0, 30_000])  # 60 s at worst with either app's
    refused = client.post("/__admin/faults", json={"api_key": KEY, "latency_ms": 1})  # triggerExport of KEY: 60,001
    assert refused.status_code == 400 and error_item(refused)["error_code"] == "latency_too_long"
    assert client.post("/__admin/faults", json={"operation": "bulkIdentifyUsers", "latency_ms": 60_000}).status_code \
        == 201


def test_the_servers_latency_counts_in_the_sum():
    client = create_app(seed=1, now=NOW, frozen=True, latency="30s").test_client()
    response = client.post("/__admin/faults", json={"operation": "listJobs", "latency_ms": 40_000})
    assert response.status_code == 400 and "--latency" in error_item(response)["message"]
    assert client.post("/__admin/faults", json={"operation": "listJobs", "latency_ms": 30_000}).status_code == 201


def test_rules_that_add_up_anyway_never_delay_one_answer_past_60_s(client, backend):
    """Rules of an older state file were never checked: decide() caps them."""
    faults = backend.faults
    add_rule(client, operation="listJobs", latency_ms=60_000)
    faults._rules.append(faults._rules[0].__class__.from_record({**faults._rules[0].to_record(), "id": "fault-99"}))
    decision = faults.decide("listJobs", None)
    assert decision is not None and decision.latency_ms == 60_000


def test_rules_on_hundreds_of_apps_are_checked_without_trying_every_pair(client):
    from mock_server.ids import app_token_for
    backend = client.application.extensions["userpilot"].backend
    for i in range(300):
        backend.faults.add({"app_token": app_token_for(f"key-{i}", 1), "latency_ms": 50_000})
    assert len(backend.faults.rules()) == 300


@pytest.mark.parametrize("when", ["Sun, 06 Nov 1994 08:49:37 GMT", "Thu, 31 Dec 2026 23:59:60 GMT"])
def test_retry_after_may_be_an_http_date(client, when):
    rule = add_rule(client, operation="listJobs", status=503, retry_after=when)
    assert rule["retry_after"] == when
    response = client.get(LIST, headers=auth())
    assert response.status_code == 503 and response.headers["Retry-After"] == when
    assert client.get("/__admin/faults").get_json()[0]["retry_after"] == when


@pytest.mark.parametrize("when", ["Mon, 06 Nov 1994 08:49:37 GMT", "Sun, 31 Feb 1994 08:49:37 GMT",
                                  "Sunday, 06-Nov-94 08:49:37 GMT", "06 Nov 1994", "soon"])
def test_a_retry_after_that_is_no_http_date_is_a_400(client, when):
    response = client.post("/__admin/faults", json={"operation": "listJobs", "status": 503, "retry_after": when})
    assert response.status_code == 400
    assert "HTTP-date" in error_item(response)["details"] + error_item(response)["message"]
