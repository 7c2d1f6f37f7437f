"""tests/once.py: a set-up shared by every xdist worker runs once per run.

The unit tests call ``once_per_run`` directly; the slow one proves the
property where it matters, in a nested ``pytest -n 2`` run whose two workers
both ask for the same session fixture.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.once import file_lock, once_per_run, shared_root

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
#: Plugins of the dev environment that the nested run does not need.
NO_SLOW_PLUGINS = ("-p", "no:cacheprovider", "-p", "no:schemathesis", "-p", "no:hypothesispytest",
                   "-p", "no:faker", "-p", "no:anyio", "-p", "no:mock_server.pytest_plugin")


class FakeFactory:
    """Stands in for pytest's ``tmp_path_factory``: only ``getbasetemp``."""

    def __init__(self, base: Path):
        self.base = base

    def getbasetemp(self) -> Path:
        """The folder given at construction."""
        return self.base


def test_builds_once_and_hands_the_same_folder_to_later_callers(tmp_path, monkeypatch):
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    calls = []

    def build(folder):
        calls.append(folder)
        (folder / "made").write_text("x")

    first = once_per_run(FakeFactory(tmp_path), "thing", build)
    second = once_per_run(FakeFactory(tmp_path), "thing", build)
    assert first == second == tmp_path / "thing" and calls == [first]
    assert (first / "made").read_text() == "x"
    assert len((tmp_path / "thing.builds").read_text().splitlines()) == 1


def test_a_failed_build_is_not_retried_and_later_callers_see_why(tmp_path, monkeypatch):
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    calls = []

    def build(folder):
        calls.append(folder)
        raise ValueError("no compiler today")

    with pytest.raises(ValueError):
        once_per_run(FakeFactory(tmp_path), "thing", build)
    with pytest.raises(RuntimeError, match="no compiler today"):
        once_per_run(FakeFactory(tmp_path), "thing", build)
    assert len(calls) == 1 and not (tmp_path / "thing.builds").exists()


def test_a_skipped_build_is_tried_again(tmp_path, monkeypatch):
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    attempts = []

    def build(folder):
        attempts.append(folder)
        if len(attempts) == 1:
            pytest.skip("not today")

    with pytest.raises(pytest.skip.Exception):
        once_per_run(FakeFactory(tmp_path), "thing", build)
    once_per_run(FakeFactory(tmp_path), "thing", build)
    assert len(attempts) == 2


def test_workers_share_the_parent_of_their_basetemp(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    assert shared_root(FakeFactory(tmp_path / "gw1")) == tmp_path
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert shared_root(FakeFactory(tmp_path)) == tmp_path


def test_the_lock_can_be_taken_again_once_released(tmp_path):
    with file_lock(tmp_path / "x.lock"):
        pass
    with file_lock(tmp_path / "x.lock"):
        pass


@pytest.mark.slow
def test_two_xdist_workers_asking_at_once_get_one_build(pytester, monkeypatch):
    record = pytester.path / "used"
    record.mkdir()
    pytester.makepyfile(test_demo=textwrap.dedent(f"""
        import os, time
        from pathlib import Path

        import pytest

        from tests.once import once_per_run

        RECORD = Path({str(record)!r})

        def build(folder):
            time.sleep(1.0)          # long enough for the other worker to ask meanwhile
            (folder / "result").write_text(os.environ["PYTEST_XDIST_WORKER"])

        @pytest.fixture(scope="session")
        def thing(tmp_path_factory):
            return once_per_run(tmp_path_factory, "thing", build)

        @pytest.mark.parametrize("n", range(6))
        def test_uses_it(thing, n):
            worker = os.environ["PYTEST_XDIST_WORKER"]
            (RECORD / f"{{worker}}-{{n}}-{{(thing / 'result').read_text()}}").touch()
    """))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    result = pytester.runpytest_subprocess(*NO_SLOW_PLUGINS, "-n", "2")
    result.assert_outcomes(passed=6)
    (builds,) = pytester.path.rglob("thing.builds")
    assert len(builds.read_text().splitlines()) == 1, builds.read_text()
    uses = [name.split("-") for name in sorted(p.name for p in record.iterdir())]
    assert {worker for worker, _n, _built_by in uses} == {"gw0", "gw1"}, uses   # both workers asked
    assert len({built_by for _worker, _n, built_by in uses}) == 1, uses         # and got one result
