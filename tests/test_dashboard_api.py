"""What the dashboard reads and sends, without a browser: the page's files
(served from the package, no other origin), and the control API it needs
(apps, a job limit, journal filters, a scenario loaded into an app)."""
from __future__ import annotations

import re

import pytest
import yaml

from mock_server.http.control.ui import UI_DIR
from mock_server.spec import spec_text
from tests.conftest import KEY, OTHER_KEY, auth, error_item


def token_of(client, key: str) -> str:
    return client.application.extensions["userpilot"].backend.token_for(key)


@pytest.mark.parametrize("path", ["/__admin/ui/", "/__admin/ui"])
def test_the_page_is_served_with_a_strict_policy(client, path):
    answer = client.get(path)
    assert answer.status_code == 200 and answer.content_type == "text/html; charset=utf-8"
    assert b"/__admin/ui/app.js" in answer.data and b"/__admin/ui/style.css" in answer.data
    policy = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_its_files_and_nothing_else(client):
    assert client.get("/__admin/ui/app.js").content_type == "text/javascript; charset=utf-8"
    assert client.get("/__admin/ui/style.css").content_type == "text/css; charset=utf-8"
    for name in ("nope.js", "..%2Fbase.py", "__init__.py", "%2e%2e"):
        answer = client.get("/__admin/ui/" + name)
        assert answer.status_code == 404, name
        error_item(answer)


def test_the_files_fetch_nothing_from_elsewhere():
    for path in UI_DIR.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", text, re.IGNORECASE), path.name
        assert "innerHTML" not in text and "eval(" not in text, path.name


def test_the_script_calls_only_documented_control_endpoints():
    script = (UI_DIR / "app.js").read_text(encoding="utf-8")
    calls = set(re.findall(r'api\("(GET|POST|DELETE)", "(/[a-z]+)', script))
    paths = yaml.safe_load(spec_text("admin"))["paths"]
    assert len(calls) >= 10
    for method, path in calls:
        documented = [p for p in paths if p == f"/__admin{path}" or p.startswith(f"/__admin{path}/")]
        assert any(method.lower() in paths[p] for p in documented), (method, path)


def test_apps_list_jobs_in_flight_and_last_request(client):
    assert client.get("/__admin/apps").get_json() == []
    client.get("/v1/background_jobs", headers=auth(OTHER_KEY))
    client.get("/v1/background_jobs?page=2", headers=auth(KEY))
    apps = client.get("/__admin/apps").get_json()
    assert len(apps) == 2
    first = next(a for a in apps if a["app_token"] == token_of(client, KEY))
    assert first["jobs"] == 25 and sum(first["statuses"].values()) == 25
    assert first["in_flight"] == sum(n for s, n in first["statuses"].items() if s not in ("completed", "failed"))
    assert first["last_request"]["path"] == "/v1/background_jobs" and first["last_request"]["query"] == {"page": ["2"]}
    assert first["last_request"]["violations"]
    assert len(client.get("/__admin/apps?limit=1").get_json()) == 1
    for bad in ("0", "x", "1.5", "-1"):
        assert client.get(f"/__admin/apps?limit={bad}").status_code == 400, bad
    client.delete("/__admin/requests")
    assert client.get("/__admin/apps").get_json()[0]["last_request"] is None


def test_jobs_limit_keeps_the_newest(client):
    client.get("/v1/background_jobs", headers=auth())
    token = client.get("/__admin/apps").get_json()[0]["app_token"]
    every = client.get(f"/__admin/jobs?app_token={token}").get_json()
    assert client.get(f"/__admin/jobs?app_token={token}&limit=3").get_json() == every[:3]
    assert client.get(f"/__admin/jobs?app_token={token}&limit=0").status_code == 400


def test_journal_filters_by_app_and_operation(client):
    client.get("/v1/background_jobs", headers=auth(KEY))
    client.get("/v1/background_jobs/nope", headers=auth(KEY))
    client.get("/v1/background_jobs", headers=auth(OTHER_KEY))
    token = token_of(client, KEY)
    mine = client.get(f"/__admin/requests?app_token={token}").get_json()
    assert len(mine) == 2 and {e["app_token"] for e in mine} == {token}
    lists = client.get("/__admin/requests?operation=listJobs").get_json()
    assert len(lists) == 2 and {e["operation"] for e in lists} == {"listJobs"}
    assert client.get(f"/__admin/requests?operation=getJob&app_token={token}").get_json()[0]["status"] == 404
    assert client.get("/__admin/requests?app_token=KEY").status_code == 400


def test_a_scenario_loaded_into_an_app_makes_it_at_once(client):
    client.get("/v1/background_jobs", headers=auth())
    token = client.get("/__admin/apps").get_json()[0]["app_token"]
    answer = client.post("/__admin/scenario", json={"name": "in_flight", "app_token": token})
    assert answer.status_code == 200 and answer.get_json()["name"] == "in_flight"
    apps = client.get("/__admin/apps").get_json()
    assert [a["app_token"] for a in apps] == [token]
    assert apps[0]["jobs"] == client.get("/__admin/scenario").get_json()["jobs"]
    assert len(client.get("/v1/background_jobs", headers=auth()).get_json()) == apps[0]["jobs"]  # what the key sees
    bad = client.post("/__admin/scenario", json={"name": "in_flight", "app_token": "NX-1"})
    assert bad.status_code == 400 and "app_token" in error_item(bad)["message"]
