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

from ..backend.generate import HISTORY_TYPES
from .bulk import responses as bulk
from .exports import responses as exports
from .imports import responses as imports
from .jobs import responses as jobs
from .lookups import responses as lookups
from .realtime import responses as realtime

#: ``handler(call) -> Answer``.
Handler = Callable[..., object]


@dataclass(frozen=True)
class Family:
    """One job family: ``name``, ``handlers`` (operationId -> handler) and
    ``job_types`` (the ``type`` values of the jobs it makes)."""

    name: str
    handlers: Mapping[str, Handler]
    job_types: tuple[str, ...] = field(default=())


FAMILIES: tuple[Family, ...] = (
    Family("jobs", {"listJobs": jobs.list_jobs, "getJob": jobs.get_job}),
    Family("imports", {"createImport": imports.create_import_handler}, ("import",)),
    Family("exports", {"triggerExport": exports.trigger_export_handler, "listExportJobs": exports.list_export_jobs,
                       "getExportJob": exports.get_export_job}, ("export",)),
    Family("bulk", {"bulkIdentifyUsers": bulk.bulk_identify_users,
                    "bulkIdentifyCompanies": bulk.bulk_identify_companies},
           ("bulk_identify_users", "bulk_identify_companies")),
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


def job_types() -> tuple[str, ...]:
    """Every job type a client can meet: the families' (in their order), then
    the other types of the generated histories."""
    types = [t for family in FAMILIES for t in family.job_types]
    return tuple(dict.fromkeys([*types, *HISTORY_TYPES]))


__all__ = ["FAMILIES", "Family", "Handler", "handlers", "job_types"]
