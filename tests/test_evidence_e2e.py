"""The evidence loop from the outside, as a user runs it: ``userpilot-mock
record`` in front of a stand-in for the real API (tests/standin.py), a
client's polling session through it, ``calibrate``, ``serve --profile``,
``diff``, and ``contract --record --save`` then ``--baseline`` against the
default fake; no file written and no line printed holds the key."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

import pytest

from mock_server.evidence.har import read_cassette
from mock_server.server import MockServer

from . import standin

SENTINEL = "SENTINEL-e2e-4c1f8b7d-KEY"

pytestmark = pytest.mark.slow


def _cli(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "mock_server", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def _start(*args):
    process = subprocess.Popen([sys.executable, "-m", "mock_server", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    first = process.stdout.readline()
    url = first.split(" at ")[1].split()[0]
    return process, url, first


def _request(url, method="GET", key=SENTINEL, body=None, content_type=None):
    headers = {"Authorization": f"Token {key}"} if key else {}
    if content_type:
        headers["Content-Type"] = content_type
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as answer:
        return answer.code, answer.read()


def test_record_calibrate_serve_diff_and_drift_against_a_standin(tmp_path):
    out = tmp_path / "evidence"
    printed = []
    with MockServer(profile=standin.PROFILE, scenario=standin.SCENARIO, now=standin.NOW, frozen=True) as real:
        recorder, proxy, banner = _start("record", "--target", real.url, "--out", str(out), "--port", "0")
        try:
            printed.append(banner)
            status, body = _request(proxy + "/v1/imports", "POST", body=b"x")
            assert status == 403 and b"--allow-writes" in body
            assert _request(proxy + f"/v1/background_jobs?api_key={SENTINEL}")[0] == 200

            def get(path):
                return _request(proxy + path)

            def advance(seconds):
                _request(real.url + "/__admin/clock", "POST", key=None,
                         body=json.dumps({"advance_seconds": seconds}).encode(), content_type="application/json")

            standin.polling_session(get, advance)
        finally:
            recorder.send_signal(signal.SIGINT)
            stdout, stderr = recorder.communicate(timeout=30)
        printed += [stdout, stderr]
        assert recorder.returncode == 0, stderr
        assert "recorded" in stdout and "1 write(s) refused" in stdout
        (cassette,) = out.glob("*.har")
        exchanges = read_cassette(cassette)
        assert len(exchanges) > 300 and {e.method for e in exchanges} == {"GET"}

        # a contract run against the stand-in: its exchanges and what it observed
        baseline = out / "baseline.json"
        run = _cli("contract", "--base-url", real.url, "--max-examples", "3", "--seed", "3", "--record", str(out),
                   "--save", str(baseline), env={"USERPILOT_API_KEY": SENTINEL})
        printed += [run.stdout, run.stderr]
        assert baseline.exists() and len(list(out.glob("contract-*.har"))) == 1, run.stdout + run.stderr
        assert run.returncode == 0, run.stdout  # the kit expects the forms the stand-in's health names

    profile = out / "standin.yaml"
    calibrated = _cli("calibrate", str(cassette), "--out", str(profile))
    printed += [calibrated.stdout, calibrated.stderr]
    assert calibrated.returncode == 0, calibrated.stderr
    text = profile.read_text(encoding="utf-8")
    assert "rows_per_minute" in text and "basis: measured" in text

    server, url, banner = _start("serve", "--port", "0", "--frozen", "--now", standin.NOW, "--profile", str(profile))
    try:
        printed.append(banner)
        health = json.loads(_request(url + "/__admin/health", key=None)[1])
        assert health["profile"] == "standin"
        made = json.loads(_request(url + "/__admin/jobs", "POST", key=None,
                                   body=json.dumps({"api_key": "k", "total_rows": 3000}).encode(),
                                   content_type="application/json")[1])
    finally:
        server.send_signal(signal.SIGINT)
        printed += list(server.communicate(timeout=30))
    starts = made["timeline"]
    from mock_server.times import parse_iso8601
    seconds = parse_iso8601(starts["pending_refresh"]) - parse_iso8601(starts["processing"])
    assert 3000 / seconds * 60 == pytest.approx(standin.RATE, rel=0.10)

    planted = _cli("diff", str(cassette))
    printed += [planted.stdout, planted.stderr]
    assert planted.returncode == 1 and "6 fraction digits" in planted.stdout and "nginx" in planted.stdout
    clean = _cli("diff", str(cassette), "--profile", str(profile))
    printed += [clean.stdout, clean.stderr]
    assert clean.returncode == 0 and "NO DIFFERENCE" in clean.stdout, clean.stdout

    junit = out / "junit.xml"
    with MockServer(now=standin.NOW, frozen=True) as default:
        drifted = _cli("contract", "--base-url", default.url, "--max-examples", "3", "--seed", "3",
                       "--baseline", str(baseline), "--junit", str(junit), env={"USERPILOT_API_KEY": SENTINEL})
    printed += [drifted.stdout, drifted.stderr]
    assert drifted.returncode == 1 and "DRIFT" in drifted.stdout, drifted.stdout
    section = drifted.stdout.split("DRIFT", 1)[1]
    for planted_difference in ("6 fraction digits", "no-store", "nginx", "32 characters"):
        assert planted_difference in section
    drift_cases = [case for case in ET.parse(junit).getroot().iter("testcase")
                   if case.get("classname") == "userpilot_contract.drift"]
    assert drift_cases and all(case.find("failure") is not None for case in drift_cases)
    junit_text = " ".join(case.get("name", "") + (case.find("failure").text or "") for case in drift_cases)
    for planted_difference in ("6 fraction digits", "no-store", "nginx", "32 characters"):
        assert planted_difference in junit_text

    written = [p for p in out.rglob("*") if p.is_file()]
    assert {p.suffix for p in written} >= {".har", ".yaml", ".json", ".xml"}
    for path in written:
        assert SENTINEL not in path.read_text(encoding="utf-8", errors="replace"), path
    for text in printed:
        assert SENTINEL not in (text or "")


@pytest.mark.parametrize("kind, found", [
    ("unknown_status", "value status"),
    ("counter_as_string", "type 200 []{settled}.file_size"),
    ("non_iso_time", "format 200 []{settled}.start_time"),
])
def test_a_baseline_of_the_fake_finds_the_drift_servers_drift(tmp_path, kind, found):
    """The drift servers of tests/drift.py against a baseline taken on the
    fake they wrap: each one's change is a drift finding (and values that
    always vary are not)."""
    from contract_tests.options import ContractOptions
    from contract_tests.runner import run_contract

    from . import drift as drifts

    baseline = tmp_path / "fake.json"
    common = {"api_key": SENTINEL, "max_examples": 2, "seed": 5, "operations": ("listJobs", "getJob")}
    with drifts.serve(drifts.fake(SENTINEL)) as url:
        saved = run_contract(ContractOptions(base_url=url, save=str(baseline), **common))
    assert saved.exit_code == 0 and saved.drift == [], saved.render()
    with drifts.serve(drifts.broken(kind, SENTINEL)) as url:
        report = run_contract(ContractOptions(base_url=url, baseline=str(baseline), **common))
    what = {d.what for d in report.drift}
    assert found in what, report.render()
    assert not any(word in text for text in what for word in ("job_id", "request", "elapsed_time", "date"))
    assert SENTINEL not in report.render() + report.junit() + baseline.read_text(encoding="utf-8")
