"""Identifier shapes, in one place: app tokens, job ids, bundled scenario names.

Standard library only. The patterns are the ones ``openapi/admin.yaml`` and
the invariants use; ``tests/test_spec.py`` checks that the spec says the same.
"""
from __future__ import annotations

import hashlib
import re
import uuid
from functools import lru_cache

#: An app token: ``NX-`` + 8 lowercase hex characters, the shape of the captured
#: ``NX-ac54070e`` (evidence: the job id of a real bulk job, docs/domain.md).
APP_TOKEN_PATTERN = r"^NX-[0-9a-f]{8}$"
#: An app token quoted in messages.
APP_TOKEN_EXAMPLE = "NX-ac54070e"
#: A job id the fake makes: ``bulk:jobs:<app token>:<uuid4>`` (evidence: the
#: captured ``bulk:jobs:NX-ac54070e:c6f91301-54c1-4df7-a077-b34715c38875``).
JOB_ID_PATTERN = (r"^bulk:jobs:NX-[0-9a-f]{8}:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}"
                  r"-[0-9a-f]{12}$")
#: A bundled scenario's name: its file name under ``fixtures/scenarios/`` without ``.yaml``.
SCENARIO_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"

_APP_TOKEN = re.compile(APP_TOKEN_PATTERN)
_JOB_ID = re.compile(JOB_ID_PATTERN)
_SCENARIO_NAME = re.compile(SCENARIO_NAME_PATTERN)


def is_app_token(value) -> bool:
    """True when ``value`` is a string of the app token shape."""
    return isinstance(value, str) and _APP_TOKEN.fullmatch(value) is not None


def is_job_id(value) -> bool:
    """True when ``value`` is a string of the fake's job id shape."""
    return isinstance(value, str) and _JOB_ID.fullmatch(value) is not None


def is_scenario_name(value) -> bool:
    """True when ``value`` could name a bundled scenario (shape only)."""
    return isinstance(value, str) and _SCENARIO_NAME.fullmatch(value) is not None


@lru_cache(maxsize=4096)
def app_token_for(api_key: str, seed: int) -> str:
    """The app token of ``api_key`` under ``seed``: ``NX-`` + the first 8 hex
    characters of SHA-256(seed, key). Deterministic across runs; memoised
    (bounded), as every authenticated request asks for it."""
    digest = hashlib.sha256(f"{seed}\x00{api_key}".encode("utf-8", "surrogatepass")).hexdigest()
    return "NX-" + digest[:8]


def new_job_id(app_token: str, bits: int) -> str:
    """``bulk:jobs:<app token>:<uuid4>``, the uuid made of 128 random ``bits``."""
    return f"bulk:jobs:{app_token}:{uuid.UUID(int=bits, version=4)}"


__all__ = ["APP_TOKEN_EXAMPLE", "APP_TOKEN_PATTERN", "JOB_ID_PATTERN", "SCENARIO_NAME_PATTERN", "app_token_for",
           "is_app_token", "is_job_id", "is_scenario_name", "new_job_id"]
