"""pytest plugin of userpilot-mock, loaded through the ``pytest11`` entry point
(or ``pytest_plugins = ["mock_server.pytest_plugin"]``).

Fixtures (docs/pytest.md, "pytest fixtures"):

- ``userpilot_mock``: a :class:`~mock_server.handle.UserpilotMock` on a fake
  served on a free port, started once per session (per xdist worker) and reset
  before each test (state, clock, journal, faults) with one request.
- ``userpilot_flask_client``: a Flask test client on an in-process fake (no
  socket), reset the same way; ``.mock`` is the same kind of handle.
- ``userpilot_mock_host`` / ``userpilot_mock_port`` / ``userpilot_mock_settings``:
  session fixtures to override in a conftest.py.
- ``userpilot_mock_server``: the running :class:`~mock_server.server.MockServer`.

Coverage of the tests (docs/coverage.md): ``--userpilot-coverage`` prints at
the end of the session what the tests exercised through the fixtures' fakes
(operations and codes, job statuses and transitions, faults, scenarios) and
what they never did; ``--userpilot-coverage-json PATH`` writes the report,
``--userpilot-coverage-fail-under N`` fails the run below N percent (either
turns the report on). Each fake's report is read when its session fixture
ends; under pytest-xdist every worker sends its own to the controller
(``workeroutput``), which merges them.

Configuration, most specific first: the marker
``@pytest.mark.userpilot(scenario=, seed=, jobs=, now=, frozen=, speed=,
api_key=)``, then ``--userpilot-*`` command-line options, then ``userpilot_*``
ini options, then the defaults.

This module is imported by every pytest run of every project that installs
the kit: it imports only the standard library and pytest; Flask, Faker and the
rest load when a fixture is first used.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from .config import ADMIN_TOKEN_ENV, LIMITS, SettingError, Settings

#: Marker keywords, applied through the reset body.
MARKER_FIELDS = ("scenario", "seed", "jobs", "now", "frozen", "speed", "api_key")

#: (option name without prefix, ini/dest name, help, kind)
_OPTIONS = (
    ("seed", "userpilot_seed", "Seed of the fake's generated data (default 20250519).", "int"),
    ("jobs", "userpilot_jobs", "Generated jobs in each new app's history (default 25).", "int"),
    ("now", "userpilot_now", "Start the fake's clock at this ISO 8601 instant at each reset "
                             "(default: the real now).", "str"),
    ("frozen", "userpilot_frozen", "Freeze the fake's clock at each reset (true/false).", "bool"),
    ("speed", "userpilot_speed", "Fake seconds per real second while the clock runs.", "float"),
    ("scenario", "userpilot_scenario", "Scenario every test starts with: a bundled name or a "
                                       "YAML file.", "str"),
    ("api-key", "userpilot_api_key", "API key of the fixtures' handle.", "str"),
    ("host", "userpilot_host", "Address the session's fake binds (default 127.0.0.1).", "str"),
    ("port", "userpilot_port", "Port of the session's fake (default 0: a free one; under "
                               "xdist worker N uses port + N).", "int"),
    ("journal-size", "userpilot_journal_size", "Requests kept in the fake's journal.", "int"),
    ("admin-token", "userpilot_admin_token", "Start the session's fake requiring this control API token (sent "
                                             "by the fixtures' handle; default: env USERPILOT_MOCK_ADMIN_TOKEN, "
                                             "else none).", "str"),
    ("profile", "userpilot_profile", "A calibrated profile (userpilot-mock calibrate) the session's fakes "
                                     "follow: a YAML file (relative: to the directory pytest was started in, "
                                     "then the rootdir).", "str"),
)


def pytest_addoption(parser):
    group = parser.getgroup("userpilot", "userpilot-mock (fake Userpilot background-jobs API)")
    for option, dest, help_text, kind in _OPTIONS:
        group.addoption(f"--userpilot-{option}", dest=dest, default=None, metavar=kind.upper(),
                        help=help_text)
        parser.addini(dest, help_text, default=None)
    group.addoption("--userpilot-coverage", dest="userpilot_coverage", action="store_true", default=False,
                    help="Print what the tests exercised through the userpilot-mock fixtures (operations and "
                         "codes, job statuses and transitions, faults) and what they never did.")
    group.addoption("--userpilot-coverage-json", dest="userpilot_coverage_json", default=None, metavar="PATH",
                    help="Write the userpilot-mock coverage report to PATH as JSON (implies --userpilot-coverage).")
    group.addoption("--userpilot-coverage-fail-under", dest="userpilot_coverage_fail_under", default=None,
                    metavar="PERCENT", type=float,
                    help="Fail the run when the userpilot-mock coverage is under PERCENT (implies "
                         "--userpilot-coverage).")
    # The contract suite's options (same prefix, same group) are registered by
    # the contract kit's own pytest11 plugin, contract_tests.plugin.


def pytest_configure(config):
    _check_options(config)
    _check_reset_options(config)
    _check_port(config)
    if _coverage_wanted(config):
        config.stash[_COVERAGE] = _CoverageRun()
    config.addinivalue_line(
        "markers",
        "userpilot(scenario=None, seed=None, jobs=None, now=None, frozen=None, speed=None, "
        "api_key=None): how the userpilot_mock / userpilot_flask_client fake is reset for this "
        "test (scenario: bundled name, dict or YAML path; now: ISO 8601 or datetime).")


def _convert(dest: str, kind: str, value):
    if value is None or value == "":
        return None
    if kind == "int":
        try:
            return int(value)
        except (TypeError, ValueError):
            raise pytest.UsageError(f"{dest}: expected an integer, got {value!r}") from None
    if kind == "float":
        try:
            return float(value)
        except (TypeError, ValueError):
            raise pytest.UsageError(f"{dest}: expected a number, got {value!r}") from None
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise pytest.UsageError(f"{dest}: expected true or false, got {value!r}")
    return str(value)


#: dest -> (lowest, highest) allowed: the bounds ``userpilot-mock serve`` has (mock_server.config.LIMITS).
_RANGES = {"userpilot_port": LIMITS["port"], "userpilot_journal_size": LIMITS["journal_size"]}


def _check_options(config) -> None:
    """Refuse, as a usage error before any test runs, option and ini values
    of the wrong type or out of range (a port above 65535 would otherwise
    bind another port)."""
    for _o, dest, _h, _k in _OPTIONS:
        value = _option(config, dest)
        low, high = _RANGES.get(dest, (None, None))
        if value is not None and low is not None and not low <= value <= high:
            raise pytest.UsageError(f"--{dest.replace('_', '-')} / ini {dest}: expected an integer "
                                    f"from {low} to {high}, got {value}")


def _option_name(dest: str) -> str:
    return f"--{dest.replace('_', '-')} / ini {dest}"


def _check_reset_options(config) -> None:
    """Refuse, once before any test runs, option and ini values that every
    reset would refuse: an instant that is not ISO 8601, a speed, seed or
    jobs count out of range, a scenario that is neither a bundled name nor a
    readable scenario file (the checks the fake itself applies, loaded only
    when such an option is given)."""
    given = {name: _option(config, f"userpilot_{name}") for name in ("seed", "jobs", "now", "frozen", "speed")}
    given = {name: value for name, value in given.items() if value is not None}
    scenario = _option(config, "userpilot_scenario")
    token = _option(config, "userpilot_admin_token")
    if not given and scenario is None and token is None:
        return
    try:  # Settings.checked loads admin.yaml's schemas: only when such an option is given
        Settings.build(**given, **({"admin_token": token} if token is not None else {}))
    except SettingError as exc:
        raise pytest.UsageError(f"{_option_name('userpilot_' + exc.setting)}: {exc.message}") from None
    if scenario is not None:
        from .backend import scenarios  # deferred: as above
        from .backend.errors import ApiError  # deferred: as above
        from .handle import scenario_reference  # deferred: as above
        try:
            scenarios.resolve(scenario_reference(scenario, [config.invocation_params.dir, config.rootpath]))
        except ApiError as exc:  # no such bundled scenario, a document the schema refuses
            raise pytest.UsageError(f"{_option_name('userpilot_scenario')}: {exc.message} ({exc.details})") from None
        except (ValueError, TypeError) as exc:  # ScenarioFileError: missing, unreadable, not YAML
            raise pytest.UsageError(f"{_option_name('userpilot_scenario')}: {exc}") from None


def _check_port(config) -> None:
    """With ``--userpilot-port``, refuse (once, before any test) a port that
    is taken: the port itself, or under xdist (``-n N``, checked by the
    controller before its workers start) each worker's port + N."""
    port = _option(config, "userpilot_port")
    if not port or _worker(config) is not None:
        return
    workers = getattr(config.option, "numprocesses", None) if getattr(config.option, "dist", "no") != "no" else None
    import socket  # deferred: only a fixed port is checked

    host = _option(config, "userpilot_host") or "127.0.0.1"
    for index in range(workers if isinstance(workers, int) and workers > 0 else 1):
        candidate = port + index if workers else port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
            try:
                probe.bind((host, candidate))
            except OSError as exc:
                raise pytest.UsageError(_port_taken(port, candidate, f"gw{index}" if workers else None,
                                                    host, exc)) from None


