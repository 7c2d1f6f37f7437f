"""Schemathesis hooks of the contract kit.

Loaded by ``schemathesis.toml`` (``hooks = "contract_tests.hooks"``), so a
plain ``schemathesis run http://127.0.0.1:8080/__admin/spec/kit.yaml`` gets
the kit's checks, its CSV/NDJSON import files and its API key handling; the
contract runner imports it too. Everything here only touches the Userpilot
operations (:data:`PATH_REGEX`: the jobs, bulk identify and real-time calls on
analytex, the exports and lookups on appex).

- The API key: ``Authorization: Token <key>``, the key being the current
  run's (set by the runner, :mod:`.state`), else ``USERPILOT_API_KEY``, else
  the fake's demo key (``demo-api-key``: any fake accepts it unless started
  with ``--api-key``; the real API refuses it).
- ``before_call``: the current run's rate limit, and a guard that refuses to
  send anything but GET to a target the run must only read.
"""
from __future__ import annotations

import os

import schemathesis

from mock_server.config import DEMO_API_KEY

from . import checks, export_checks, media  # noqa: F401 - importing registers the checks
from ._schemathesis import negated_header
from .options import ENV_API_KEY
from .state import current

media.register()

#: Paths of the operations the kit's hooks apply to: every Userpilot operation
#: of the kit spec (analytex's ``/v1/...``, the exports host's
#: ``/api/v1/analytics/exports...``); the control API (``/__admin``) is not one.
PATH_REGEX = r"^/(v1|api/v1/analytics/exports)(/|$)"


def api_key() -> str:
    """The key requests carry: the run's, ``USERPILOT_API_KEY``, or the demo key."""
    return current().api_key or os.environ.get(ENV_API_KEY) or DEMO_API_KEY


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
    if not negated_header(case, "Authorization"):
        return False
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    return not (isinstance(value, str) and value.startswith("Token "))


class ReadOnlyViolation(RuntimeError):
    """A write was about to be sent to a target the run may only read."""


@schemathesis.hook
def before_call(context, case, kwargs):
    """Refuse writes on read-only runs; wait for the run's rate limit."""
    state = current()
    if state.read_only and case.method.upper() != "GET":
        raise ReadOnlyViolation(f"refusing to send {case.method.upper()} {case.operation.path}: "
                                "the target is not a fake and --allow-writes was not given")
    if state.throttle is not None:
        state.throttle.wait()
