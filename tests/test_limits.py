"""The jobs the whole fake holds are bounded (``max_jobs``, ``--max-jobs``):
histories, scenarios, the control API and imports all count; the least
recently used apps are forgotten first; a request that alone would pass the
bound is a 400 naming it. Both stores count the same way."""
from __future__ import annotations

import io

import pytest

from mock_server import create_app
from mock_server.backend.sqlite_store import open_store
from mock_server.config import DEFAULT_MAX_JOBS

from .conftest import KEY, NOW, auth, error_item


def fake(tmp_path=None, **settings):
    """``(client, backend)`` of a frozen fake, in memory or (``tmp_path``) on a state file."""
    store = None
    if tmp_path is not None:
        store = open_store(tmp_path / "state.db", settings.get("max_apps", 1000),
                           max_jobs=settings.get("max_jobs", DEFAULT_MAX_JOBS))
    app = create_app(seed=1, now=NOW, frozen=True, store=store, **settings)
    return app.test_client(), app.extensions["userpilot"].backend


@pytest.fixture(params=["memory", "sqlite"])
def where(request, tmp_path):
    return None if request.param == "memory" else tmp_path


def test_a_reset_asking_more_jobs_per_app_than_the_fake_holds_is_a_400_naming_the_bound(client):
    response = client.post("/__admin/reset", json={"jobs": 1_000_000})
    assert response.status_code == 400
    item = error_item(response)
    assert item["error_code"] == "too_many_jobs"
    assert "max_jobs" in item["message"] and "--max-jobs" in item["message"] and str(DEFAULT_MAX_JOBS) in item["message"]
    assert client.post("/__admin/reset", json={"jobs": DEFAULT_MAX_JOBS}).status_code == 200


def test_new_apps_push_out_the_least_recently_used_ones(where):
    client, backend = fake(where, jobs=30, max_jobs=100)
    tokens = []
    for key in ("a", "b", "c"):
        assert client.get("/v1/background_jobs", headers=auth(key)).status_code == 200
        tokens.append(backend.token_for(key))
    client.get("/v1/background_jobs", headers=auth("a"))  # a is used again: b is now the least recent
    assert backend.store.job_count() == 90
    client.get("/v1/background_jobs", headers=auth("d"))
    assert backend.store.job_count() <= 100
    assert set(backend.apps) == {tokens[0], tokens[2], backend.token_for("d")}
    backend.store.close()


def test_post_admin_jobs_counts_and_stops_at_the_bound(where):
    client, backend = fake(where, jobs=10, max_jobs=40)
    client.get("/v1/background_jobs", headers=auth("other"))
    for _ in range(30):
        assert client.post("/__admin/jobs", json={"api_key": KEY, "type": "export"}).status_code == 201
    assert backend.store.job_count() == 40
    assert backend.token_for("other") not in backend.apps  # forgotten to make room
    response = client.post("/__admin/jobs", json={"api_key": KEY, "type": "export"})
    assert response.status_code == 400
    item = error_item(response)
    assert item["error_code"] == "too_many_jobs" and "max_jobs 40" in item["message"]
    assert len(client.get("/__admin/jobs", query_string={"api_key": KEY}).get_json()) == 40
    backend.store.close()


def test_an_import_counts_too(where):
    client, backend = fake(where, jobs=5, max_jobs=5)
    row = (b'{"event_type": "identify_user", "user_id": "u", "source": "backend-http", '
           b'"inserted_at": "2026-11-29T11:00:00Z"}\n')
    response = client.post("/v1/imports", headers=auth(), data={"file": (io.BytesIO(row), "u.ndjson")})
    assert response.status_code == 400 and error_item(response)["error_code"] == "too_many_jobs"
    assert len(client.get("/v1/background_jobs", headers=auth()).get_json()) == 5
    backend.store.close()


@pytest.mark.parametrize("path,body", [
    ("/api/v1/analytics/exports", {}),
    ("/v1/users/bulk_identify", {"users": [{"user_id": "u1", "metadata": {"name": "n"}}]}),
    ("/v1/companies/bulk_identify", {"companies": [{"company_id": "c1", "metadata": {"name": "n"}}]}),
], ids=["export", "bulk users", "bulk companies"])
def test_exports_and_bulk_jobs_count_too(where, path, body):
    client, backend = fake(where, jobs=5, max_jobs=6)
    client.get("/v1/background_jobs", headers=auth("other"))
    made = client.post(path, headers=auth(), json=body)
    assert made.status_code in (201, 202), made.get_json()
    assert backend.store.job_count() <= 6 and backend.token_for("other") not in backend.apps  # room made
    client.post("/__admin/clock", json={"advance_seconds": 86_400})  # the first one is done: one at a time passes
    response = client.post(path, headers=auth(), json=body)
    assert response.status_code == 400, response.get_json()
    item = error_item(response)
    assert item["error_code"] == "too_many_jobs" and "max_jobs 6" in item["message"]
    assert backend.store.job_count() == 6
    backend.store.close()


def test_a_big_reset_is_refused_by_the_state_file_too(tmp_path):
    client, backend = fake(tmp_path, max_jobs=1000)
    response = client.post("/__admin/reset", json={"jobs": 1001})
    assert response.status_code == 400 and "max_jobs" in error_item(response)["message"]
    assert client.post("/__admin/reset", json={"jobs": 1000}).status_code == 200
    client.get("/v1/background_jobs", headers=auth())
    client.get("/v1/background_jobs", headers=auth("other"))  # a second app of 1,000: the first is forgotten
    assert backend.store.job_count() == 1000 and list(backend.apps) == [backend.token_for("other")]
    backend.store.close()


def test_a_scenario_too_big_for_the_bound_is_refused():
    client, _backend = fake(max_jobs=50)
    document = {"history": 40, "jobs": [{"repeat": 20, "job": {"type": "export"}}]}
    for path, body in (("/__admin/scenario", document), ("/__admin/reset", {"scenario": document})):
        response = client.post(path, json=body)
        assert response.status_code == 400, path
        assert "60 jobs" in error_item(response)["message"] and "max_jobs" in error_item(response)["message"]
    assert client.post("/__admin/scenario", json={**document, "history": 30}).status_code == 200


def test_settings_that_do_not_fit_are_refused():
    with pytest.raises(ValueError, match="jobs.*max_jobs 10"):
        create_app(jobs=25, max_jobs=10)
    with pytest.raises(ValueError, match="scenario.*max_jobs"):
        create_app(scenario="large", max_jobs=1000)
    with pytest.raises(ValueError, match="max_jobs"):
        create_app(max_jobs=0)


def test_the_cli_names_the_option():
    from click.testing import CliRunner

    from mock_server.cli import main
    result = CliRunner().invoke(main, ["serve", "--port", "0", "--jobs", "50", "--max-jobs", "10"])
    assert result.exit_code == 2 and "--jobs" in result.output and "--max-jobs" in result.output