def _worker(config) -> str | None:
    """The xdist worker id (``gw0``...) of this process, None outside a
    worker (read from xdist's ``workerinput``, not the environment: a pytest
    run started inside a worker's test is no worker)."""
    workerinput = getattr(config, "workerinput", None)
    return workerinput.get("workerid") if isinstance(workerinput, dict) else None


def _port_taken(base: int, port: int, worker: str | None, host: str, exc: OSError) -> str:
    """The one line of a session fake's port that cannot be bound."""
    which = f"port {port} (--userpilot-port {base} + {port - base} for xdist worker {worker})" if worker \
        else f"port {port} (--userpilot-port)"
    return (f"userpilot-mock: {which} on {host} cannot be bound: {exc.strerror or exc}; free it or choose "
            "another --userpilot-port (under xdist each worker gwN uses port + N)")
# --- coverage of the tests ---------------------------------------------------------

class _CoverageRun:
    """The coverage reports of this process's fakes (and, in the xdist
    controller, its workers'), then their merged report."""

    def __init__(self):
        self.reports: list[dict] = []
        self.problems: list[str] = []
        self.merged: dict | None = None
        self.written: Path | None = None


_COVERAGE = pytest.StashKey[_CoverageRun]()


def _coverage_wanted(config) -> bool:
    fail_under = config.getoption("userpilot_coverage_fail_under", default=None)
    if fail_under is not None and not 0 <= fail_under <= 100:
        raise pytest.UsageError(f"--userpilot-coverage-fail-under: expected a percentage from 0 to 100, "
                                f"got {fail_under:g}")
    return bool(config.getoption("userpilot_coverage", default=False)
                or config.getoption("userpilot_coverage_json", default=None) or fail_under is not None)


