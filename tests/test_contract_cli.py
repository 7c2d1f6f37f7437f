"""``userpilot-mock contract`` and ``pytest --pyargs contract_tests`` end to
end: targets over a socket, exit codes, and no trace of the API key in any
output (stdout, stderr, JUnit XML)."""
from __future__ import annotations

import re

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from mock_server import create_app
from mock_server.cli import main
from mock_server.families import handlers

HANDLERS = handlers()

from . import drift

SENTINEL = "SENTINEL-key-7f3a9c"
#: Drifts are in the job answers: those runs leave createImport out.
JOBS = ["--operation", "listJobs", "--operation", "getJob"]
#: createImport has no domain handler until the imports feature lands.
NO_IMPORTS = [] if "createImport" in HANDLERS else JOBS


def contract(*args, key: str | None = SENTINEL, env: dict | None = None):
    environment = {"USERPILOT_API_KEY": key, "USERPILOT_BASE_URL": None, "USERPILOT_ENVIRONMENT": None}
    environment.update(env or {})
    result = CliRunner().invoke(main, ["contract", *args], env=environment)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def no_secret(*texts):
    for text in texts:
        assert SENTINEL not in (text or ""), "the API key leaked into an output"


def test_base_url_fresh_fake_exits_0(tmp_path):
    junit = tmp_path / "junit.xml"
    with drift.serve(drift.fake(SENTINEL, seed=3)) as url:
        result = contract("--base-url", url, "--max-examples", "3", "--seed", "3", "--junit", str(junit),
                          *NO_IMPORTS)
    assert result.exit_code == 0, result.output
    assert f"the fake at {url}" in result.stdout
    assert "PASS" in result.stdout
    suite = ET.parse(junit).getroot()
    assert suite.get("failures") == "0" and int(suite.get("tests")) >= 2
    no_secret(result.stdout, result.stderr, junit.read_text())


def test_base_url_fake_clock_is_restored():
    app = create_app(seed=1, api_keys=[SENTINEL], speed=10)
    with drift.serve(app) as url:
        result = contract("--base-url", url, "--max-examples", "2", "--seed", "1", *JOBS)
    assert result.exit_code == 0, result.output
    clock = app.extensions["userpilot"].backend.clock
    assert not clock.frozen and clock.speed == 10


@pytest.mark.parametrize("kind, check", [("unknown_status", "job_status_known"),
                                         ("no_auth_check", "ignored_auth"),
                                         ("wrong_content_type", "content_type_conformance")])
def test_drifted_server_exits_1_naming_the_drift(tmp_path, kind, check):
    junit = tmp_path / "junit.xml"
    with drift.serve(drift.broken(kind, SENTINEL)) as url:
        result = contract("--base-url", url, "--max-examples", "3", "--seed", "1", "--junit", str(junit),
                          *JOBS)
    assert result.exit_code == 1, result.output
    assert check in result.stdout
    assert "reproduce: curl" in result.stdout
    if kind != "no_auth_check":  # its failing requests are the ones sent without a key
        assert '"Authorization: Token $USERPILOT_API_KEY"' in result.stdout
    failures = ET.parse(junit).getroot().findall(".//failure")
    assert failures and any(check in (f.text or "") for f in failures)
    no_secret(result.stdout, result.stderr, junit.read_text())


def test_server_that_is_not_a_fake_is_read_only_and_waited_for(tmp_path):
    # the fake behind a proxy that hides the control API: "the real thing"
    app = drift.Drift(create_app(seed=2, api_keys=[SENTINEL]), hide_admin=True)
    with drift.serve(app) as url:
        result = contract("--base-url", url, "--max-examples", "2", "--seed", "2", "--rate-limit", "0",
                          "--poll-interval", "0.2")
        assert result.exit_code == 0, result.output
        # every write of the kit spec is left out (createImport, and the export, bulk and real-time writes)
        assert re.search(r"read-only: createImport(, [^,\n]+)* not sent", result.stdout), result.stdout
        assert url in result.stdout and "the fake at" not in result.stdout
        # no key: nothing is tested, exit 3
        result = contract("--base-url", url, key=None)
    assert result.exit_code == 3
    assert "USERPILOT_API_KEY" in result.stderr


