"""The operations the contract covers, by the kit's operation ids.

No Schemathesis here (pytest collection reads it). The vendor's document
has no operation ids; the kit's names are used for it too.
"""
from __future__ import annotations

from mock_server.spec import load_spec, operations

#: (METHOD, OpenAPI path) -> operation id.
OPERATIONS = {
    ("GET", "/v1/background_jobs"): "listJobs",
    ("GET", "/v1/background_jobs/{job_id}"): "getJob",
    ("POST", "/v1/imports"): "createImport",
}


def operation_index(spec_name: str) -> dict[str, tuple[str, str]]:
    """operation id -> (METHOD, path) for every operation of a shipped spec
    (``kit`` or ``vendor``); an operation the kit does not know is named
    ``METHOD /path``."""
    index = {}
    for path, method, _op in operations(load_spec(spec_name)):
        op = OPERATIONS.get((method.upper(), path), f"{method.upper()} {path}")
        index[op] = (method.upper(), path)
    return index


def label(op: str, method: str, path: str) -> str:
    """How reports name an operation: ``listJobs (GET /v1/background_jobs)``."""
    return f"{op} ({method} {path})"
