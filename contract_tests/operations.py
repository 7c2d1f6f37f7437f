"""The operations the contract covers, by the kit's operation ids.

No Schemathesis here (pytest collection reads it). The ids are the kit
spec's ``operationId`` values (``openapi/kit.yaml``, overlay sections 2 and
10), read from it once: one source. The vendor's documents have no operation
ids; the kit's names are used for them too, by method and path.
"""
from __future__ import annotations

from mock_server.spec import load_spec, operations

from .specs import load


def _kit_operation_ids() -> dict[tuple[str, str], str]:
    ids = {}
    for path, method, op in operations(load_spec("kit")):
        if isinstance(op.get("operationId"), str):
            ids[(method.upper(), path)] = op["operationId"]
    return ids


#: (METHOD, OpenAPI path) -> operation id, for every operation of the kit spec.
OPERATIONS: dict[tuple[str, str], str] = _kit_operation_ids()
#: Operation id -> (METHOD, path).
WHERE: dict[str, tuple[str, str]] = {op: where for where, op in OPERATIONS.items()}

#: The families of operations, as the kit's checks read their answers.
#: Jobs operations answer job objects (List Jobs an array of them).
JOBS_OPS = frozenset({"listJobs", "getJob", "createImport"})
#: Bulk identify answers one job object in its accepted form (no
#: ``elapsed_time`` or ``completed_rows``; docs/bulk.md): a job of List Jobs.
BULK_OPS = frozenset({"bulkIdentifyUsers", "bulkIdentifyCompanies"})
#: The exports API's job reads (the appex host).
EXPORT_JOB_OPS = frozenset({"getExportJob", "listExportJobs"})
#: The export trigger (the appex host).
TRIGGER_OP = "triggerExport"
#: The real-time calls (analytex).
REALTIME_OPS = frozenset({"identifyUser", "identifyCompany", "trackEvent"})
#: Every operation whose path lives on the exports host (``https://appex.userpilot.io``).
EXPORTS_PATH_PREFIX = "/api/v1/analytics/exports"


def on_exports_host(path: str) -> bool:
    """Whether an OpenAPI path (or a request path) is one of the exports
    host's (the trigger, the export jobs, the lookups)."""
    return path == EXPORTS_PATH_PREFIX or path.startswith(EXPORTS_PATH_PREFIX + "/")


def operation_index(spec_name: str) -> dict[str, tuple[str, str]]:
    """operation id -> (METHOD, path) for every operation of a spec the kit
    runs (``kit`` or ``vendor``, :func:`contract_tests.specs.load`); an
    operation the kit does not know is named ``METHOD /path``."""
    index = {}
    for path, method, _op in operations(load(spec_name)):
        op = OPERATIONS.get((method.upper(), path), f"{method.upper()} {path}")
        index[op] = (method.upper(), path)
    return index


def label(op: str, method: str, path: str) -> str:
    """How reports name an operation: ``listJobs (GET /v1/background_jobs)``."""
    return f"{op} ({method} {path})"