def test_status_backwards_on_a_server_that_is_not_a_fake():
    app = drift.broken("status_backwards", SENTINEL)
    app.hide_admin = True
    with drift.serve(app) as url:
        result = contract("--base-url", url, "--max-examples", "2", "--seed", "1", "--rate-limit", "0",
                          "--poll-interval", "0.1")
    assert result.exit_code == 1
    assert "job_status_never_backwards" in result.stdout
    no_secret(result.stdout, result.stderr)


def test_refused_key_exits_3():
    with drift.serve(drift.fake("another-key")) as url:
        result = contract("--base-url", url)
    assert result.exit_code == 3
    assert "refused the API key" in result.stderr
    no_secret(result.stdout, result.stderr)


def test_real_api_without_key_exits_3_with_one_line():
    result = contract("--environment", "analytex", key=None)
    assert result.exit_code == 3
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "USERPILOT_API_KEY" in lines[0] and "--api-key-file" in lines[0]
    result = contract(key=None, env={"USERPILOT_ENVIRONMENT": "analytex-eu"})
    assert result.exit_code == 3


def test_unreachable_target_exits_3():
    result = contract("--base-url", "http://127.0.0.1:9")
    assert result.exit_code == 3
    assert "cannot reach" in result.stderr


@pytest.mark.parametrize("args", [["--base-url", "ftp://example.com"], ["--spec", "openapi"],
                                  ["--api-key-file", "/nonexistent/key"], ["--operation", "deleteJob"],
                                  ["--environment", "analytex-us"]])
def test_usage_errors_exit_2(args):
    result = contract(*args)
    assert result.exit_code == 2
    no_secret(result.stdout, result.stderr)


def test_api_key_option_warns_and_key_file_works(tmp_path):
    result = contract("--api-key", SENTINEL, "--max-examples", "1", "--seed", "1", *JOBS, key=None)
    assert "visible to other processes" in result.stderr
    no_secret(result.stdout, result.stderr)
    key_file = tmp_path / "key"
    key_file.write_text(SENTINEL + "\n")
    with drift.serve(drift.fake(SENTINEL)) as url:
        result = contract("--base-url", url, "--api-key-file", str(key_file), "--max-examples", "1",
                          "--seed", "1", *JOBS, key=None)
    assert result.exit_code == 0, result.output
    no_secret(result.stdout, result.stderr)


def test_missing_contract_extra_exits_2():
    code = ("import sys; sys.modules['schemathesis'] = None\n"
            "from mock_server.cli import main\nmain(['contract'])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "pip install 'userpilot-mock[contract]'" in result.stderr


def _pytest(*args, env=None, tmp_path):
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("USERPILOT_API_KEY", "USERPILOT_BASE_URL", "USERPILOT_ENVIRONMENT")}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "pytest", "--pyargs", "contract_tests", "-p", "no:cacheprovider",
                           "-rxs", *args], capture_output=True, text=True, timeout=300, env=environment,
                          cwd=tmp_path)


def test_pytest_pyargs_passes_against_the_fake_and_keeps_the_key_secret(tmp_path):
    junit = tmp_path / "junit.xml"
    ops = [a.replace("--operation", "--userpilot-operation") for a in NO_IMPORTS]
    result = _pytest("--userpilot-max-examples", "2", "--userpilot-contract-seed", "1", *ops,
                     f"--junitxml={junit}", env={"USERPILOT_API_KEY": SENTINEL}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout
    no_secret(result.stdout, result.stderr, junit.read_text())


def test_pytest_pyargs_against_the_real_api_without_key_skips_with_the_message(tmp_path):
    result = _pytest("--userpilot-environment", "analytex", tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "skipped" in result.stdout and "passed" not in result.stdout
    assert "USERPILOT_API_KEY" in result.stdout


def test_pytest_pyargs_fails_on_a_drift_without_showing_the_key(tmp_path):
    junit = tmp_path / "junit.xml"
    with drift.serve(drift.broken("end_time_on_running", SENTINEL)) as url:
        result = _pytest("--userpilot-max-examples", "2", "--userpilot-contract-seed", "1",
                         "--userpilot-operation", "listJobs", "--userpilot-operation", "getJob",
                         f"--junitxml={junit}", env={"USERPILOT_API_KEY": SENTINEL, "USERPILOT_BASE_URL": url},
                         tmp_path=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "job_end_time_matches_status" in result.stdout
    assert "test_conformance[listJobs]" in result.stdout
    no_secret(result.stdout, result.stderr, junit.read_text())