def _collect_coverage(config, handle, what: str) -> None:
    """Keep the coverage report of ``handle``'s fake, when the run wants one."""
    run = config.stash.get(_COVERAGE, None)
    if run is None:
        return
    from .handle import UserpilotMockError  # deferred: see the module docstring
    try:
        run.reports.append(handle.coverage())
    except (UserpilotMockError, OSError, ValueError) as exc:  # a fake without /__admin/coverage, gone...
        run.problems.append(f"no coverage from {what}: {exc}")


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """xdist controller: keep what a worker's fakes observed."""
    run = node.config.stash.get(_COVERAGE, None)
    output = getattr(node, "workeroutput", None) or {}
    if run is not None and "userpilot_coverage" in output:
        run.reports.extend(output["userpilot_coverage"]["reports"])
        run.problems.extend(output["userpilot_coverage"]["problems"])


def pytest_sessionfinish(session, exitstatus):
    run = session.config.stash.get(_COVERAGE, None)
    if run is None:
        return
    config = session.config
    if hasattr(config, "workeroutput"):  # an xdist worker: the controller merges and reports
        config.workeroutput["userpilot_coverage"] = {"reports": run.reports, "problems": run.problems}
        return
    from . import coverage  # deferred: see the module docstring
    if run.reports:
        run.merged = coverage.merge(run.reports)
    else:  # no test used a fixture: nothing exercised, over the bundled kit's universe
        from .families import job_types  # deferred: see the module docstring
        from .spec import load_spec
        run.merged = coverage.report(coverage.empty_observed(), coverage.universe(load_spec("kit"), job_types()))
    target = config.getoption("userpilot_coverage_json", default=None)
    if target:
        import json  # deferred: only a run that writes the report needs it

        path = Path(config.invocation_params.dir, target)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(run.merged, indent=2) + "\n", encoding="utf-8")
        run.written = path
    fail_under = config.getoption("userpilot_coverage_fail_under", default=None)
    if fail_under is not None and run.merged["summary"]["percent"] < fail_under and \
            session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    run = config.stash.get(_COVERAGE, None)
    if run is None or run.merged is None:
        return
    from .coverage import text  # deferred: see the module docstring
    terminalreporter.write_sep("=", "userpilot-mock coverage")
    for line in text(run.merged):
        terminalreporter.write_line(line)
    for problem in run.problems:
        terminalreporter.write_line(f"warning: {problem}", yellow=True)
    if run.written is not None:
        terminalreporter.write_line(f"coverage report written to {run.written}")
    fail_under = config.getoption("userpilot_coverage_fail_under", default=None)
    if fail_under is not None:
        percent = run.merged["summary"]["percent"]
        if percent < fail_under:
            terminalreporter.write_line(f"FAIL: userpilot-mock coverage {percent:.1f}% is under "
                                        f"--userpilot-coverage-fail-under {fail_under:g}", red=True, bold=True)
        else:
            terminalreporter.write_line(f"userpilot-mock coverage {percent:.1f}% reaches "
                                        f"--userpilot-coverage-fail-under {fail_under:g}", green=True)


