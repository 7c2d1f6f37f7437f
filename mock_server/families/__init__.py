"""The job families of the API, each in its own place, plugged in the same way.

A family is a :class:`Family`: the handlers of its operations (operationId ->
``handler(call) -> Answer``, see :mod:`mock_server.http.pipeline`), and the
job types it makes. Its business rules live in its own ``models`` module (no
HTTP), its request parsing and answers in ``responses`` (the Moto layout).
:data:`FAMILIES` lists them; :func:`handlers` is what ``create_app`` routes:
an operation of the kit spec that no family handles is still served, with
schema-valid data (:mod:`mock_server.http.generic`).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ..backend.errors import JOB_NOT_FOUND
from ..backend.generate import HISTORY_TYPES
from .bulk import responses as bulk
from .bulk.models import BULK_IN_PROGRESS
from .bulk.models import PayloadTooLarge as BulkTooLarge
from .bulk.models import UnsupportedMediaType as BulkMediaType
from .exports import responses as exports
from .exports.models import EXPORT_IN_PROGRESS, EXPORT_JOB_NOT_FOUND
from .imports import responses as imports
from .imports.models import IMPORT_IN_PROGRESS, PayloadTooLarge, UnsupportedMediaType
from .jobs import responses as jobs
from .lookups import responses as lookups
from .realtime import responses as realtime

#: ``handler(call) -> Answer``.
Handler = Callable[..., object]


@dataclass(frozen=True)
class Family:
    """One job family: ``name``, ``handlers`` (operationId -> handler),
    ``job_types`` (the ``type`` values of the jobs it makes) and
    ``error_codes`` (operationId -> status -> the ``error_code`` its own
    answers of that status carry, which an injected status carries too)."""

    name: str
    handlers: Mapping[str, Handler]
    job_types: tuple[str, ...] = field(default=())
    error_codes: Mapping[str, Mapping[int, str]] = field(default_factory=dict)


FAMILIES: tuple[Family, ...] = (
    Family("jobs", {"listJobs": jobs.list_jobs, "getJob": jobs.get_job}, error_codes={"getJob": {404: JOB_NOT_FOUND}}),
    Family("imports", {"createImport": imports.create_import_handler}, ("import",), error_codes={
        "createImport": {409: IMPORT_IN_PROGRESS, 413: PayloadTooLarge.error_code,
                         415: UnsupportedMediaType.error_code}}),
    Family("exports", {"triggerExport": exports.trigger_export_handler, "listExportJobs": exports.list_export_jobs,
                       "getExportJob": exports.get_export_job}, ("export",),
           error_codes={"triggerExport": {409: EXPORT_IN_PROGRESS}, "getExportJob": {404: EXPORT_JOB_NOT_FOUND}}),
    Family("bulk", {"bulkIdentifyUsers": bulk.bulk_identify_users,
                    "bulkIdentifyCompanies": bulk.bulk_identify_companies},
           ("bulk_identify_users", "bulk_identify_companies"),
           error_codes={operation_id: {409: BULK_IN_PROGRESS, 413: BulkTooLarge.error_code,
                                       415: BulkMediaType.error_code}
                        for operation_id in ("bulkIdentifyUsers", "bulkIdentifyCompanies")}),
    Family("lookups", lookups.HANDLERS),
    Family("realtime", {"identifyUser": realtime.identify_user, "identifyCompany": realtime.identify_company,
                        "trackEvent": realtime.track_event}),
)


def handlers() -> dict[str, Handler]:
    """operationId -> handler, over every family. Raises ValueError when two
    families claim one operation."""
    out: dict[str, Handler] = {}
    for family in FAMILIES:
        for operation_id, handler in family.handlers.items():
            if operation_id in out:
                raise ValueError(f"operation {operation_id} is handled by two families")
            out[operation_id] = handler
    return out


def error_codes() -> dict[str, dict[int, str]]:
    """operationId -> status -> ``error_code``, over every family."""
    out: dict[str, dict[int, str]] = {}
    for family in FAMILIES:
        for operation_id, codes in family.error_codes.items():
            out.setdefault(operation_id, {}).update(codes)
    return out


def job_types() -> tuple[str, ...]:
    """Every job type a client can meet: the families' (in their order), then
    the other types of the generated histories."""
    types = [t for family in FAMILIES for t in family.job_types]
    return tuple(dict.fromkeys([*types, *HISTORY_TYPES]))


__all__ = ["FAMILIES", "Family", "Handler", "error_codes", "handlers", "job_types"]
