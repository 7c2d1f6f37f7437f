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

import pytest

from .config import LIMITS

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
    # The contract suite's options (same prefix, same group) are registered by
    # the contract kit's own pytest11 plugin, contract_tests.plugin.


def pytest_configure(config):
    _check_options(config)
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
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if port and worker.startswith("gw") and worker[2:].isdigit():
        port += int(worker[2:])
    return port


@pytest.fixture(scope="session")
def userpilot_mock_settings(pytestconfig) -> dict:
    """Defaults of every reset (``seed``, ``jobs``, ``now``, ``frozen``,
    ``speed``, ``scenario``) plus ``api_key``, ``journal_size`` and
    ``profile`` (a path, as given), from the options. Override to set them
    in code (``profile`` may then be a parsed document too)."""
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
    if settings.get("journal_size") is not None:
        out["journal_size"] = settings["journal_size"]
    if settings.get("seed") is not None:
        out["seed"] = settings["seed"]
    if settings.get("profile") is not None:
        out["profile"] = settings["profile"]
    return out


@pytest.fixture(scope="session")
def userpilot_mock_server(userpilot_mock_host, userpilot_mock_port, userpilot_mock_settings):
    """The session's fake (a :class:`~mock_server.server.MockServer`),
    started on first use, stopped at the end of the session."""
    from .server import MockServer  # deferred: see the module docstring
    # 4 threads: enough for a client's parallel calls, and fewer idle threads
    # answer the fixture's own control calls faster.
    server = MockServer(userpilot_mock_host, userpilot_mock_port, threads=4,
                        **_server_settings(userpilot_mock_settings))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def _userpilot_mock_http_handle(userpilot_mock_server, userpilot_mock_settings):
    from .handle import UserpilotMock  # deferred: see the module docstring
    handle = UserpilotMock.over_http(userpilot_mock_server.url)
    yield handle
    handle.close()


@pytest.fixture(scope="session")
def userpilot_flask_app(userpilot_mock_settings):
    """The in-process fake behind ``userpilot_flask_client`` (one per
    session; reset before each test)."""
    from .http.app import create_app  # deferred: see the module docstring
    return create_app(**_server_settings(userpilot_mock_settings))


# --- per-test fixtures -----------------------------------------------------------

def _marker_values(node) -> dict:
    """The ``userpilot`` markers' keywords, the closest (function) winning."""
    values: dict = {}
    for marker in reversed(list(node.iter_markers("userpilot"))):
        if marker.args:
            raise pytest.UsageError(f"{node.nodeid}: @pytest.mark.userpilot takes keywords only "
                                    f"({', '.join(MARKER_FIELDS)})")
        unknown = set(marker.kwargs) - set(MARKER_FIELDS)
        if unknown:
            raise pytest.UsageError(f"{node.nodeid}: unknown @pytest.mark.userpilot keyword(s) "
                                    f"{', '.join(sorted(unknown))}; allowed: {', '.join(MARKER_FIELDS)}")
        values.update(marker.kwargs)
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
