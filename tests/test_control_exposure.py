"""Who may drive the control API (docs/control-api.md, "Who may call it"):
bodies must be JSON, Host must be this fake's while it listens on
loopback, and an admin token when one is set; the handle, the pytest plugin
and the contract kit send it."""
from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import textwrap

import pytest

from mock_server import MockServer, create_app
from mock_server.handle import UserpilotMock, UserpilotMockError

from .conftest import KEY, NOW, auth, error_item

TOKEN = "s3cret-admin-t0ken"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", None])
def test_a_control_body_that_is_not_json_is_a_415(client, content_type):
    """What a web page can send cross-origin without a preflight (the CSRF of the issue) is refused."""
    headers = {"Content-Type": content_type} if content_type else {}
    for path, body in (("/__admin/reset", b'{"jobs": 0}'), ("/__admin/clock", b'{"advance_seconds": 60}'),
                       ("/__admin/jobs", b'{"api_key": "k"}'), ("/__admin/faults", b'{"status": 503}')):
        response = client.post(path, data=body, headers=headers)
        assert response.status_code == 415, (path, content_type)
        item = error_item(response)
        assert item["error_code"] == "unsupported_media_type" and "application/json" in item["details"]
    assert client.get("/__admin/clock").get_json()["now"] == NOW  # nothing moved
    assert client.get("/__admin/faults").get_json() == []


@pytest.mark.parametrize("content_type", ["application/json", "APPLICATION/JSON; charset=UTF-8",
                                          "Application/Json;charset=utf-8"])
def test_json_bodies_in_any_case_are_taken(client, content_type):
    response = client.post("/__admin/clock", data=b'{"advance_seconds": 60}', headers={"Content-Type": content_type})
    assert response.status_code == 200


def test_bodiless_control_requests_need_no_content_type(client):
    assert client.post("/__admin/reset").status_code == 200
    assert client.delete("/__admin/faults").status_code == 204


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "127.0.0.1.nip.io", "localhost.evil.example",
                                  "10.0.0.1", "[2001:db8::1]:80"])
def test_a_foreign_host_is_refused_while_on_loopback(client, host):
    """DNS rebinding: a name that resolves to 127.0.0.1 reaches the fake with its own Host."""
    for method, path in (("GET", "/__admin/health"), ("POST", "/__admin/reset"), ("GET", "/__admin/requests")):
        response = client.open(path, method=method, headers={"Host": host})
        assert response.status_code == 403, (host, path)
        assert error_item(response)["error_code"] == "forbidden_host"
    assert client.get("/v1/background_jobs", headers={**auth(), "Host": host}).status_code == 200  # the API: any


@pytest.mark.parametrize("host", ["localhost", "localhost:8080", "LOCALHOST.", "app.localhost:3000", "127.0.0.1",
                                  "127.1.2.3:99", "[::1]:8080", "[::1]"])
def test_loopback_hosts_pass(client, host):
    assert client.get("/__admin/health", headers={"Host": host}).status_code == 200


def test_the_public_urls_host_passes():
    client = create_app(public_url="https://mock.example.test:8443").test_client()
    assert client.get("/__admin/health", headers={"Host": "mock.example.test:8443"}).status_code == 200
    assert client.get("/__admin/health", headers={"Host": "other.example.test"}).status_code == 403


def raw_get(port: int, path: str, host: str, headers: dict | None = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("GET", path, skip_host=True)
    conn.putheader("Host", host)
    for name, value in (headers or {}).items():
        conn.putheader(name, value)
    conn.endheaders()
    status = conn.getresponse().status
    conn.close()
    return status


def test_beyond_loopback_any_host_passes():
    assert create_app(listen_host="0.0.0.0").test_client().get(
        "/__admin/health", headers={"Host": "evil.example"}).status_code == 200


@pytest.mark.slow  # two server starts each
@pytest.mark.parametrize("kind", ["granian", "waitress"])
def test_over_a_socket_the_server_tells_the_app_where_it_listens(kind):
    with MockServer(seed=1, server=kind) as server:  # 127.0.0.1: checked
        assert raw_get(server.port, "/__admin/health", "evil.example") == 403
        assert raw_get(server.port, "/__admin/health", f"127.0.0.1:{server.port}") == 200
    with MockServer("0.0.0.0", seed=1, server=kind) as server:  # beyond loopback: the admin token protects
        assert raw_get(server.port, "/__admin/health", "evil.example") == 200


def test_with_an_admin_token_every_control_request_needs_it():
    app = create_app(seed=1, now=NOW, frozen=True, admin_token=TOKEN)
    client = app.test_client()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Token {TOKEN}"},
                    {"Authorization": f"Bearer {TOKEN}x"}, {"Authorization": "Bearer"}):
        for method, path in (("GET", "/__admin/health"), ("POST", "/__admin/reset"), ("GET", "/__admin/"),
                             ("GET", "/__admin/spec/admin.yaml")):
            response = client.open(path, method=method, headers=headers)
            assert response.status_code == 401, (headers, path)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            item = error_item(response)
            assert item["error_code"] == "invalid_admin_token" and TOKEN not in response.get_data(as_text=True)
    good = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/__admin/health", headers=good).status_code == 200
    assert client.post("/__admin/clock", json={"advance_seconds": 1}, headers=good).status_code == 200
    assert client.get("/v1/background_jobs", headers=auth()).status_code == 200  # the API never needs it
    with pytest.raises(ValueError, match="admin_token"):
        create_app(admin_token="with space")


