"""``userpilot-mock contract`` and ``pytest --pyargs contract_tests`` end to
end: targets over a socket, exit codes, and no trace of the API key in any
output (stdout, stderr, JUnit XML)."""
from __future__ import annotations

import re

import os
import re
import shlex
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from contract_tests.lifecycle import FAKE_STEPS
from contract_tests.masking import MASK
from contract_tests.target import duration
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_base_url_fake_clock_is_restored_and_the_report_says_how_far_it_moved():
    app = create_app(seed=1, api_keys=[SENTINEL], speed=10)
    with drift.serve(app) as url:
        result = contract("--base-url", url, "--max-examples", "2", "--seed", "1", *JOBS)
    assert result.exit_code == 0, result.output
    clock = app.extensions["userpilot"].backend.clock
    assert not clock.frozen and clock.speed == 10
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("  clock: ")]
    assert f"the fake's clock was moved forward {duration(sum(FAKE_STEPS))} by the lifecycle checks" in line, line
    assert "runs again at speed 10, as before" in line and "--clock keep" in line


@pytest.mark.slow
def test_clock_keep_leaves_a_shared_fakes_clock_alone(tmp_path):
    """``--clock keep``: the lifecycle checks poll in real time; the clock
    is neither frozen nor moved (a frozen one stays exactly where it was)."""
    running = create_app(seed=1, api_keys=[SENTINEL], speed=10)
    clock = running.extensions["userpilot"].backend.clock
    with drift.serve(running) as url:
        before, started = clock.now(), time.monotonic()
        result = contract("--base-url", url, "--max-examples", "2", "--seed", "1", "--clock", "keep", *JOBS)
        elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    assert not clock.frozen and clock.speed == 10
    assert clock.now() - before <= (elapsed + 2) * 10  # its own pace, never a day ahead
    assert "clock: the fake's clock was not moved (--clock keep): the lifecycle checks polled in real time, " \
           "1 s apart" in result.stdout
    assert "lifecycle: " in result.stdout and "job_status_never_backwards" in result.stdout

    frozen = drift.fake(SENTINEL)
    clock = frozen.extensions["userpilot"].backend.clock
    before = clock.now()
    with drift.serve(frozen) as url:
        result = contract("--base-url", url, "--max-examples", "2", "--seed", "1", "--clock", "keep",
                          "--poll-interval", "0.1", *NO_IMPORTS)
    assert result.exit_code == 0, result.output
    assert clock.frozen and clock.now() == before
    if not NO_IMPORTS:  # a frozen clock never ends an import: the suite's own is not followed
        assert "not followed" in result.stdout, result.stdout


@pytest.mark.slow
def test_a_short_key_reads_normally_and_progress_goes_to_stderr(tmp_path):
    """With the key ``k`` nothing the kit writes is garbled; progress is
    on stderr (plain lines here: not a terminal), none with --quiet."""
    junit = tmp_path / "junit.xml"
    result = contract("--max-examples", "2", "--seed", "1", "--junit", str(junit), *JOBS, key="k")
    assert result.exit_code == 0, result.output
    for text in (result.stdout, junit.read_text()):
        assert MASK not in text and "/v1/background_jobs" in text
    assert result.stdout.startswith("userpilot-mock contract: the fake, in-process, kit spec, seed 1")
    assert "0 known deviation(s)" in result.stdout
    ran = result.stdout[result.stdout.index("CHECKS RUN"):]  # a pass lists the checks that ran
    assert "  lifecycle: " in ran and "job_status_never_backwards" in ran and "not_a_server_error" in ran
    cases = list(ET.parse(junit).getroot().iter("testcase"))  # every one of them, passed, in JUnit
    assert not [c for c in cases if c.find("failure") is not None]
    assert {"lifecycle: job_status_never_backwards", "lifecycle: running_job_stays_listed"} <= {
        c.get("name") for c in cases if c.get("classname") == "userpilot_contract.lifecycle"}
    lines = result.stderr.splitlines()
    assert "\r" not in result.stderr and MASK not in result.stderr
    assert any(line.startswith("userpilot-mock contract: examples phase, ") for line in lines), lines
    assert any(line.startswith("userpilot-mock contract: lifecycle polls, ") for line in lines), lines
    assert all(re.fullmatch(r"userpilot-mock contract: [a-z ]+, \d+ request\(s\) sent, \d+ s", line)
               for line in lines), lines
    quiet = contract("--max-examples", "1", "--seed", "1", "--operation", "getJob", "--quiet", key="k")
    assert quiet.exit_code == 0 and quiet.stderr == ""


