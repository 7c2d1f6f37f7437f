"""The job types, and what each one means for the lifecycle (no HTTP here).

Every job of an app is listed by List Jobs whatever made it; its ``type``
says which family made it. What differs between the types is written here
once: the processing throughput, and what a job spec (``POST /__admin/jobs``,
scenario files) of that type carries besides the common fields.

Throughputs (rows per minute while processing):

- ``import``: 1,200 (documented for bulk identify, assumed for imports);
- ``bulk_identify_users``: 1,200 ("up to 1,200 rows processed per minute",
  real-time/bulk-identify-update, article 320);
- ``bulk_identify_companies``: 1,800 ("1,800 companies per minute service
  consumption rate", bulk-updates/companies). The two figures contradict each
  other (docs/domain.md, "Contradictions between vendor documents" 2): the page about companies is the more
  specific, so it wins for companies, as the more specific rule wins
  elsewhere in the kit (metadata of imports);
- ``export``: 1,200 events per minute (assumption: no export throughput is
  documented).

A calibrated profile's ``jobs.rows_per_minute`` (docs/evidence.md) replaces
the assumed rates (import, export, and a type of no rate here); the
documented ones (bulk identify) stay as documented.
"""
from __future__ import annotations

import importlib.util

from .errors import BadRequest
from .lifecycle import ROWS_PER_MINUTE
from .models import IMPORT_TYPE

EXPORT_TYPE = "export"
BULK_USERS_TYPE = "bulk_identify_users"
BULK_COMPANIES_TYPE = "bulk_identify_companies"
BULK_TYPES = (BULK_USERS_TYPE, BULK_COMPANIES_TYPE)
#: Every job type, in the order admin.yaml's JobFields.type lists them.
JOB_TYPES = (IMPORT_TYPE, EXPORT_TYPE, BULK_USERS_TYPE, BULK_COMPANIES_TYPE)

#: Job type -> rows processed per minute (see the module docstring).
RATES = {IMPORT_TYPE: ROWS_PER_MINUTE, EXPORT_TYPE: ROWS_PER_MINUTE, BULK_USERS_TYPE: ROWS_PER_MINUTE,
         BULK_COMPANIES_TYPE: 1800}

#: The types whose throughput is documented: a profile's measured rate does not replace theirs.
DOCUMENTED_RATES = (BULK_USERS_TYPE, BULK_COMPANIES_TYPE)

#: Export format -> the extension of its files (the vendor's enum).
EXPORT_FORMATS = {"csv": ".csv", "ndjson": ".ndjson", "parquet": ".parquet", "avro": ".avro"}
#: Formats written by an optional library: format -> (module, the extra that installs it).
FORMAT_LIBRARIES = {"parquet": ("pyarrow", "formats"), "avro": ("fastavro", "formats")}
#: File extensions (lower case) a job's file name may end in, per type family.
EXTENSION_FORMATS = {".csv": "csv", ".ndjson": "ndjson", ".jsonl": "ndjson", ".parquet": "parquet", ".avro": "avro"}


def rows_per_minute(job_type: str, assumed: float = ROWS_PER_MINUTE) -> float:
    """The processing throughput of ``job_type`` (rows per minute):
    ``assumed`` (a profile's ``jobs.rows_per_minute``, by default the
    assumed 1,200) unless the type's rate is documented
    (:data:`DOCUMENTED_RATES`)."""
    if job_type in DOCUMENTED_RATES:
        return RATES[job_type]
    return assumed


def format_of(filename: str) -> str | None:
    """The format a file name's extension names (any case), None when none."""
    lower = filename.lower()
    for ext, fmt in EXTENSION_FORMATS.items():
        if lower.endswith(ext):
            return fmt
    return None


def missing_library(fmt: str) -> str | None:
    """None when the fake can write ``fmt``; else the sentence to say (the
    library and the extra that installs it). Looks the library up without
    importing it."""
    if fmt not in FORMAT_LIBRARIES:
        return None
    module, extra = FORMAT_LIBRARIES[fmt]
    if importlib.util.find_spec(module) is not None:
        return None
    return (f"the {fmt} format needs {module}, which is not installed: "
            f"pip install 'userpilot-mock[{extra}]' (csv and ndjson need nothing)")


def check_format(fmt: str, what: str = "format") -> str:
    """``fmt`` when the fake can write it; BadRequest (``format_unavailable``)
    naming the extra otherwise."""
    problem = missing_library(fmt)
    if problem:
        raise BadRequest(f"{what} {fmt} is not available in this fake", problem, error_code="format_unavailable")
    return fmt


def spec_extra(spec: dict, filename: str) -> dict | None:
    """What a checked job spec of an export carries besides the common
    fields: ``{"export": {"format": ..., "synthetic": True}}`` (its files
    hold ``total_rows`` seeded events, not the app's own), None for the other
    types. The format is the spec's ``format``, else the one ``filename``
    names (``.jsonl`` is NDJSON). Raises BadRequest when they disagree or the
    format needs a library that is missing."""
    if spec.get("type") != EXPORT_TYPE:
        return None
    named = format_of(filename)
    fmt = spec.get("format") or named or "csv"
    if named is not None and named != fmt:
        raise BadRequest(f"job spec: filename {filename!r} names the {named} format, not {fmt}",
                         "drop filename or make its extension the format's")
    return {"export": {"format": check_format(fmt, "job spec: format"), "synthetic": True}}


__all__ = ["BULK_COMPANIES_TYPE", "BULK_TYPES", "BULK_USERS_TYPE", "DOCUMENTED_RATES", "EXPORT_FORMATS", "EXPORT_TYPE",
           "EXTENSION_FORMATS", "FORMAT_LIBRARIES", "JOB_TYPES", "RATES", "check_format", "format_of",
           "missing_library", "rows_per_minute", "spec_extra"]
