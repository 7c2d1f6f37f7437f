"""admin.yaml and the control API agree in both directions: a plain
Schemathesis run against the served admin.yaml, every check on, finds
nothing (with the repository's schemathesis.toml, which names the few rules
no schema can state)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mock_server import MockServer

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_plain_schemathesis_run_against_admin_yaml_finds_nothing(tmp_path):
    cli = shutil.which("schemathesis") or str(Path(sys.executable).with_name("schemathesis"))
    with MockServer() as server:
        result = subprocess.run(
            [cli, "run", f"{server.url}/__admin/spec/admin.yaml", "--checks", "all", "--max-examples", "25",
             "--seed", "7", "--no-color"],
            cwd=ROOT, capture_output=True, text=True, timeout=600,
            env={**os.environ, "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "23/23" in result.stdout