@pytest.mark.slow
def test_a_sentinel_key_never_appears_in_any_output(tmp_path):
    """A server that echoes the key everywhere (a header, error messages,
    job fields, a URL) and then dies: the CLI's stdout, stderr (progress,
    errors) and JUnit file, and the pytest path's, show it masked only."""
    junit = tmp_path / "junit.xml"
    with drift.serve_dying(drift.leaky(SENTINEL), answers=150) as server:
        result = contract("--base-url", server.url, "--max-examples", "3", "--seed", "1", "--junit", str(junit))
    assert result.exit_code == 1, result.output
    assert "the target stopped answering after 150 requests" in result.stdout
    assert MASK in result.stdout and MASK in junit.read_text()  # the echoes reached the report, masked
    no_secret(result.stdout, result.stderr, junit.read_text())

    pytest_junit = tmp_path / "pytest.xml"
    with drift.serve_dying(drift.leaky(SENTINEL), answers=150) as server:
        run = _pytest("--userpilot-max-examples", "3", "--userpilot-contract-seed", "1", f"--junitxml={pytest_junit}",
                      env={"USERPILOT_API_KEY": SENTINEL, "USERPILOT_BASE_URL": server.url}, tmp_path=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "stopped answering after 150 requests" in run.stdout and MASK in run.stdout
    assert "userpilot-mock contract: examples phase" in run.stderr  # progress, past pytest's capture
    no_secret(run.stdout, run.stderr, pytest_junit.read_text())

    result = contract("--base-url", f"http://127.0.0.1:9/?api_key={SENTINEL}")  # an error naming the target
    assert result.exit_code == 3 and "cannot reach http://127.0.0.1:9/?api_key=[API key]" in result.stderr
    no_secret(result.stdout, result.stderr)
    result = contract("--base-url", f"ftp://x/?api_key={SENTINEL}")  # a usage error quoting it
    assert result.exit_code == 2 and "ftp://x/?api_key=[API key]" in result.stderr
    no_secret(result.stdout, result.stderr)


def _not_a_fake(seed: int = 2):
    """The fake (running clock) behind a proxy hiding the control API: a server that is not a fake."""
    return drift.Drift(create_app(seed=seed, api_keys=[SENTINEL]), hide_admin=True)


def _reproduction(stdout: str, check: str) -> str:
    """The curl of the first finding of ``check`` in a text report."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if f": {check} [" in line)
    return next(line for line in lines[start:] if line.strip().startswith("reproduce: ")).split("reproduce: ", 1)[1]


@pytest.mark.slow
def test_a_target_that_stops_listening_mid_run_is_a_finding_with_the_last_request(tmp_path):
    junit = tmp_path / "junit.xml"
    with drift.serve_dying(_not_a_fake(), answers=25) as server:
        result = contract("--base-url", server.url, "--max-examples", "3", "--seed", "2", "--rate-limit", "0",
                          "--poll-interval", "0.1", "--junit", str(junit))
    assert result.exit_code == 1, result.output
    assert server.answered == 25
    assert "target_keeps_answering [documented]" in result.stdout
    assert "the target stopped answering after 25 requests (connection refused)" in result.stdout
    assert "cannot reach" not in result.stderr and "ConnectionError" not in result.stdout
    curl = shlex.split(_reproduction(result.stdout, "target_keeps_answering"))
    assert curl[0] == "curl" and curl[-1].startswith(server.url + "/v1/")
    assert "Authorization: Token $USERPILOT_API_KEY" in curl or "Authorization: " in " ".join(curl)
    failures = [f.text or "" for f in ET.parse(junit).getroot().iter("failure")]
    assert any("stopped answering after 25 requests" in text for text in failures)
    no_secret(result.stdout, result.stderr, junit.read_text())


@pytest.mark.slow
def test_a_target_that_crashes_on_a_malformed_accept_header_is_reported_with_that_request():
    """Stoplight Prism exits on a malformed Accept header the suite sends:
    the report names the request that got no answer, as a runnable curl."""
    with drift.serve_dying(drift.fake(SENTINEL, seed=3), kills=drift.malformed_accept) as server:
        result = contract("--base-url", server.url, "--max-examples", "5", "--seed", "1")
        assert server.dead
    assert result.exit_code == 1, result.output
    assert f"the target stopped answering after {server.answered} requests (the connection closed without " \
           "an answer)" in result.stdout
    assert "the last request sent (below) got no answer" in result.stdout
    curl = shlex.split(_reproduction(result.stdout, "target_keeps_answering"))
    accept = [curl[i + 1].split(":", 1)[1].strip() for i, word in enumerate(curl)
              if word == "-H" and curl[i + 1].lower().startswith("accept:")]
    assert accept and drift.malformed_accept({"HTTP_ACCEPT": accept[0]}), curl
    no_secret(result.stdout, result.stderr)


@pytest.mark.slow
def test_a_target_that_drops_a_request_but_lives_on_is_a_finding_and_the_run_goes_on():
    with drift.serve_dying(drift.fake(SENTINEL, seed=3), drops=drift.malformed_accept) as server:
        result = contract("--base-url", server.url, "--max-examples", "5", "--seed", "1", *JOBS)
        assert server.dropped and not server.dead
    assert result.exit_code == 1, result.output
    assert "no answer to this request: the connection closed without an answer; the target still accepts " \
           "connections, and the run went on" in result.stdout
    assert "the run stopped" not in result.stdout
    assert "  lifecycle: " in result.stdout  # the lifecycle checks still ran


@pytest.mark.slow
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


def test_a_server_that_is_not_a_fake_without_a_key_is_named_as_it_is():
    with drift.serve(_not_a_fake()) as url:
        result = contract("--base-url", url, key=None)
    assert result.exit_code == 3
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"userpilot-mock contract: {url} is not a fake") and "real" not in line
    assert "USERPILOT_API_KEY" in line and "--api-key-file" in line
    result = contract("--environment", "analytex", key=None)
    assert "the real Userpilot API needs an API key" in result.stderr


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_pytest_pyargs_passes_against_the_fake_and_keeps_the_key_secret(tmp_path):
    junit = tmp_path / "junit.xml"
    ops = [a.replace("--operation", "--userpilot-operation") for a in NO_IMPORTS]
    result = _pytest("--userpilot-max-examples", "2", "--userpilot-contract-seed", "1", *ops,
                     f"--junitxml={junit}", env={"USERPILOT_API_KEY": SENTINEL}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout
    no_secret(result.stdout, result.stderr, junit.read_text())


@pytest.mark.slow
def test_pytest_pyargs_against_the_real_api_without_key_skips_with_the_message(tmp_path):
    result = _pytest("--userpilot-environment", "analytex", tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "skipped" in result.stdout and "passed" not in result.stdout
    assert "USERPILOT_API_KEY" in result.stdout


@pytest.mark.slow
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


@pytest.mark.slow
def test_pytest_pyargs_writes_no_files_in_the_working_directory(tmp_path):
    """No ``.hypothesis/`` (nor anything else) where pytest was started:
    Hypothesis's caches go to a scratch directory for the run."""
    result = _pytest("--userpilot-max-examples", "2", "--userpilot-contract-seed", "1",
                     "--userpilot-operation", "listJobs", env={"HYPOTHESIS_STORAGE_DIRECTORY": ""},
                     tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.slow
def test_pytest_pyargs_takes_the_same_clock_and_quiet_options_and_records_the_checks_that_ran(tmp_path):
    junit = tmp_path / "junit.xml"
    frozen = drift.fake(SENTINEL)
    clock = frozen.extensions["userpilot"].backend.clock
    before = clock.now()
    with drift.serve(frozen) as url:
        result = _pytest("--userpilot-max-examples", "2", "--userpilot-contract-seed", "1", "--userpilot-clock", "keep",
                         "--userpilot-poll-interval", "0.1", "--userpilot-quiet", "--userpilot-operation", "listJobs",
                         "--userpilot-operation", "getJob", f"--junitxml={junit}",
                         env={"USERPILOT_API_KEY": SENTINEL, "USERPILOT_BASE_URL": url}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert clock.frozen and clock.now() == before
    assert "userpilot-mock contract:" not in result.stderr
    properties = {(case.get("name"), p.get("name")): p.get("value")
                  for case in ET.parse(junit).getroot().iter("testcase") for p in case.iter("property")}
    assert "job_status_never_backwards" in properties[("test_lifecycle", "checks_ran")]
    assert "not_a_server_error" in properties[("test_conformance[listJobs]", "checks_ran")]
    assert "not moved (--clock keep)" in properties[("test_lifecycle", "clock")]
    no_secret(result.stdout, result.stderr, junit.read_text())


@pytest.mark.slow
def test_pytest_pyargs_saves_and_compares_a_baseline_drift_failing_its_own_test(tmp_path):
    baseline = tmp_path / "baseline.json"
    ops = [a.replace("--operation", "--userpilot-operation") for a in NO_IMPORTS]
    common = ("--userpilot-max-examples", "2", "--userpilot-contract-seed", "1", *ops)
    with drift.serve(drift.fake(SENTINEL)) as url:
        saved = _pytest(*common, f"--userpilot-save={baseline}",
                        env={"USERPILOT_API_KEY": SENTINEL, "USERPILOT_BASE_URL": url}, tmp_path=tmp_path)
    assert saved.returncode == 0 and baseline.exists(), saved.stdout + saved.stderr
    assert "test_no_drift_from_the_baseline SKIPPED" in saved.stdout or "no baseline given" in saved.stdout
    junit = tmp_path / "junit.xml"
    with drift.serve(create_app(profile={"profile": 1, "forms": {"headers": {"value": {"server": "nginx"}}}},
                                now="2026-11-29T12:00:00Z", frozen=True)) as url:
        compared = _pytest(*common, f"--userpilot-baseline={baseline}", f"--junitxml={junit}",
                           env={"USERPILOT_API_KEY": SENTINEL, "USERPILOT_BASE_URL": url}, tmp_path=tmp_path)
    assert compared.returncode == 1, compared.stdout + compared.stderr
    assert "test_no_drift_from_the_baseline" in compared.stdout and "header value server" in compared.stdout
    assert "nginx" in compared.stdout and "header cache-control" in compared.stdout
    no_secret(compared.stdout, compared.stderr, junit.read_text(), baseline.read_text())
