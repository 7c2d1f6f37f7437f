"""Starting and stopping the servers under test, and tiny HTTP helpers.

Every server is a child process bound to 127.0.0.1 on a free port, in its
own process group, and is stopped (SIGTERM, then SIGKILL after 5 s) by the
harness, whatever happens in between.
"""
from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
_URL = re.compile(rb"(http://127\.0\.0\.1:\d+)")


def fake_command() -> list[str]:
    """How a user launches the fake: the ``userpilot-mock`` script installed
    beside this Python, else ``python -m mock_server``."""
    script = Path(sys.executable).parent / "userpilot-mock"
    if script.exists():
        return [str(script)]
    found = shutil.which("userpilot-mock")
    return [found] if found else [sys.executable, "-m", "mock_server"]


def free_port() -> int:
    """A port free on 127.0.0.1 right now (for servers that cannot take 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """A server child process. ``url`` is its base URL once started."""

    def __init__(self, name: str, argv: list[str], env: dict | None = None, cwd: Path | None = None):
        self.name = name
        self.argv = argv
        self.env = env
        self.cwd = cwd or ROOT
        self.proc: subprocess.Popen | None = None
        self.url: str | None = None
        self.output: list[bytes] = []
        self.started_at: float | None = None

    # -- starting ------------------------------------------------------------
    def launch(self) -> "ServerProcess":
        """Start the process (stdout and stderr captured) and return at once."""
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.cwd, env=self.env,
                                     start_new_session=True)
        return self

    def wait_for_url(self, timeout: float = 30.0) -> str:
        """Read the output until it names ``http://127.0.0.1:<port>`` (the
        fake's banner, the baselines' ``listening`` line); then keep draining
        it in a thread. Raises RuntimeError when the process exits first or
        ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        stream = self.proc.stdout
        timer = threading.Timer(timeout, self._kill)
        timer.start()
        try:
            for line in iter(stream.readline, b""):
                self.output.append(line)
                match = _URL.search(line)
                if match:
                    self.url = match.group(1).decode()
                    break
        finally:
            timer.cancel()
        if self.url is None or time.monotonic() > deadline:
            raise RuntimeError(f"{self.name} did not start: {self.tail()}")
        self._drain()
        return self.url

    def wait_until_ok(self, url: str, headers: dict | None = None, timeout: float = 60.0,
                      interval: float = 0.01) -> float:
        """Poll ``url`` until a 200 (for servers that print no URL); returns
        seconds since launch. Raises RuntimeError on exit or timeout."""
        self._drain()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}): {self.tail()}")
            try:
                status, _ = fetch(url, headers, timeout=5)
                if status == 200:
                    return time.perf_counter() - self.started_at
            except OSError:
                pass
            time.sleep(interval)
        raise RuntimeError(f"{self.name}: no 200 from {url} within {timeout:g} s")

    def start(self, timeout: float = 30.0) -> "ServerProcess":
        """Launch and wait for the URL."""
        self.launch()
        try:
            self.wait_for_url(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _drain(self):
        if getattr(self, "_drainer", None) is not None:
            return

        def drain():
            for line in iter(self.proc.stdout.readline, b""):
                self.output.append(line)
                del self.output[:-50]

        self._drainer = threading.Thread(target=drain, daemon=True)
        self._drainer.start()

    def tail(self) -> str:
        return b"".join(self.output[-10:]).decode("utf-8", "replace").strip()

    # -- measuring -------------------------------------------------------------
    def peak_rss_bytes(self) -> int | None:
        """Peak resident set size so far (Linux ``VmHWM``), None elsewhere."""
        return _status_field(self.proc.pid, "VmHWM")

    def rss_bytes(self) -> int | None:
        return _status_field(self.proc.pid, "VmRSS")

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) the process has used so far (Linux), None
        elsewhere. Divided by the requests served, it is a cost per request
        that the other load on a shared machine hardly changes."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    # -- stopping --------------------------------------------------------------
    def _kill(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL after 5 s."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._kill()
            proc.wait(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _status_field(pid: int, field: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def fetch(url: str, headers: dict | None = None, timeout: float = 30.0) -> tuple[int, bytes]:
    """GET ``url`` on a new connection; ``(status, body)``."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def post_json(url: str, body: bytes, timeout: float = 300.0) -> tuple[int, bytes]:
    """POST a JSON body; ``(status, body)``."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("POST", parts.path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()
