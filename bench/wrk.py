"""Load from ``wrk`` (Debian package ``wrk``): one closed-loop run against
one URL, parsed into numbers."""
from __future__ import annotations

import re
import shutil
import subprocess

INSTALL_HINT = ("wrk is not installed: throughput rows are skipped. "
                "Install it with `sudo apt-get install -y wrk` (Debian/Ubuntu) or "
                "`brew install wrk` (macOS), then run again.")

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def available() -> bool:
    return shutil.which("wrk") is not None


def version() -> str | None:
    if not available():
        return None
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
    match = re.search(r"wrk\s+(\S+)", out)
    return match.group(1) if match else out.strip()[:40]


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"unparsable wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse(output: str) -> dict:
    """wrk's ``--latency`` report -> ``{"rps", "requests", "seconds",
    "p50_ms", "p75_ms", "p90_ms", "p99_ms", "errors", "non_2xx",
    "bytes_per_request"}``. Raises ValueError when it has no figures."""
    rps = re.search(r"Requests/sec:\s*([\d.]+)", output)
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m), ([\d.]+)([KMGT]?B) read", output)
    if not rps or not total:
        raise ValueError(f"unparsable wrk output:\n{output}")
    result = {"rps": float(rps.group(1)), "requests": int(total.group(1)),
              "seconds": _ms(total.group(2) + total.group(3)) / 1000.0}
    scale = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}[total.group(5)]
    result["bytes_per_request"] = round(float(total.group(4)) * scale / max(1, result["requests"]))
    for pct in ("50", "75", "90", "99"):
        match = re.search(rf"^\s*{pct}%\s+([\d.]+(?:us|ms|s|m))\s*$", output, re.MULTILINE)
        result[f"p{pct}_ms"] = _ms(match.group(1)) if match else None
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    result["errors"] = sum(int(x) for x in errors.groups()) if errors else 0
    non = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    result["non_2xx"] = int(non.group(1)) if non else 0
    return result


def run(url: str, *, duration: float, connections: int = 8, threads: int = 1,
        headers: dict | None = None, timeout_s: float = 10.0) -> dict:
    """Run wrk for ``duration`` seconds with ``connections`` keep-alive
    connections on ``threads`` threads; returns :func:`parse`'s dict."""
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s",
            f"--timeout={timeout_s:g}s", "--latency"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    argv.append(url)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout}")
    return parse(proc.stdout)
