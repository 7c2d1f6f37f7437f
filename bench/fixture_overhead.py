"""Per-test cost of the pytest fixtures (``userpilot_mock`` and
``userpilot_flask_client``): the setup of each fixture, measured inside a real
pytest run of generated tests, first test (session start) excluded.

    python bench/fixture_overhead.py [--tests 500]

Prints median, p95 and max milliseconds per test for each fixture, and the
cost of a test that also lists the default history once (25 generated jobs,
created lazily on first use). Budget (issue 5): under 5 ms per test for
``userpilot_mock``'s reset + handle.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

CONFTEST = textwrap.dedent('''
    import json, os, statistics, time
    import pytest

    TIMES = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(fixturedef, request):
        t0 = time.perf_counter()
        yield
        if fixturedef.argname in ("userpilot_mock", "userpilot_flask_client"):
            TIMES.setdefault(fixturedef.argname, []).append((time.perf_counter() - t0) * 1000)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(item):
        t0 = time.perf_counter()
        yield
        TIMES.setdefault("call:" + item.originalname, []).append((time.perf_counter() - t0) * 1000)

    def pytest_sessionfinish(session):
        with open(os.environ["BENCH_OUT"], "w") as fh:
            json.dump(TIMES, fh)
''')

TESTS = textwrap.dedent('''
    import json, urllib.request
    import pytest

    @pytest.mark.parametrize("i", range({n}))
    def test_http_fixture(userpilot_mock, i):
        pass

    @pytest.mark.parametrize("i", range({n}))
    def test_flask_fixture(userpilot_flask_client, i):
        pass

    @pytest.mark.parametrize("i", range({m}))
    def test_http_list_history(userpilot_mock, i):
        req = urllib.request.Request(userpilot_mock.url + "/v1/background_jobs", headers=userpilot_mock.headers)
        with urllib.request.urlopen(req) as r:
            assert len(json.load(r)) == 25
''')


def stats(values: list[float]) -> str:
    values = sorted(values[1:])  # the first includes the session's start
    if not values:
        return "n/a"
    p = lambda q: values[min(len(values) - 1, int(q * len(values)))]
    return f"median {p(0.5):.2f} ms, p95 {p(0.95):.2f} ms, max {values[-1]:.2f} ms (n={len(values)})"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=500)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "conftest.py").write_text(CONFTEST)
        (root / "test_bench.py").write_text(TESTS.format(n=args.tests, m=max(20, args.tests // 10)))
        out = root / "times.json"
        env = dict(os.environ, BENCH_OUT=str(out))
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                        str(root)], cwd=root, env=env, check=True, stdout=subprocess.DEVNULL)
        times = json.loads(out.read_text())
    print(f"userpilot_mock setup (reset + handle):   {stats(times['userpilot_mock'])}")
    print(f"userpilot_flask_client setup:           {stats(times['userpilot_flask_client'])}")
    print(f"a test listing the default history:     {stats(times['call:test_http_list_history'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
