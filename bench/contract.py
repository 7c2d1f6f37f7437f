"""Wall time of ``userpilot-mock contract`` against the in-process fake (its
default target). Runs only once the command exists; until then the row
says so."""
from __future__ import annotations

import os
import subprocess
import time

from .procs import ROOT, fake_command


def status() -> str | None:
    """None when ``userpilot-mock contract`` exists, else why not."""
    proc = subprocess.run(fake_command() + ["contract", "--help"], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    if proc.returncode != 0:
        return "not available yet: `userpilot-mock contract` is not a command in this checkout"
    return None


def run(log=print, timeout: float = 900) -> dict:
    """``{"available", "seconds", "exit_code", "tail"}`` (the exit code says
    whether the fake conformed: 0 yes, 1 no)."""
    problem = status()
    if problem:
        log(f"  contract suite: {problem}")
        return {"available": False, "reason": problem}
    env = {k: v for k, v in os.environ.items()
           if k not in ("USERPILOT_BASE_URL", "USERPILOT_ENVIRONMENT")}  # the in-process fake
    start = time.perf_counter()
    proc = subprocess.run(fake_command() + ["contract"], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, env=env)
    seconds = time.perf_counter() - start
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
    log(f"  contract suite: {seconds:.1f} s, exit {proc.returncode}")
    return {"available": True, "seconds": seconds, "exit_code": proc.returncode, "tail": tail}
