"""The kit as a user gets it: the wheel built from this checkout, installed
(not editable) into a fresh virtualenv with the example consumer project
(examples/consumer), whose tests then run with the fixtures alone, with and
without pytest-xdist, from a folder outside the repository. The same install
proves the data files ship in the wheel (``userpilot-mock spec``, ``serve
--scenario``), and the wheel itself is checked: only the served OpenAPI
documents and ``fixtures/``, no spec builder or overlay, ``py.typed``, the
license metadata.

About 30 s, most of it pip (which reuses its cache across runs).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.once import once_per_run

ROOT = Path(__file__).resolve().parents[1]
#: Keeps these tests on one worker where pytest-xdist's groups work (not with
#: pytest 9); the build and the install happen once per run either way
#: (tests/once.py).
pytestmark = [pytest.mark.xdist_group("wheel-install"), pytest.mark.slow]   # and the slow lane
#: Dev-environment plugins the fresh venv does not have; nothing to disable.
ENV = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH", "VIRTUAL_ENV"))}


def _run(args, cwd, timeout=240, check=True):
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=ENV, capture_output=True, text=True,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {result.returncode}\n"
                             f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}")
    return result


def _build_wheel(folder: Path) -> None:
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", folder, ROOT], cwd=folder)


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from this checkout (``python -m build --wheel``), once
    per run however many xdist workers ask (tests/once.py)."""
    (built,) = once_per_run(tmp_path_factory, "userpilot-wheel", _build_wheel).glob("userpilot_mock-*.whl")
    return built


@pytest.fixture(scope="session")
def installed(wheel, tmp_path_factory):
    """``(venv python, consumer copy)``: the wheel and the example installed
    into a fresh venv that has neither this checkout nor its dev tools; once
    per run, like the wheel."""
    def install(work: Path) -> None:
        shutil.copytree(ROOT / "examples" / "consumer", work / "consumer",
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist"))
        # No pip inside the new venv (ensurepip is slow): this venv's pip installs into it.
        _run([sys.executable, "-m", "venv", "--without-pip", work / "venv"], cwd=work)
        _run([sys.executable, "-m", "pip", "--python", _venv_python(work / "venv"), "install", "--quiet",
              "--disable-pip-version-check", wheel, f"{work / 'consumer'}[test]"], cwd=work, timeout=480)

    work = once_per_run(tmp_path_factory, "userpilot-wheel-venv", install)
    return _venv_python(work / "venv"), work / "consumer"


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def test_the_wheel_ships_the_served_documents_and_no_dev_tool(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    data = "mock_server/_data/openapi/"
    assert {data + "kit.yaml", data + "vendor.yaml", data + "admin.yaml"} <= names
    assert {n for n in names if n.startswith(data)} == {data + "kit.yaml", data + "vendor.yaml", data + "admin.yaml"}
    assert {"contract_tests/_vendor/vendor-exports-operations.yaml",  # --spec vendor's other documents
            "contract_tests/_vendor/vendor-bulk-operations.yaml"} <= names
    assert "mock_server/_data/fixtures/scenario.schema.json" in names
    assert "mock_server/_data/fixtures/scenarios/mixed.yaml" in names
    assert "mock_server/_data/fixtures/imports/events.csv" in names
    unwanted = [n for n in names if re.search(r"spec_build|overlay|vendor-jobs-operations|(^|/)tools/|(^|/)tests/", n)]
    assert not unwanted, unwanted


def test_the_wheel_is_typed_and_licensed(wheel):
    archive = zipfile.ZipFile(wheel)
    names = set(archive.namelist())
    assert {"mock_server/py.typed", "contract_tests/py.typed"} <= names
    (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    text = archive.read(metadata).decode("utf-8")
    headers = text.split("\n\n", 1)[0].splitlines()
    assert "License-Expression: MIT" in headers and "License-File: LICENSE" in headers
    license_file = metadata.replace("METADATA", "licenses/LICENSE")
    assert archive.read(license_file) == (ROOT / "LICENSE").read_bytes()
    assert "Typing :: Typed" in text and "Framework :: Pytest" in text
    urls = {line.split(": ", 1)[1].split(",", 1)[0] for line in headers if line.startswith("Project-URL: ")}
    assert urls == {"Homepage", "Source", "Documentation", "Issues"}


def test_the_installed_kit_has_no_spec_builder(installed):
    python, consumer = installed
    code = ("import importlib.util as u; print(u.find_spec('mock_server.spec_build'), u.find_spec('tools')); "
            "import mock_server.resources as r; print(sorted(p.name for p in r.data_root('openapi').iterdir()))")
    out = _run([python, "-c", code], cwd=consumer).stdout
    assert out.splitlines() == ["None None", "['admin.yaml', 'kit.yaml', 'vendor.yaml']"], out


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
