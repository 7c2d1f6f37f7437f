"""The fake over real sockets, on each server (Granian, waitress): the CLI,
concurrency, hostile input."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest

from mock_server import MockServer

from .conftest import KEY, NOW


def get(url, key=KEY, method="GET", data=None, headers=None):
    request = urllib.request.Request(url, method=method, data=data,
                                     headers={**({"Authorization": f"Token {key}"} if key else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture(scope="module")
def server(server_kind):
    with MockServer(seed=3, now=NOW, frozen=True, server=server_kind) as running:
        yield running


def test_headers_as_the_real_api_sends_them(server):
    status, headers, body = get(server.url + "/v1/background_jobs")
    assert status == 200
    lower = {k.lower(): v for k, v in headers.items()}
    assert lower["content-type"] == "application/json; charset=utf-8"
    assert lower["server"] == "Cowboy"
    assert lower["cache-control"] == "max-age=0, private, must-revalidate"
    assert len(lower["x-request-id"]) == 20
    assert "via" not in lower
    assert int(lower["content-length"]) == len(body)
    jobs = json.loads(body)
    assert all(j["links"].startswith(server.url + "/v1/background_jobs/") for j in jobs)


def test_concurrent_job_creation_loses_nothing(server):
    token = None
    created, errors = [], []

    def worker():
        for _ in range(20):
            status, _, body = get(server.url + "/__admin/jobs", key=None, method="POST",
                                  data=json.dumps({"api_key": "concurrent-key"}).encode(),
                                  headers={"Content-Type": "application/json"})
            (created if status == 201 else errors).append(json.loads(body))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(created) == 120
    token = created[0]["app_token"]
    status, _, body = get(server.url + f"/__admin/jobs?app_token={token}", key=None)
    ids = [j["job_id"] for j in json.loads(body)]
    assert len(ids) == len(set(ids)) == 25 + 120
    assert {c["job_id"] for c in created} <= set(ids)


def with_body(method: bytes, path: bytes, body: bytes) -> bytes:
    """A request with ``body``; to the control API as JSON from 127.0.0.1 (so that the body itself is tried)."""
    control = path.startswith(b"/__admin")
    host = b"127.0.0.1" if control else b"x"
    kind = b"Content-Type: application/json\r\n" if control else b""
    return (method + b" " + path + b" HTTP/1.1\r\nHost: " + host + b"\r\n" + kind + b"Content-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)


MALFORMED = [
    b"GET /v1/background_jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Token\r\n\r\n",
    b"GET /v1/background_jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\n\r\n",
    b"GET /v1/background_jobs/%ZZ HTTP/1.1\r\nHost: x\r\nAuthorization: Token k\r\n\r\n",
    b"GET /v1/background_jobs/%00%01 HTTP/1.1\r\nHost: x\r\nAuthorization: Token k\r\n\r\n",
    b"GET /v1/background_jobs/" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Token k\r\n\r\n",
    b"GET /v1/background_jobs?%ff=%fe&a HTTP/1.1\r\nHost: x\r\nAuthorization: Token k\r\n\r\n",
    with_body(b"POST", b"/v1/background_jobs", b"abc"),
    b"BREW /v1/background_jobs HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /__admin/jobs/%ff HTTP/1.1\r\nHost: localhost\r\n\r\n",
    with_body(b"POST", b"/__admin/jobs", b"\xff\xff\xff\xff\xff"),
    with_body(b"POST", b"/__admin/reset", b"null"),
    with_body(b"POST", b"/__admin/reset", b"{\"jobs\": 1e9}"),
    with_body(b"POST", b"/__admin/clock", b"{}"),
    with_body(b"POST", b"/__admin/clock", b"{\"now\": \"9999-99-99T00:00\"}"),
    with_body(b"POST", b"/__admin/jobs", b"{\"api_key\": \"k\", \"total_rows\": {}}"),
    with_body(b"POST", b"/__admin/jobs", b"{\"api_key\": \"k\", \"durations\": {\"1\": null}}"),
    b"GET /__admin/jobs?api_key= HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"GET /__admin/jobs?app_token=%00 HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"GET /v1/background_jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Token " + b"k" * 8000 + b"\r\n\r\n",
    with_body(b"PUT", b"/__admin/health", b""),
    b"GET /v1/imports HTTP/1.1\r\nHost: x\r\n\r\n",
    b"DELETE /v1/background_jobs/x HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /v1/background_jobs/../../etc/passwd HTTP/1.1\r\nHost: x\r\nAuthorization: Token k\r\n\r\n",
    b"GET /__admin/spec/../../pyproject.toml HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"GET /__admin/spec/%2e%2e%2fpyproject.yaml HTTP/1.1\r\nHost: localhost\r\n\r\n",
    with_body(b"POST", b"/__admin/jobs", b"{\"api_key\": \"k\", \"type\": null}"),
    with_body(b"POST", b"/__admin/jobs", b"{\"api_key\": \"k\", \"started_ago\": 1e308}"),
    with_body(b"POST", b"/__admin/clock", b"{\"advance_seconds\": 1e308}"),
    with_body(b"POST", b"/__admin/clock", b"{\"speed\": 1e-300}"),
]


def raw(server, payload: bytes) -> bytes:
    """The server's whole answer to ``payload``, sent with ``Connection:
    close`` (not a half-close: hyper drops the answer to a client that shuts
    its sending side, see the server table of the README)."""
    line, _, rest = payload.partition(b"\r\n")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(line + b"\r\nConnection: close\r\n" + rest)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("payload", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_requests_get_a_4xx_in_the_error_shape(server, payload):
    answer = raw(server, payload)
    status_line, _, rest = answer.partition(b"\r\n")
    status = int(status_line.split()[1])
    assert 400 <= status < 500 or status == 200, answer[:300]
    head, _, body = rest.partition(b"\r\n\r\n")
    if status >= 400 and b"x-request-id:" in head.lower():  # the app's answer, not the server's own refusal
        body = json.loads(body)
        assert set(body["errors"][0]) == {"details", "error", "error_code", "message"}
    assert get(server.url + "/__admin/health", key=None)[0] == 200


def test_huge_speed_and_advance_stay_4xx_or_sane(server):
    # the server is still up and its clock still readable after the hostile bodies above
    status, _, body = get(server.url + "/__admin/clock", key=None)
    assert status == 200 and "now" in json.loads(body)


def run_cli(*args, env=None, timeout=30):
    return subprocess.run([sys.executable, "-m", "mock_server", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def test_cli_version_and_spec():
    assert "0.1.0" in run_cli("--version").stdout
    assert "operationId: listJobs" in run_cli("spec").stdout
    assert run_cli("spec", "--vendor").stdout.startswith("# Source")
    assert "/__admin/reset" in run_cli("spec", "--admin").stdout


@pytest.mark.slow
def test_cli_refuses_bad_options():
    for args in (["serve", "--speed", "0"], ["serve", "--speed", "-3"], ["serve", "--port", "70000"],
                 ["serve", "--now", "someday"], ["serve", "--jobs", "-1"]):
        result = run_cli(*args)
        assert result.returncode == 2, args
        assert "Traceback" not in result.stderr


def test_cli_port_in_use_is_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = run_cli("serve", "--port", str(taken.getsockname()[1]))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.fixture
def cli_servers():
    """Start ``userpilot-mock serve`` subprocesses: ``start(*args, env=None,
    sigint_ignored=False)`` -> (process, url), the banner as
    ``process.banner``. Whatever the test does, none is left running."""
    started = []

    def start(*args, env=None, sigint_ignored=False):
        # A background job (`cmd &`) starts with SIGINT ignored: the same here, on demand.
        preexec = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None
        process = subprocess.Popen([sys.executable, "-m", "mock_server", "serve", "--port", "0", *args],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env={**os.environ, **(env or {})}, preexec_fn=preexec)
        started.append(process)
        banner = [process.stdout.readline() for _ in range(5)]
        process.banner = "".join(banner)
        if " at " not in banner[0]:
            raise AssertionError(f"the server did not start: {process.banner}{process.stderr.read()}")
        return process, banner[0].split(" at ")[1].strip()

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)
def start_cli(*args, env=None):
    process = subprocess.Popen([sys.executable, "-m", "mock_server", "serve", "--port", "0", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, **(env or {})})
    banner = [process.stdout.readline() for _ in range(5)]
    process.banner = "".join(banner)
    url = banner[0].split(" at ")[1].strip()
    return process, url


def stop(process, how=signal.SIGINT):
    process.send_signal(how)
    try:
        return process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate(timeout=10)
        raise AssertionError(f"the server did not stop on {how!r}:\n{out}{err}") from None


def test_cli_serves_logs_masked_and_stops_cleanly(cli_servers):
    secret = "SENTINEL-CLI-KEY-31337"
    process, url = cli_servers("--frozen", "--now", NOW, "--seed", "9")
    status, _, body = get(url + "/v1/background_jobs", key=secret)
    assert status == 200 and len(json.loads(body)) == 25
    assert get(url + "/v1/background_jobs", key=None)[0] == 401
    out, err = stop(process)
    assert process.returncode == 0
    assert "Traceback" not in err
    assert secret not in out + err
    assert "GET /v1/background_jobs 200 NX-" in out
    assert 'curl -s -H "Authorization: Token demo-api-key"' in process.banner


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["granian", "waitress"])
def test_cli_stops_on_sigint_when_started_with_sigint_ignored(cli_servers, kind):
    """``userpilot-mock serve &`` from a script inherits SIGINT ignored; it
    still stops on SIGINT (Ctrl-C), cleanly, on either server."""
    process, url = cli_servers("--quiet", "--server", kind, sigint_ignored=True)
    assert get(url + "/__admin/health", key=None)[0] == 200
    out, err = stop(process, signal.SIGINT)
    assert process.returncode == 0 and "userpilot-mock stopped" in out and "Traceback" not in err


@pytest.mark.slow
def test_the_banner_curl_expands_the_key_variable(cli_servers):
    process, url = cli_servers("--quiet", env={"USERPILOT_MOCK_API_KEYS": "k1 k2"})
    line = next(x for x in process.banner.splitlines() if "try:" in x).split("try:", 1)[1].strip()
    assert line.startswith("curl ") and '"Authorization: Token $USERPILOT_API_KEY"' in line
    # the shell expands the variable in the banner's command (printf stands in for curl)
    shown = subprocess.run(["sh", "-c", "printf '%s\\n' " + line[len("curl "):]], capture_output=True, text=True,
                           env={**os.environ, "USERPILOT_API_KEY": "k1"}, check=True).stdout.splitlines()
    assert "Authorization: Token k1" in shown and url + "/v1/background_jobs" in shown
    assert process.stderr.read(0) == ""


def test_cli_settings_from_environment(cli_servers):
    process, url = cli_servers(env={"USERPILOT_MOCK_JOBS": "4", "USERPILOT_MOCK_FROZEN": "1",
                                    "USERPILOT_MOCK_QUIET": "1"})
    status, _, body = get(url + "/v1/background_jobs")
    assert len(json.loads(body)) == 4
    assert json.loads(get(url + "/__admin/clock", key=None)[2])["frozen"] is True
    out, _ = stop(process, signal.SIGTERM)
    assert "GET /v1/" not in out  # quiet: no access log


def test_two_servers_same_seed_instant_url_give_identical_bodies():
    bodies = []
    for kind in ("granian", "waitress"):
        with MockServer(seed=42, now=NOW, frozen=True, public_url="http://mock.test", server=kind) as running:
            first = get(running.url + "/v1/background_jobs")[2]
            job_id = json.loads(first)[0]["job_id"]
            bodies.append((first, get(running.url + f"/v1/background_jobs/{job_id}")[2]))
    assert bodies[0] == bodies[1]


def test_cli_warns_when_binding_beyond_loopback_and_recommends_an_admin_token(cli_servers):
    process, _url = cli_servers("--host", "0.0.0.0", "--quiet")
    warning = process.stderr.readline()
    assert "control API" in warning and "reachable by others" in warning
    assert "--admin-token" in warning and "USERPILOT_MOCK_ADMIN_TOKEN" in warning


@pytest.mark.parametrize("kwargs, fragment", [
    ({"port": 99999}, "port must be an integer from 0 to 65535"),
    ({"port": -1}, "port must be"), ({"port": "8080"}, "port must be"), ({"port": True}, "port must be"),
    ({"journal_size": -5}, "journal_size must be an integer from 0 to 10000000"),
    ({"journal_size": 2.5}, "journal_size must be"),
])
def test_mock_server_refuses_bad_port_and_journal_size(kwargs, fragment):
    from mock_server.server import MockServer
    with pytest.raises(ValueError, match=fragment):
        MockServer(**kwargs)


def test_make_server_refuses_a_port_out_of_range():
    from mock_server.server import make_server
    with pytest.raises(ValueError, match="port must be"):
        make_server(port=65536)
