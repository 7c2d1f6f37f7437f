"""The kit as a user gets it: the wheel built from this checkout, installed
(not editable) into a fresh virtualenv with the example consumer project
(examples/consumer), whose tests then run with the fixtures alone, with and
without pytest-xdist, from a folder outside the repository. The same install
proves the data files ship in the wheel (``userpilot-mock spec``, ``serve
--scenario``).

About 30 s, most of it pip (which reuses its cache across runs).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: One install per run, even under `-n N --dist loadgroup`.
pytestmark = pytest.mark.xdist_group("wheel-install")
#: Dev-environment plugins the fresh venv does not have; nothing to disable.
ENV = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH", "VIRTUAL_ENV"))}


def _run(args, cwd, timeout=240, check=True):
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=ENV, capture_output=True, text=True,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {result.returncode}\n"
                             f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}")
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``(venv python, consumer copy)``: the wheel and the example installed
    into a fresh venv that has neither this checkout nor its dev tools."""
    work = tmp_path_factory.mktemp("wheel-install")
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", work / "dist", ROOT], cwd=work)
    (wheel,) = (work / "dist").glob("userpilot_mock-*.whl")
    consumer = work / "consumer"
    shutil.copytree(ROOT / "examples" / "consumer", consumer,
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist"))
    venv = work / "venv"
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    # No pip inside the new venv (ensurepip is slow): this venv's pip installs into it.
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=work)
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet",
          "--disable-pip-version-check", wheel, f"{consumer}[test]"], cwd=work, timeout=480)
    return python, consumer


def test_the_install_is_the_wheel_not_the_checkout(installed):
    python, consumer = installed
    code = ("import mock_server, mock_server.resources as r; print(mock_server.__file__); "
            "print(r.data_path('openapi', 'kit.yaml')); print(r.data_path('fixtures', 'scenarios', 'large.yaml'))")
    lines = _run([python, "-c", code], cwd=consumer).stdout.split()
    assert all(str(ROOT) not in line for line in lines), lines
    assert all("site-packages" in line for line in lines), lines
    assert all(Path(line).is_file() for line in lines[1:])


def test_the_cli_works_from_the_wheel(installed):
    python, consumer = installed
    cli = python.parent / "userpilot-mock"
    spec = _run([cli, "spec"], cwd=consumer).stdout
    assert spec.startswith("# GENERATED FILE") and "operationId: listJobs" in spec
    server = subprocess.Popen([str(cli), "serve", "--port", "0", "--scenario", "mixed", "--quiet"],
                              cwd=consumer, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        banner = server.stdout.readline()
        assert "serving the Userpilot background-jobs API at http://127.0.0.1:" in banner, \
            banner + server.stderr.read() if server.poll() is not None else banner
        url = banner.split(" at ", 1)[1].split()[0]
        request = urllib.request.Request(url + "/v1/background_jobs", headers={"Authorization": "Token k"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert len(json.load(response)) == 7
    finally:
        server.send_signal(signal.SIGTERM)
        out, _err = server.communicate(timeout=30)
    assert server.returncode == 0 and "stopped" in out


def test_without_the_contract_extra_the_kit_stays_out_of_the_way(installed):
    """The consumer installed userpilot-mock without ``[contract]``: pytest
    offers the fixtures' options and none of the contract suite's, and
    ``userpilot-mock contract`` (a subcommand the kit adds by entry point)
    says which extra it needs."""
    python, consumer = installed
    assert _run([python, "-c", "import importlib.util as u; print(u.find_spec('schemathesis'))"],
                cwd=consumer).stdout.strip() == "None"
    help_text = _run([python, "-m", "pytest", "--help", "-p", "no:cacheprovider"], cwd=consumer).stdout
    assert "--userpilot-seed" in help_text
    assert "--userpilot-base-url" not in help_text and "--userpilot-contract-seed" not in help_text
    result = _run([python.parent / "userpilot-mock", "contract"], cwd=consumer, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "pip install 'userpilot-mock[contract]'" in result.stderr


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_the_example_consumer_passes_with_the_fixtures_alone(installed, xdist):
    python, consumer = installed
    result = _run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *xdist], cwd=consumer)
    assert "8 passed" in result.stdout, result.stdout