def test_the_handle_sends_the_token():
    app = create_app(seed=1, now=NOW, frozen=True, admin_token=TOKEN)
    mock = UserpilotMock.in_process(app)  # read from the app's settings
    assert mock.health() and mock.add_job(total_rows=10)["total_rows"] == 10
    with pytest.raises(UserpilotMockError) as refused:
        UserpilotMock.in_process(app, admin_token="nope").health()
    assert refused.value.status == 401
    with MockServer(seed=1, admin_token=TOKEN) as server:
        with pytest.raises(UserpilotMockError):
            UserpilotMock.over_http(server.url).health()
        assert UserpilotMock.over_http(server.url, admin_token=TOKEN).reset(jobs=2).jobs() is not None
        old = os.environ.get("USERPILOT_MOCK_ADMIN_TOKEN")
        os.environ["USERPILOT_MOCK_ADMIN_TOKEN"] = TOKEN
        try:
            assert len(UserpilotMock.over_http(server.url).reset(jobs=2).jobs()) == 2
        finally:
            if old is None:
                del os.environ["USERPILOT_MOCK_ADMIN_TOKEN"]
            else:
                os.environ["USERPILOT_MOCK_ADMIN_TOKEN"] = old


@pytest.mark.slow
def test_the_pytest_plugin_starts_its_fake_with_the_token_and_sends_it(tmp_path):
    (tmp_path / "test_token.py").write_text(textwrap.dedent(f"""
        import urllib.error, urllib.request

        def test_the_fake_requires_the_token(userpilot_mock, userpilot_flask_client):
            userpilot_mock.clock.advance(60)
            assert userpilot_mock.add_job(total_rows=5)["total_rows"] == 5
            try:
                urllib.request.urlopen(userpilot_mock.url + "/__admin/health")
            except urllib.error.HTTPError as error:
                assert error.code == 401
            else:
                raise AssertionError("no token needed")
            assert userpilot_flask_client.mock.jobs() is not None
            assert userpilot_flask_client.get("/__admin/health").status_code == 401
    """))
    env = {k: v for k, v in os.environ.items() if k != "USERPILOT_MOCK_ADMIN_TOKEN"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                             f"--userpilot-admin-token={TOKEN}", "test_token.py"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert TOKEN not in result.stdout.replace(f"--userpilot-admin-token={TOKEN}", "")


def test_the_contract_kit_sends_the_token_from_the_environment(monkeypatch):
    from contract_tests.target import Target
    app = create_app(seed=1, now=NOW, frozen=True, admin_token=TOKEN)
    target = Target("in-process", "http://localhost", "the fake", KEY, app=app)
    assert target.request("GET", "/__admin/health", auth=False).status == 401
    monkeypatch.setenv("USERPILOT_MOCK_ADMIN_TOKEN", TOKEN)
    answer = target.request("GET", "/__admin/health", auth=False)
    assert answer.status == 200 and json.loads(answer.body)["status"] == "ok"


def _control_routes(app) -> list[tuple[str, str]]:
    """Every (method, path) the control API serves: each Flask rule under
    /__admin (path parameters filled in) and each admin.yaml operation."""
    import re

    import yaml

    from mock_server.resources import data_path
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/__admin"):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", "x", rule.rule)
            routes.update((method, path) for method in rule.methods - {"HEAD", "OPTIONS"})
    admin = yaml.safe_load(data_path("openapi", "admin.yaml").read_text(encoding="utf-8"))
    for path, item in admin["paths"].items():
        for method in item:
            if method in ("get", "post", "put", "patch", "delete"):
                routes.add((method.upper(), re.sub(r"\{[^}]+\}", "x", path)))
    return sorted(routes)


def test_every_control_endpoint_is_guarded():
    """Host, token and Content-Type hold on every control route, the new
    ones included (a route added later is guarded without a word)."""
    app = create_app(seed=1, now=NOW, frozen=True, admin_token=TOKEN)
    client = app.test_client()
    routes = _control_routes(app)
    assert len(routes) >= 15
    good = {"Authorization": f"Bearer {TOKEN}"}
    for method, path in routes:
        foreign = client.open(path, method=method, headers={**good, "Host": "rebound.example"})
        assert foreign.status_code == 403, (method, path)
        untokened = client.open(path, method=method)
        assert untokened.status_code == 401, (method, path)
        if method != "GET":
            plain = client.open(path, method=method, data=b'{"jobs": 0}', headers={**good, "Content-Type": "text/plain"})
            assert plain.status_code == 415, (method, path)
    assert client.get("/__admin/clock", headers=good).get_json()["now"] == NOW  # nothing moved
