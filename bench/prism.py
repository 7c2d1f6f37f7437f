"""Stoplight Prism, the tool our users would otherwise run, installed by the
harness into ``bench/.prism/`` (ignored by git) with npm.

``python -m bench.prism`` installs it alone.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from .procs import ROOT, ServerProcess, free_port

PRISM_PACKAGE = "@stoplight/prism-cli@5"
PRISM_DIR = ROOT / "bench" / ".prism"
PRISM_BIN = PRISM_DIR / "node_modules" / ".bin" / "prism"
SPEC = ROOT / "openapi" / "kit.yaml"


def installed() -> bool:
    return PRISM_BIN.exists()


def install(log=print) -> str | None:
    """Install Prism into :data:`PRISM_DIR` when missing. Returns None on
    success, else why it is not available (no npm, install failed)."""
    if installed():
        return None
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        return "Node.js and npm are not installed (needed for Prism): install them, e.g. `apt-get install -y nodejs npm`"
    PRISM_DIR.mkdir(parents=True, exist_ok=True)
    log(f"installing {PRISM_PACKAGE} into {PRISM_DIR.relative_to(ROOT)} (npm, once)...")
    proc = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(PRISM_DIR),
                           PRISM_PACKAGE], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 or not installed():
        return f"npm install {PRISM_PACKAGE} failed: {(proc.stderr or proc.stdout).strip()[-500:]}"
    return None


def version() -> str | None:
    if not installed():
        return None
    proc = subprocess.run([str(PRISM_BIN), "--version"], capture_output=True, text=True, timeout=60)
    return proc.stdout.strip() or None


def node_version() -> str | None:
    node = shutil.which("node")
    if not node:
        return None
    return subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()


def server(dynamic: bool) -> ServerProcess:
    """A (not yet launched) Prism mock of the kit spec on a free port, in
    static (examples) or dynamic (``-d``, json-schema-faker) mode, with its
    request log off (``-v silent``), as the fake runs ``--quiet``."""
    port = free_port()
    argv = [str(PRISM_BIN), "mock", "-h", "127.0.0.1", "-p", str(port), "-v", "silent"]
    if dynamic:
        argv.append("-d")
    argv.append(str(SPEC))
    proc = ServerProcess("prism -d" if dynamic else "prism", argv)
    proc.url = f"http://127.0.0.1:{port}"
    return proc


if __name__ == "__main__":
    problem = install()
    print(problem or f"prism {version()} at {PRISM_BIN}")
    sys.exit(1 if problem else 0)
