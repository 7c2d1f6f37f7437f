"""Per-test cost of the ``userpilot_mock`` pytest fixture (reset + handle).

A throw-away test project (a temporary folder) holds 201 tests that take the
fixture and 201 that take nothing; a conftest times each test's setup and
teardown. The fixture's cost is the median of the first group (the first
test, which also starts the session's server, is left out) minus the median
of the second (pytest's own per-test work). Runs only once the plugin exists
(``mock_server/pytest_plugin.py``); until then the row says so.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

PLUGIN = "mock_server.pytest_plugin"
FIXTURE = "userpilot_mock"

_CONFTEST = '''
import json, os, time
import pytest

TIMES = {}


def _timed(item, phase):
    start = time.perf_counter()
    yield
    TIMES.setdefault(item.nodeid, {})[phase] = time.perf_counter() - start


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    yield from _timed(item, "setup")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    yield from _timed(item, "teardown")


def pytest_sessionfinish(session):
    with open(os.environ["USERPILOT_BENCH_OUT"], "w") as handle:
        json.dump(TIMES, handle)
'''

_TESTS = '''
import pytest

N = {n}


@pytest.mark.parametrize("i", range(N))
def test_fixture(i, {fixture}):
    assert {fixture} is not None


@pytest.mark.parametrize("i", range(N))
def test_control(i):
    pass
'''


def plugin_status() -> str | None:
    """None when the fixture's plugin is importable, else why not."""
    if importlib.util.find_spec(PLUGIN) is None:
        return f"not available yet: {PLUGIN} does not exist in this checkout"
    return None


def _registered() -> bool:
    try:
        points = importlib.metadata.entry_points(group="pytest11")
    except Exception:  # pragma: no cover - broken metadata
        return False
    return any(point.value.split(":")[0] == PLUGIN for point in points)


def run(tests: int = 200, log=print) -> dict:
    """``{"available", "median_ms", "setup_median_ms", "control_median_ms",
    "first_ms", "p90_ms", "tests"}`` or ``{"available": False, "reason"}``."""
    problem = plugin_status()
    if problem:
        log(f"  per-test cost: {problem}")
        return {"available": False, "reason": problem}
    with tempfile.TemporaryDirectory(prefix="userpilot-bench-pertest-") as tmp:
        folder = Path(tmp)
        (folder / "conftest.py").write_text(_CONFTEST)
        (folder / "test_cost.py").write_text(_TESTS.format(n=tests + 1, fixture=FIXTURE))
        (folder / "pytest.ini").write_text("[pytest]\n")
        out = folder / "times.json"
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                "-p", "no:randomly", str(folder)]
        if not _registered():
            argv[3:3] = ["-p", PLUGIN]
        env = dict(os.environ, USERPILOT_BENCH_OUT=str(out))
        proc = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0 or not out.exists():
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-8:]
            reason = "not available yet: the test project failed: " + " | ".join(tail)
            log(f"  per-test cost: {reason}")
            return {"available": False, "reason": reason}
        times = json.loads(out.read_text())

    def totals(prefix):
        rows = [(nodeid, t) for nodeid, t in times.items() if f"::{prefix}[" in nodeid]
        rows.sort(key=lambda row: int(row[0].rsplit("[", 1)[1].rstrip("]")))
        return [t.get("setup", 0.0) + t.get("teardown", 0.0) for _, t in rows], \
               [t.get("setup", 0.0) for _, t in rows]

    fixture_total, fixture_setup = totals("test_fixture")
    control_total, _ = totals("test_control")
    first = fixture_total[0]
    measured = fixture_total[1:]
    control = statistics.median(control_total[1:])
    median = statistics.median(measured) - control
    result = {
        "available": True,
        "tests": len(measured),
        "median_ms": median * 1000,
        "gross_median_ms": statistics.median(measured) * 1000,
        "setup_median_ms": statistics.median(fixture_setup[1:]) * 1000,
        "control_median_ms": control * 1000,
        "p90_ms": (statistics.quantiles(measured, n=10)[-1] - control) * 1000,
        "first_ms": first * 1000,
    }
    log(f"  per-test cost of {FIXTURE}: median {result['median_ms']:.2f} ms over {len(measured)} tests "
        f"(first test, with the session's server start: {result['first_ms']:.0f} ms)")
    return result
