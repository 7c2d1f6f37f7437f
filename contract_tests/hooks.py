"""Schemathesis hooks of the contract kit.

Loaded by ``schemathesis.toml`` (``hooks = "contract_tests.hooks"``), so a
plain ``schemathesis run http://127.0.0.1:8080/__admin/spec/kit.yaml`` gets
the kit's checks, its CSV/NDJSON import files and its API key handling; the
contract runner imports it too. Everything here only touches the Userpilot
jobs operations (``/v1/background_jobs...``, ``/v1/imports``).

- The API key: ``Authorization: Token <key>``, the key being the current
  run's (set by the runner), else ``USERPILOT_API_KEY``, else the fake's demo
  key (``demo-api-key``: any fake accepts it unless started with
  ``--api-key``; the real API refuses it).
- ``before_call``: the current run's rate limit, and a guard that refuses to
  send anything but GET to a target the run must only read.
"""
from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

import schemathesis

from mock_server.config import DEMO_API_KEY

from . import checks, media  # noqa: F401 - importing registers the checks
from .options import ENV_API_KEY

media.register()

#: Paths of the operations the kit's hooks apply to.
PATH_REGEX = r"^/v1/(background_jobs|imports)"


class Throttle:
    """At most ``rate`` requests per second (0 or None: no limit), shared by
    every request of a run; :meth:`back_off` holds all of them until a
    ``Retry-After`` has passed. Thread-safe."""

    def __init__(self, rate: float | None):
        self.interval = 1.0 / rate if rate else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until the next request may go."""
        with self._lock:
            now = time.monotonic()
            at = max(now, self._next)
            self._next = at + self.interval
        if at > now:
            time.sleep(at - now)

    def back_off(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (a 429's Retry-After)."""
        with self._lock:
            self._next = max(self._next, time.monotonic() + max(0.0, seconds))


@dataclass
class RunState:
    """What the hooks need from the current run (the defaults serve a plain
    ``schemathesis run``): ``api_key``, ``throttle``, ``read_only``."""

    api_key: str | None = None
    throttle: Throttle | None = None
    read_only: bool = False


_state = RunState()


@contextmanager
def active(state: RunState):
    """Use ``state`` while the block runs."""
    global _state
    previous, _state = _state, state
    try:
        yield state
    finally:
        _state = previous


def api_key() -> str:
    """The key requests carry: the run's, ``USERPILOT_API_KEY``, or the demo key."""
    return _state.api_key or os.environ.get(ENV_API_KEY) or DEMO_API_KEY


@schemathesis.auth(refresh_interval=None).apply_to(path_regex=PATH_REGEX)
class UserpilotApiKey:
    """``Authorization: Token <API key>`` (docs/domain.md, "Authentication")."""

    def get(self, case, context):
        return api_key()

    def set(self, case, data, context):
        headers = dict(case.headers or {})
        if _negated_authorization_parameter(case, headers):
            return  # a deliberately broken key (negative mode) stays broken
        headers["Authorization"] = f"Token {data}"
        case.headers = headers


def _negated_authorization_parameter(case, headers: dict) -> bool:
    """The vendor's document declares Authorization as a plain header
    parameter (no security scheme): in a case whose headers were generated
    to break the spec, a missing or non-``Token`` value is the point."""
    from schemathesis.core.parameters import ParameterLocation

    if not any(p.name.lower() == "authorization" for p in case.operation.headers):
        return False
    meta = getattr(case, "meta", None)
    if meta is None or not meta.is_negative_at(ParameterLocation.HEADER):
        return False
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    return not (isinstance(value, str) and value.startswith("Token "))


class ReadOnlyViolation(RuntimeError):
    """A write was about to be sent to a target the run may only read."""


@schemathesis.hook
def before_call(context, case, kwargs):
    """Refuse writes on read-only runs; wait for the run's rate limit."""
    state = _state
    if state.read_only and case.method.upper() != "GET":
        raise ReadOnlyViolation(f"refusing to send {case.method.upper()} {case.operation.path}: "
                                "the target is not a fake and --allow-writes was not given")
    if state.throttle is not None:
        state.throttle.wait()