def _option(config, dest: str):
    """An option's value: command line, then ini file, then None."""
    kind = next(k for _o, d, _h, k in _OPTIONS if d == dest)
    value = config.getoption(dest, default=None)
    if value is None:
        try:
            value = config.getini(dest)
        except ValueError:
            value = None
    return _convert(dest, kind, value)


# --- session fixtures (override these in a conftest.py) ------------------------

@pytest.fixture(scope="session")
def userpilot_mock_host(pytestconfig) -> str:
    """Address the session's fake binds: ``--userpilot-host``, ini
    ``userpilot_host``, else 127.0.0.1."""
    return _option(pytestconfig, "userpilot_host") or "127.0.0.1"


@pytest.fixture(scope="session")
def userpilot_mock_port(pytestconfig) -> int:
    """Port of the session's fake: ``--userpilot-port`` (under xdist, worker
    gwN adds N), ini ``userpilot_port``, else 0 (a free port)."""
    port = _option(pytestconfig, "userpilot_port") or 0
    worker = _worker(pytestconfig) or ""
    if port and worker.startswith("gw") and worker[2:].isdigit():
        port += int(worker[2:])
    return port


@pytest.fixture(scope="session")
def userpilot_mock_settings(pytestconfig) -> dict:
    """Defaults of every reset (``seed``, ``jobs``, ``now``, ``frozen``,
    ``speed``, ``scenario``) plus ``api_key``, ``journal_size`` and
    ``admin_token``, ``profile`` (a path, as given), from the options.
    Override to set them in code (``profile`` may then be a parsed document
    too)."""
    from .config import DEFAULT_SEED  # deferred: the plugin imports only the standard library until used
    from .handle import DEFAULT_API_KEY
    return {
        "seed": _option(pytestconfig, "userpilot_seed") if _option(pytestconfig, "userpilot_seed")
        is not None else DEFAULT_SEED,
        "jobs": _option(pytestconfig, "userpilot_jobs"),
        "now": _option(pytestconfig, "userpilot_now"),
        "frozen": _option(pytestconfig, "userpilot_frozen"),
        "speed": _option(pytestconfig, "userpilot_speed"),
        "scenario": _option(pytestconfig, "userpilot_scenario"),
        "api_key": _option(pytestconfig, "userpilot_api_key") or DEFAULT_API_KEY,
        "journal_size": _option(pytestconfig, "userpilot_journal_size"),
        "admin_token": _option(pytestconfig, "userpilot_admin_token") or os.environ.get(ADMIN_TOKEN_ENV) or None,
        "profile": _profile_path(pytestconfig, _option(pytestconfig, "userpilot_profile")),
    }


def _profile_path(config, value):
    """A relative profile path found from the directory pytest was started
    in, then the rootdir (as given when in neither: the fake's error names it)."""
    if not isinstance(value, str) or os.path.isabs(value):
        return value
    for base in (config.invocation_params.dir, config.rootpath):
        candidate = os.path.join(str(base), value)
        if os.path.exists(candidate):
            return candidate
    return value


def _server_settings(settings: dict) -> dict:
    out = {}
    for name in ("journal_size", "admin_token"):
        if settings.get(name) is not None:
            out[name] = settings[name]
    if settings.get("seed") is not None:
        out["seed"] = settings["seed"]
    if settings.get("profile") is not None:
        out["profile"] = settings["profile"]
    return out


