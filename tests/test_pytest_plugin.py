"""The pytest plugin: cheap to load, fixtures with no import, isolation per
test, configuration by marker / options / ini / fixture overrides, the
in-process client, xdist. Inner test runs use pytest's own ``pytester``."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# Inner runs are in-process (pytester): modules they import are dropped from
# sys.modules afterwards, and C extensions (PyYAML's, rpds for jsonschema)
# break when imported twice. Import them once here, for every inner run.
import flask  # noqa: F401,E402
import jsonschema  # noqa: F401,E402
import waitress  # noqa: F401,E402
import yaml  # noqa: F401,E402

import mock_server.backend.scenarios  # noqa: F401,E402
import mock_server.server  # noqa: F401,E402

pytest_plugins = ["pytester"]

#: Third-party plugins of the dev environment that take seconds to load and
#: that the inner runs do not need.
NO_SLOW_PLUGINS = ("-p", "no:cacheprovider", "-p", "no:schemathesis", "-p", "no:hypothesispytest",
                   "-p", "no:faker", "-p", "no:anyio")

HEAVY = ("flask", "werkzeug", "faker", "schemathesis", "waitress", "hypothesis", "jsonschema", "yaml",
         "click", "mock_server.http", "mock_server.backend", "mock_server.coverage", "mock_server.spec")


def test_loading_the_plugin_imports_nothing_heavy():
    code = ("import sys, mock_server.pytest_plugin\n"
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"imported at plugin load: {result.stdout.strip()}"


@pytest.mark.slow
def test_a_pytest_run_that_uses_no_fixture_loads_nothing_heavy(pytester):
    pytester.makepyfile(f"""
        import sys
        def test_nothing_heavy():
            loaded = [m for m in {HEAVY[:4]!r} if m in sys.modules]
            assert loaded == []
    """)
    # a subprocess: this (outer) run has Flask loaded already
    result = pytester.runpytest_subprocess(*NO_SLOW_PLUGINS)
    result.assert_outcomes(passed=1)


def run(pytester, source: str, *args, passed: int | None = None, **outcomes):
    pytester.makepyfile(textwrap.dedent(source))
    result = pytester.runpytest(*NO_SLOW_PLUGINS, *args)
    if passed is not None or outcomes:
        result.assert_outcomes(passed=passed or 0, **outcomes)
    return result


def test_fixtures_need_no_import_and_are_isolated(pytester):
    run(pytester, """
        import json, urllib.request
        from datetime import datetime

        def get(mock, path):
            request = urllib.request.Request(mock.url + path, headers=mock.headers)
            with urllib.request.urlopen(request) as response:
                return json.load(response)

        def test_handle(userpilot_mock):
            assert userpilot_mock.url.startswith("http://127.0.0.1:")
            assert userpilot_mock.headers == {"Authorization": f"Token {userpilot_mock.api_key}"}
            assert userpilot_mock.app_token.startswith("NX-") and len(userpilot_mock.app_token) == 11
            assert isinstance(userpilot_mock.clock.now, datetime)
            assert userpilot_mock.clock.now.tzinfo is not None
            jobs = get(userpilot_mock, "/v1/background_jobs")
            # the clock runs: a second may tick between the two reads (elapsed_time), the jobs stay the same
            assert len(jobs) == 25 and [j["job_id"] for j in jobs] == [j["job_id"] for j in userpilot_mock.jobs()]
            assert all(j["job_id"].startswith(f"bulk:jobs:{userpilot_mock.app_token}:") for j in jobs)

        def test_first_adds_a_job(userpilot_mock):
            userpilot_mock.add_job(filename="only-here.csv")
            userpilot_mock.clock.freeze()
            userpilot_mock.clock.advance(86400)
            get(userpilot_mock, "/v1/background_jobs")
            assert len(userpilot_mock.jobs()) == 26

        def test_second_sees_a_fresh_fake(userpilot_mock):
            assert "only-here.csv" not in {j["filename"] for j in userpilot_mock.jobs()}
            assert len(userpilot_mock.requests) == 0
            assert not userpilot_mock.clock.frozen
    """, passed=3)


def test_clock_and_add_job(pytester):
    run(pytester, """
        import json, urllib.request, pytest

        def get(mock, path):
            request = urllib.request.Request(mock.url + path, headers=mock.headers)
            with urllib.request.urlopen(request) as response:
                return json.load(response)

        @pytest.mark.userpilot(scenario="empty", frozen=True, now="2026-03-01T09:00:00Z")
        def test_a_job_completes_when_the_clock_moves(userpilot_mock):
            job = userpilot_mock.add_job(total_rows=1200, durations={
                "queued": 5, "validating": 10, "processing": 60, "pending_refresh": 25})
            assert set(job) >= {"job_id", "status", "completed_rows", "start_time", "end_time"}
            assert "timeline" not in job and "app_token" not in job
            assert (job["status"], job["completed_rows"], job["start_time"]) == (
                "queued", 0, "2026-03-01T09:00:00Z")
            userpilot_mock.clock.advance(45)
            assert get(userpilot_mock, "/v1/background_jobs/" + job["job_id"])["completed_rows"] == 600
            userpilot_mock.clock.advance(55)
            done = get(userpilot_mock, "/v1/background_jobs/" + job["job_id"])
            assert (done["status"], done["end_time"]) == ("completed", "2026-03-01T09:01:40Z")
            assert userpilot_mock.clock.now.isoformat() == "2026-03-01T09:01:40+00:00"
            assert userpilot_mock.jobs() == [{k: v for k, v in done.items() if k != "completed_rows"}]
            assert userpilot_mock.job(job["job_id"]) == done
            assert userpilot_mock.job(job["job_id"], timeline=True)["timeline"]["completed"] == done["end_time"]

        @pytest.mark.userpilot(frozen=True, now="2026-03-01T09:00:00Z")
        def test_freeze_at_and_unfreeze(userpilot_mock):
            assert userpilot_mock.clock.freeze(at="2026-03-02T00:00:00Z").isoformat() == "2026-03-02T00:00:00+00:00"
            userpilot_mock.clock.unfreeze(speed=100)
            assert not userpilot_mock.clock.frozen
            from mock_server.handle import UserpilotMockError
            with pytest.raises(UserpilotMockError, match="backwards"):
                userpilot_mock.clock.set(now="2020-01-01T00:00:00Z")
    """, passed=2)


def test_journal_assertions(pytester):
    result = run(pytester, """
        import json, urllib.request, urllib.error, pytest

        def call(mock, path, headers=None):
            request = urllib.request.Request(mock.url + path, headers=mock.headers if headers is None else headers)
            try:
                with urllib.request.urlopen(request) as response:
                    return response.status
            except urllib.error.HTTPError as exc:
                return exc.code

        @pytest.mark.userpilot(scenario="mixed")
        def test_called(userpilot_mock):
            job = userpilot_mock.jobs()[0]
            encoded = job["job_id"].replace(":", "%3A")
            assert call(userpilot_mock, "/v1/background_jobs/" + encoded) == 200
            assert call(userpilot_mock, "/v1/background_jobs") == 200
            requests = userpilot_mock.requests
            requests.assert_called("GET", "/v1/background_jobs/" + job["job_id"], times=1)
            requests.assert_called("get", "/v1/background_jobs/" + encoded)
            requests.assert_not_called("GET", "/v1/imports")
            requests.assert_no_violations()
            assert [e.status for e in requests] == [200, 200]
            assert requests[0].app_token == userpilot_mock.app_token
            with pytest.raises(AssertionError, match="expected GET /v1/background_jobs 2 time"):
                requests.assert_called("GET", "/v1/background_jobs", times=2)
            assert userpilot_mock.clear_requests() == 2 and userpilot_mock.requests == []

        def test_violations_fail_the_test(userpilot_mock):
            call(userpilot_mock, "/v1/background_jobs?page=2")
            call(userpilot_mock, "/v1/background_jobs", headers={})
            userpilot_mock.requests.assert_no_violations()
    """, passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*2 violation(s) of the kit spec:*",
        "*GET /v1/background_jobs?page=2 -> 200: [[]query page[]] unknown query parameter 'page'*",
        "*GET /v1/background_jobs -> 401: [[]header Authorization[]] missing Authorization header*",
    ])


def test_marker_scenario_seed_jobs_and_merging(pytester, tmp_path):
    scenario = tmp_path / "mine.yaml"
    scenario.write_text("description: two\njobs: [{filename: a.csv}, {filename: b.csv}]\n")
    run(pytester, f"""
        import pytest

        @pytest.mark.userpilot(seed=7, frozen=True)
        class TestMarked:
            def test_class_marker(self, userpilot_mock):
                assert userpilot_mock.seed == 7 and userpilot_mock.clock.frozen

            @pytest.mark.userpilot(seed=8, jobs=2)
            def test_function_marker_wins(self, userpilot_mock):
                assert userpilot_mock.seed == 8 and userpilot_mock.clock.frozen
                assert len(userpilot_mock.jobs()) == 2

        @pytest.mark.userpilot(scenario="all_failed")
        def test_bundled(userpilot_mock):
            assert {{j["status"] for j in userpilot_mock.jobs()}} == {{"failed"}}

        @pytest.mark.userpilot(scenario={str(scenario)!r})
        def test_path(userpilot_mock):
            assert sorted(j["filename"] for j in userpilot_mock.jobs()) == ["a.csv", "b.csv"]
            assert userpilot_mock.scenario["name"] == {str(scenario)!r}

        @pytest.mark.userpilot(scenario={{"jobs": [{{"filename": "inline.csv"}}]}}, api_key="someone-else")
        def test_inline_and_key(userpilot_mock):
            assert userpilot_mock.api_key == "someone-else"
            assert [j["filename"] for j in userpilot_mock.jobs()] == ["inline.csv"]

        def test_seed_changes_the_token(userpilot_mock):
            assert userpilot_mock.seed == 20250519

        @pytest.mark.userpilot(seed=7)
        def test_same_key_other_seed_other_token(userpilot_mock):
            from mock_server.ids import app_token_for
            assert userpilot_mock.app_token == app_token_for(userpilot_mock.api_key, 7)
    """, passed=7)


def test_bad_marker_values_are_clear_errors(pytester):
    result = run(pytester, """
        import pytest

        @pytest.mark.userpilot(colour="red")
        def test_unknown_keyword(userpilot_mock):
            pass

        @pytest.mark.userpilot(scenario="nope")
        def test_unknown_scenario(userpilot_mock):
            pass

        @pytest.mark.userpilot(scenario={"jobs": [{"total_rows": -1}]})
        def test_bad_document(userpilot_mock):
            pass
    """, errors=3)
    result.stdout.fnmatch_lines(["*unknown @pytest.mark.userpilot keyword(s) colour*",
                                 "*no bundled scenario named 'nope'*",
                                 "*inline document: jobs[[]0[]].total_rows: -1 is less than the minimum of 0*"])


def test_a_marker_typo_is_one_line_without_a_traceback(pytester):
    result = run(pytester, """
        import pytest

        @pytest.mark.userpilot(secnario="mixed")
        def test_typo(userpilot_mock):
            pass

        @pytest.mark.userpilot("mixed")
        def test_positional(userpilot_flask_client):
            pass
    """, errors=2)
    out = result.stdout.str()
    result.stdout.fnmatch_lines(["*test_typo: unknown @pytest.mark.userpilot keyword(s) secnario; allowed: *",
                                 "*test_positional: @pytest.mark.userpilot takes keywords only*"])
    assert "pytest_plugin.py" not in out and "raise " not in out and "Traceback" not in out


@pytest.mark.parametrize("args, fragment", [
    (("--userpilot-now", "yesterday"), "--userpilot-now / ini userpilot_now: *yesterday*"),
    (("--userpilot-speed", "0"), "--userpilot-speed / ini userpilot_speed: *"),
    (("--userpilot-jobs", "-1"), "--userpilot-jobs / ini userpilot_jobs: *"),
    (("--userpilot-jobs", "300000"), "--userpilot-jobs / ini userpilot_jobs: *max_jobs*"),
    (("--userpilot-seed", str(2 ** 64)), "--userpilot-seed / ini userpilot_seed: *"),
    (("--userpilot-scenario", "mixd"), "--userpilot-scenario / ini userpilot_scenario: *no bundled scenario*mixd*"),
    (("--userpilot-scenario", "ci/none.yaml"), "--userpilot-scenario / ini userpilot_scenario: *not found*"),
    (("--userpilot-admin-token", "has space"), "--userpilot-admin-token / ini userpilot_admin_token: *"),
])
def test_bad_reset_options_stop_pytest_once_at_start(pytester, args, fragment):
    """Not an error per test: one usage error before any test runs."""
    pytester.makepyfile("\n".join(f"def test_never_runs_{i}(userpilot_mock):\n    pass\n" for i in range(3)))
    result = pytester.runpytest(*NO_SLOW_PLUGINS, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{fragment}*"])
    assert result.stderr.str().count("userpilot_") == 1 and "never_runs" not in result.stdout.str()


def test_good_reset_options_pass_the_start_check(pytester):
    run(pytester, "def test_it(userpilot_mock):\n    assert userpilot_mock.clock.frozen\n",
        "--userpilot-now", "2026-01-01T00:00:00Z", "--userpilot-frozen", "true", "--userpilot-speed", "2",
        "--userpilot-scenario", "mixed", passed=1)


def test_looked_in_names_each_directory_once(pytester):
    result = run(pytester, """
        import pytest

        @pytest.mark.userpilot(scenario="missing.yaml")
        def test_missing(userpilot_mock):
            pass
    """, errors=1)
    line = next(x for x in result.stdout.lines if "looked in:" in x)
    listed = line.split("looked in: ", 1)[1].rstrip(")").split(", ")
    assert len(listed) == len(set(listed)) == 1, line  # the test's directory is the rootdir here


def test_command_line_and_ini_options(pytester):
    pytester.makeini("""
        [pytest]
        userpilot_frozen = true
        userpilot_jobs = 3
        userpilot_api_key = from-ini
    """)
    source = """
        def test_options(userpilot_mock):
            assert userpilot_mock.clock.frozen
            assert len(userpilot_mock.jobs()) == 3
            assert userpilot_mock.api_key == "from-ini"
            assert userpilot_mock.seed == {seed}
            assert userpilot_mock.clock.now.isoformat().startswith("{year}")
    """
    run(pytester, source.format(seed=20250519, year=""), passed=1)
    run(pytester, source.format(seed=11, year="2030"), "--userpilot-seed", "11",
        "--userpilot-now", "2030-05-05T00:00:00Z", passed=1)
    help_text = pytester.runpytest("--help").stdout.str()
    assert "--userpilot-seed" in help_text and "userpilot_frozen" in help_text


def test_fixtures_can_be_overridden(pytester):
    pytester.makeconftest("""
        import pytest

        @pytest.fixture(scope="session")
        def userpilot_mock_host():
            return "localhost"

        @pytest.fixture(scope="session")
        def userpilot_mock_settings(userpilot_mock_settings):
            return {**userpilot_mock_settings, "scenario": "in_flight", "api_key": "conftest-key"}
    """)
    run(pytester, """
        def test_overridden(userpilot_mock):
            assert userpilot_mock.url.startswith("http://localhost:")
            assert userpilot_mock.api_key == "conftest-key"
            assert len(userpilot_mock.jobs()) == 4
    """, passed=1)


def test_flask_client(pytester):
    run(pytester, """
        import pytest

        @pytest.mark.userpilot(scenario="mixed", frozen=True)
        def test_in_process(userpilot_flask_client):
            mock = userpilot_flask_client.mock
            response = userpilot_flask_client.get("/v1/background_jobs", headers=mock.headers)
            assert response.status_code == 200 and len(response.get_json()) == 7
            job = mock.add_job(total_rows=10)
            assert userpilot_flask_client.get("/v1/background_jobs/" + job["job_id"],
                                              headers=mock.headers).get_json()["status"] == "queued"
            mock.clock.advance(3600)
            assert mock.job(job["job_id"])["status"] == "completed"
            mock.requests.assert_called("GET", "/v1/background_jobs", times=1)
            mock.requests.assert_no_violations()

        def test_isolated(userpilot_flask_client):
            mock = userpilot_flask_client.mock
            assert len(mock.jobs()) == 25 and mock.requests == []
    """, passed=2)


def test_pytest_plugins_declaration_works_beside_the_entry_point(pytester):
    pytester.makeconftest('pytest_plugins = ["mock_server.pytest_plugin"]')
    run(pytester, "def test_it(userpilot_mock):\n    assert userpilot_mock.health()\n", passed=1)


@pytest.mark.slow
def test_under_xdist_each_worker_has_its_own_fake(pytester):
    pytester.makepyfile(textwrap.dedent("""
        import os, pytest

        @pytest.mark.parametrize("i", range(8))
        def test_isolated(userpilot_mock, i):
            job = userpilot_mock.add_job(filename=f"job-{i}.csv")
            names = [j["filename"] for j in userpilot_mock.jobs()]
            assert names.count(f"job-{i}.csv") == 1 and len(names) == 26
            print("URL", os.environ["PYTEST_XDIST_WORKER"], userpilot_mock.url)
    """))
    result = pytester.runpytest_subprocess(*NO_SLOW_PLUGINS, "-n", "2", "-s", "-v")
    result.assert_outcomes(passed=8)


@pytest.mark.slow
def test_under_xdist_a_taken_port_is_one_usage_error_naming_port_and_worker(pytester):
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        base = probe.getsockname()[1]
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", base + 1))  # worker gw1's port
        taken.listen()
        pytester.makepyfile("\n".join(f"def test_{i}(userpilot_mock):\n    pass\n" for i in range(4)))
        result = pytester.runpytest_subprocess(*NO_SLOW_PLUGINS, "-n", "2", f"--userpilot-port={base}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [x for x in result.stderr.lines if "cannot be bound" in x]
    assert len(errors) == 1, result.stderr.str()
    assert f"port {base + 1} (--userpilot-port {base} + 1 for xdist worker gw1)" in errors[0]
    assert "OSError" not in result.stdout.str() + result.stderr.str()


def test_a_port_taken_after_start_up_fails_with_one_line(pytester):
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        pytester.makeconftest(f"import pytest\n\n@pytest.fixture(scope='session')\n"
                              f"def userpilot_mock_port():\n    return {port}\n")
        result = run(pytester, "def test_a(userpilot_mock):\n    pass\n\n\ndef test_b(userpilot_mock):\n    pass\n",
                     errors=2)
    assert f"port {port} (--userpilot-port) on 127.0.0.1 cannot be bound" in result.stdout.str()
    assert "Traceback" not in result.stdout.str() and "def userpilot_mock_server" not in result.stdout.str()


def test_faults_on_the_handle(userpilot_mock):
    import json
    import urllib.error
    import urllib.request
    try:
        userpilot_mock.faults
    except Exception as exc:  # noqa: BLE001 - the faults feature is not merged yet
        if getattr(exc, "status", None) == 404:
            pytest.skip("the fault API (/__admin/faults) is not on this branch")
        raise
    userpilot_mock.fail_next("listJobs", status=503, times=1)
    request = urllib.request.Request(userpilot_mock.url + "/v1/background_jobs", headers=userpilot_mock.headers)
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    assert caught.value.code == 503
    with urllib.request.urlopen(request) as response:
        assert len(json.load(response)) == 25
    userpilot_mock.delay("listJobs", 1)
    assert userpilot_mock.faults


def test_the_handle_knows_its_app_token_outside_pytest():
    """docs/pytest.md: "Outside pytest the same handle works on any fake"."""
    from mock_server import create_app
    from mock_server.ids import app_token_for
    from mock_server.handle import UserpilotMock
    from mock_server.server import MockServer

    with MockServer(seed=7, frozen=True) as server:
        fresh = UserpilotMock.over_http(server.url)  # never reset: asks the fake
        assert fresh.app_token == app_token_for(fresh.api_key, 7)
        handle = UserpilotMock.over_http(server.url)
        handle.reset()  # no seed given: the answer names it
        assert handle.seed == 7 and handle.app_token == app_token_for(handle.api_key, 7)
        assert handle.add_job()["job_id"].startswith(f"bulk:jobs:{handle.app_token}:")
        handle.reset(seed=8)
        assert handle.app_token == app_token_for(handle.api_key, 8)
        fresh.close()
        handle.close()
    in_process = UserpilotMock.in_process(create_app(seed=9))
    assert in_process.app_token == app_token_for(in_process.api_key, 9)
    assert in_process.reset().app_token == app_token_for(in_process.api_key, 9)


# --- scenario paths ---------------------------------------------------------------

def test_scenario_reference_reads_paths_and_names_them_in_one_line_errors(tmp_path, monkeypatch):
    from pathlib import Path

    from mock_server.handle import ScenarioFileError, scenario_reference

    secret = "TOP-SECRET-LINE do not print me"
    (tmp_path / "notes.txt").write_text(secret + "\nsecond line\n")
    (tmp_path / "broken.yaml").write_text("jobs: [\n  {total_rows: 10\n")
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00jobs")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "scen.yaml").write_text("jobs: [{filename: a.csv}]\n")
    assert scenario_reference("mixed") == "mixed"  # a bundled name is sent as is
    assert scenario_reference({"jobs": []}) == {"jobs": []}
    found = scenario_reference("scen.yaml", [tmp_path, tmp_path / "sub"])
    assert found["jobs"] == [{"filename": "a.csv"}] and found["name"] == str(tmp_path / "sub" / "scen.yaml")
    assert scenario_reference(Path(tmp_path / "sub" / "scen.yaml"))["jobs"] == [{"filename": "a.csv"}]
    monkeypatch.chdir(tmp_path / "sub")
    assert scenario_reference("./scen.yaml")["jobs"] == [{"filename": "a.csv"}]  # default: the cwd
    cases = [
        (str(tmp_path / "notes.txt"), "is not a scenario: expected a mapping"),
        (str(tmp_path / "broken.yaml"), "is not valid YAML at line"),
        (str(tmp_path / "binary.yaml"), "is not UTF-8 text"),
        (str(tmp_path / "missing.yaml"), "No such file"),
        ("../../etc/passwd-nope", "not found (looked in: "),
        (str(tmp_path), "cannot read scenario file"),
    ]
    for ref, fragment in cases:
        with pytest.raises(ScenarioFileError) as caught:
            scenario_reference(ref, [tmp_path])
        message = str(caught.value)
        assert fragment in message and ref.split("/")[-1] in message and "\n" not in message
        assert "TOP-SECRET" not in message
    with pytest.raises(TypeError):
        scenario_reference(42)


def test_marker_scenario_paths_are_relative_to_the_test_file(pytester):
    consumer = pytester.path / "consumer"
    (consumer / "tests").mkdir(parents=True)
    (consumer / "pytest.ini").write_text("[pytest]\n")
    (consumer / "tests" / "scen.yaml").write_text("jobs: [{filename: beside-the-test.csv}]\n")
    (consumer / "data").mkdir()
    (consumer / "data" / "rooted.yaml").write_text("jobs: [{filename: from-rootdir.csv}]\n")
    (consumer / "tests" / "notes.txt").write_text("TOP-SECRET-LINE do not print me\nroot:x:0:0\n")
    (consumer / "tests" / "test_paths.py").write_text(textwrap.dedent("""
        import pytest

        @pytest.mark.userpilot(scenario="scen.yaml")
        def test_beside(userpilot_mock):
            assert [j["filename"] for j in userpilot_mock.jobs()] == ["beside-the-test.csv"]

        @pytest.mark.userpilot(scenario="data/rooted.yaml")
        def test_rootdir(userpilot_mock):
            assert [j["filename"] for j in userpilot_mock.jobs()] == ["from-rootdir.csv"]

        @pytest.mark.userpilot(scenario="../../etc/passwd")
        def test_traversal(userpilot_mock):
            pass

        @pytest.mark.userpilot(scenario="notes.txt")
        def test_not_a_scenario(userpilot_mock):
            pass
    """))
    result = pytester.runpytest(*NO_SLOW_PLUGINS, "consumer/tests")  # from another directory
    result.assert_outcomes(passed=2, errors=2)
    result.stdout.fnmatch_lines([
        "*test_traversal*: scenario file '../../etc/passwd' not found (looked in: *consumer?tests, *consumer)",
        "*test_not_a_scenario*: scenario file '*notes.txt' is not a scenario*",
    ])
    assert "TOP-SECRET" not in result.stdout.str() and "root:" not in result.stdout.str()


def test_option_scenario_paths_are_relative_to_the_invocation_directory(pytester):
    (pytester.path / "ci").mkdir()
    (pytester.path / "ci" / "jobs.yaml").write_text("jobs: [{filename: from-option.csv}]\n")
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_option.py").write_text(
        "def test_it(userpilot_mock):\n"
        "    assert [j['filename'] for j in userpilot_mock.jobs()] == ['from-option.csv']\n")
    result = pytester.runpytest(*NO_SLOW_PLUGINS, "--userpilot-scenario", "ci/jobs.yaml", "tests")
    result.assert_outcomes(passed=1)
    result = pytester.runpytest(*NO_SLOW_PLUGINS, "--userpilot-scenario", "ci/nope.yaml", "tests")
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # once, at start
    result.stderr.fnmatch_lines(["*scenario file 'ci/nope.yaml' not found*"])


@pytest.mark.parametrize("args, ini, fragment", [
    (("--userpilot-port", "99999"), "", "--userpilot-port / ini userpilot_port: expected an integer from 0 to 65535, got 99999"),
    (("--userpilot-journal-size", "-5"), "", "--userpilot-journal-size / ini userpilot_journal_size: expected an integer from 0 to 10000000, got -5"),
    ((), "userpilot_port = 70000", "*userpilot_port: expected an integer from 0 to 65535, got 70000"),
    (("--userpilot-seed", "abc"), "", "userpilot_seed: expected an integer, got 'abc'"),
])
def test_bad_options_are_usage_errors(pytester, args, ini, fragment):
    pytester.makeini("[pytest]\n" + ini + "\n")
    pytester.makepyfile("def test_never_runs(userpilot_mock):\n    pass\n")
    result = pytester.runpytest(*NO_SLOW_PLUGINS, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{fragment}*"])


def test_the_profile_option_makes_the_fixtures_fakes_follow_a_calibrated_profile(pytester):
    pytester.makefile(".yaml", standin="""
        profile: 1
        name: standin
        jobs:
          rows_per_minute: {value: 600}
        forms:
          headers: {value: {cache-control: no-store, server: nginx}}
    """)
    run(pytester, """
        import urllib.request

        def test_session_fake(userpilot_mock):
            request = urllib.request.Request(userpilot_mock.url + "/__admin/health")
            with urllib.request.urlopen(request) as response:
                assert b'"profile":"standin"' in response.read()
            request = urllib.request.Request(userpilot_mock.url + "/v1/background_jobs", headers=userpilot_mock.headers)
            with urllib.request.urlopen(request) as response:
                assert response.headers["cache-control"] == "no-store"

        def test_in_process_fake(userpilot_flask_client):
            assert userpilot_flask_client.get("/__admin/health").get_json()["profile"] == "standin"
    """, "--userpilot-profile", "standin.yaml", passed=2)