@pytest.fixture(scope="session")
def userpilot_mock_server(pytestconfig, userpilot_mock_host, userpilot_mock_port, userpilot_mock_settings):
    """The session's fake (a :class:`~mock_server.server.MockServer`),
    started on first use, stopped at the end of the session."""
    from .server import MockServer  # deferred: see the module docstring
    # 4 threads: enough for a client's parallel calls, and fewer idle threads
    # answer the fixture's own control calls faster.
    server = MockServer(userpilot_mock_host, userpilot_mock_port, threads=4,
                        **_server_settings(userpilot_mock_settings))
    try:
        server.start()
    except OSError as exc:  # taken since start-up (or a fixture override's port): one line, no traceback
        worker = _worker(pytestconfig)
        base = _option(pytestconfig, "userpilot_port") or userpilot_mock_port
        pytest.fail(_port_taken(base, userpilot_mock_port, worker, userpilot_mock_host, exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def _userpilot_mock_http_handle(pytestconfig, userpilot_mock_server, userpilot_mock_settings):
    from .handle import UserpilotMock  # deferred: see the module docstring
    handle = UserpilotMock.over_http(userpilot_mock_server.url, admin_token=userpilot_mock_settings.get("admin_token"))
    yield handle
    _collect_coverage(pytestconfig, handle, f"the fake at {userpilot_mock_server.url}")
    handle.close()


@pytest.fixture(scope="session")
def userpilot_flask_app(pytestconfig, userpilot_mock_settings):
    """The in-process fake behind ``userpilot_flask_client`` (one per
    session; reset before each test)."""
    from .handle import UserpilotMock  # deferred: see the module docstring
    from .http.app import create_app
    app = create_app(**_server_settings(userpilot_mock_settings))
    yield app
    _collect_coverage(pytestconfig, UserpilotMock.in_process(app), "the in-process fake")


# --- per-test fixtures -----------------------------------------------------------

def _marker_values(node) -> dict:
    """The ``userpilot`` markers' keywords, the closest (function) winning.
    A marker with positional arguments or an unknown keyword fails the test
    with one line (no traceback)."""
    values: dict = {}
    problem = None
    for marker in reversed(list(node.iter_markers("userpilot"))):
        if marker.args:
            problem = (f"{node.nodeid}: @pytest.mark.userpilot takes keywords only "
                       f"({', '.join(MARKER_FIELDS)})")
            break
        unknown = set(marker.kwargs) - set(MARKER_FIELDS)
        if unknown:
            problem = (f"{node.nodeid}: unknown @pytest.mark.userpilot keyword(s) "
                       f"{', '.join(sorted(unknown))}; allowed: {', '.join(MARKER_FIELDS)}")
            break
        values.update(marker.kwargs)
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    return values


def _scenario_bases(request, from_marker: bool) -> list:
    """Where a relative scenario path is looked up: for the marker, the test
    file's directory then the rootdir; for the options (command line, ini,
    ``userpilot_mock_settings``), the directory pytest was started in then
    the rootdir."""
    config = request.config
    first = request.node.path.parent if from_marker else config.invocation_params.dir
    return [first, config.rootpath]


def _prepare(handle, request, settings: dict):
    """Configure ``handle`` for this test and reset the fake (one request)."""
    marker = _marker_values(request.node)
    handle._defaults = {k: settings.get(k) for k in ("seed", "jobs", "now", "frozen", "speed", "scenario")}
    handle.api_key = marker.pop("api_key", None) or settings.get("api_key") or handle.api_key
    handle.seed = None
    from .handle import UserpilotMockError, scenario_reference  # deferred: see the module docstring
    failure = None
    try:
        if marker.get("scenario") is not None:
            marker["scenario"] = scenario_reference(marker["scenario"], _scenario_bases(request, True))
        elif handle._defaults["scenario"] is not None:
            handle._defaults["scenario"] = scenario_reference(handle._defaults["scenario"],
                                                              _scenario_bases(request, False))
        handle.reset(**marker)
    except (UserpilotMockError, TypeError, ValueError, OSError) as exc:  # a bad marker value or scenario
        failure = f"userpilot-mock could not reset for {request.node.nodeid}: {exc}"
    if failure is not None:  # outside the except: one clear line, no chained traceback
        pytest.fail(failure, pytrace=False)
    return handle


@pytest.fixture
def userpilot_mock(request, _userpilot_mock_http_handle, userpilot_mock_settings):
    """A control handle on the session's fake, reset for this test.

    ``.url``, ``.api_key``, ``.headers``, ``.app_token``, ``.clock``
    (``.now``, ``.advance(s)``, ``.freeze(at=None)``), ``.add_job(**spec)``,
    ``.jobs()``, ``.requests`` (``.assert_called``,
    ``.assert_no_violations``), ``.fail_next``, ``.delay``.
    """
    return _prepare(_userpilot_mock_http_handle, request, userpilot_mock_settings)


@pytest.fixture
def userpilot_flask_client(request, userpilot_flask_app, userpilot_mock_settings):
    """A Flask test client on an in-process fake, reset for this test; its
    ``.mock`` is the control handle (same API as ``userpilot_mock``)."""
    from .handle import UserpilotMock  # deferred: see the module docstring
    handle = _prepare(UserpilotMock.in_process(userpilot_flask_app), request, userpilot_mock_settings)
    client = userpilot_flask_app.test_client()
    client.mock = handle
    return client
