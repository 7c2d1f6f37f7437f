"""Bulk identify: the rows of users and companies, their checks, and the
bulk job (no HTTP here).

Rules and their sources (docs/domain.md, "Bulk identify"; the rest assumed, and
said so in docs/bulk.md):

- users rows ``{user_id (required), company_id, metadata}``, companies rows
  ``{company_id (required), metadata}`` (bulk-updates pages, the OpenAPI);
- at most :data:`MAX_ROWS` rows (10,000) and :data:`MAX_FILE_BYTES` (50 MB,
  read as MiB) per request: 413 beyond (prose, userpilot.mintlify.app);
- metadata values are strings, numbers, booleans or null ("primitives
  only"; the OpenAPI's "only string values" is contradicted by its own
  examples, docs/domain.md, "Contradictions between vendor documents" 7);
- one bulk job at a time per app, users and companies together (409);
- the job processes 1,200 user rows or 1,800 company rows per minute
  (:mod:`mock_server.backend.jobtypes`).

A JSON body is checked whole before the answer: a row that breaks the
rules refuses the request (400 naming the row and field; no job). An NDJSON
file is read line by line: a bad line (not JSON, not an object, a missing
id, bad metadata) makes a job that ends ``failed`` at ``validating``, its
reasons by line in the control API (``errors``, ``error_count``), as for
imports. The rows of a job that completes become events of the app
(``identify_user``, ``identify_company``; source ``backend-http``) visible
in exports from its end.
"""
from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass, field

from ...backend import activity, jsonutil
from ...backend.errors import ApiError, BadRequest, Conflict
from ...backend.jobtypes import BULK_COMPANIES_TYPE, BULK_TYPES, BULK_USERS_TYPE
from ...backend.profile import DEFAULT_FORMS, Forms
from ...times import format_day
from ..imports.models import MAX_FILE_BYTES, MAX_REPORTED_ERRORS, _Lines, _short, _string_problem

#: Rows accepted in one request (documented: 10,000 users or companies).
MAX_ROWS = 10_000
#: Rows listed in a 400's details before "and N more".
MAX_LISTED = 5
#: The source of the events a bulk job makes (assumption: an HTTP API call).
SOURCE = "backend-http"
#: File extensions of an NDJSON file (the prose: "File Upload (NDJSON)").
NDJSON_EXTENSIONS = (".ndjson", ".jsonl")


@dataclass(frozen=True)
class Kind:
    """What one bulk operation takes: ``name`` (users/companies, the body's
    key) and ``singular``, ``id_field``, the row's ``fields``, its job ``job_type`` and the
    ``event_type`` its rows become."""

    name: str
    singular: str
    id_field: str
    fields: tuple
    job_type: str
    event_type: str


USERS = Kind("users", "user", "user_id", ("user_id", "company_id", "metadata"), BULK_USERS_TYPE, "identify_user")
COMPANIES = Kind("companies", "company", "company_id", ("company_id", "metadata"), BULK_COMPANIES_TYPE,
                 "identify_company")
KINDS = {"users": USERS, "companies": COMPANIES}


class PayloadTooLarge(ApiError):
    """413: over 10,000 rows or 50 MB (documented in prose; the error shape assumed)."""
    status = 413
    error = "Payload Too Large"
    error_code = "payload_too_large"


class UnsupportedMediaType(ApiError):
    """415: neither a JSON body nor an NDJSON file (assumption)."""
    status = 415
    error = "Unsupported Media Type"
    error_code = "unsupported_media_type"


def too_many_rows(kind: Kind, seen: str) -> PayloadTooLarge:
    return PayloadTooLarge(f"More than {MAX_ROWS:,} {kind.name} in one request",
                           f"{seen}; send at most {MAX_ROWS:,} rows per request")


def too_large(seen: int | None = None) -> PayloadTooLarge:
    got = f"; this request body has {seen:,} bytes" if seen is not None else ""
    return PayloadTooLarge(f"The request is over the {MAX_FILE_BYTES // 2**20} MiB limit",
                           f"at most {MAX_FILE_BYTES:,} bytes{got}")


def check_ndjson_name(filename: str) -> None:
    """Raise UnsupportedMediaType unless ``filename`` ends in .ndjson or .jsonl."""
    if not filename.lower().endswith(NDJSON_EXTENSIONS):
        raise UnsupportedMediaType(f"Unsupported file type: {_short(filename)}",
                                   "bulk identify takes an NDJSON file (.ndjson or .jsonl), one JSON object a line")


def _kind_of(value) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", list: "an array", dict: "an object",
            type(None): "null", str: "a string"}.get(type(value), type(value).__name__)


def metadata_problems(metadata, prefix: str = "metadata") -> list[tuple[str, str]]:
    """Problems of a metadata value: it must be an object whose values are
    strings, numbers, booleans or null."""
    if not isinstance(metadata, dict):
        return [(prefix, f"must be a JSON object, got {_kind_of(metadata)}")]
    return [(f"{prefix}.{key}", f"must be a string, number, boolean or null, got {_kind_of(value)}")
            for key, value in metadata.items() if isinstance(value, (dict, list))]


def row_problems(row, kind: Kind) -> list[tuple[str | None, str]]:
    """``(field, problem)`` pairs of one row (empty when it is valid)."""
    if not isinstance(row, dict):
        return [(None, f"not a JSON object: {_short(row)}")]
    problems: list[tuple[str | None, str]] = [
        (name, f"unknown field (a {kind.singular} row has {', '.join(kind.fields)})") for name in row
        if name not in kind.fields]
    problem = _string_problem(row.get(kind.id_field))
    if problem:
        problems.append((kind.id_field, problem))
    if kind is USERS and "company_id" in row:
        problem = _string_problem(row["company_id"])
        if problem:
            problems.append(("company_id", problem))
    if "metadata" in row:
        problems += metadata_problems(row["metadata"])
    return problems


def check_body(body, kind: Kind) -> list[dict]:
    """The rows of a JSON body ``{"<kind>": [row, ...]}``, checked whole.
    Raises BadRequest (not an object, the key missing or another key, not
    an array, no rows, a bad row: the first named, up to five listed) or
    PayloadTooLarge (over 10,000 rows)."""
    if not isinstance(body, dict):
        raise BadRequest(f"The body must be a JSON object {{\"{kind.name}\": [...]}}, got {_kind_of(body)}",
                         error_code="invalid_body")
    other = [k for k in body if k != kind.name]
    if other:
        raise BadRequest(f"Unknown field {_short(other[0])}", f"the body is {{\"{kind.name}\": [...]}}",
                         error_code="invalid_body")
    rows = body.get(kind.name)
    if rows is None:
        raise BadRequest(f"No {kind.name!r} in the body", f"the body is {{\"{kind.name}\": [...]}}",
                         error_code="invalid_body")
    if not isinstance(rows, list):
        raise BadRequest(f"{kind.name} must be an array, got {_kind_of(rows)}", error_code="invalid_body")
    if not rows:
        raise BadRequest(f"{kind.name} is empty", "send at least one row", error_code="invalid_body")
    if len(rows) > MAX_ROWS:
        raise too_many_rows(kind, f"this body has {len(rows):,}")
    found: list[str] = []
    count = 0
    for index, row in enumerate(rows):
        for name, problem in row_problems(row, kind):
            count += 1
            if len(found) < MAX_LISTED:
                found.append(f"{kind.name}[{index}]" + (f".{name}" if name else "") + f": {problem}")
    if found:
        more = count - len(found)
        raise BadRequest(f"Invalid row: {found[0]}", "; ".join(found) + (f"; and {more} more" if more > 0 else ""),
                         error_code="invalid_rows")
    return rows


@dataclass
class BulkFile:
    """What reading an NDJSON file found: ``total_rows`` (non-blank lines),
    ``errors`` (the first 100 problems, ``{"line", "field", "problem"}``),
    ``error_count``, and ``rows``: the valid rows kept to become events (the
    last ones whose lines fit the per-app event limits)."""

    total_rows: int = 0
    errors: list = field(default_factory=list)
    error_count: int = 0
    rows: deque = field(default_factory=deque)
    row_bytes: int = 0

    def add(self, line: int, field_name: str | None, problem: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append({"line": line, "field": field_name, "problem": problem})

    def keep(self, row: dict, size: int) -> None:
        self.rows.append((size, row))
        self.row_bytes += size
        while len(self.rows) > activity.MAX_APP_EVENTS or self.row_bytes > activity.MAX_APP_EVENT_BYTES:
            self.row_bytes -= self.rows.popleft()[0]


def read_file(fileobj, kind: Kind) -> BulkFile:
    """Read the rows of an NDJSON file (binary, line by line). Raises
    BadRequest for bytes that are not UTF-8 or a file without a row,
    PayloadTooLarge past 10,000 rows."""
    found = BulkFile()
    lines = _Lines(fileobj)
    for text in lines:
        number = lines.number
        if text is not None and not text.strip():
            continue
        found.total_rows += 1
        if found.total_rows > MAX_ROWS:
            raise too_many_rows(kind, "this file has more rows")
        if text is None:
            found.add(number, None, "line longer than 1,048,576 bytes")
            continue
        try:
            row = jsonutil.loads(text.rstrip("\r\n"))
        except json.JSONDecodeError as exc:
            found.add(number, None, f"not valid JSON: {exc.msg} (column {exc.pos + 1})")
            continue
        except (ValueError, RecursionError):
            found.add(number, None, "not valid JSON")
            continue
        problems = row_problems(row, kind)
        for name, problem in problems:
            found.add(number, name, problem)
        if not problems:
            found.keep(row, len(text))
    if found.total_rows == 0:
        raise BadRequest("The file holds no rows", "an NDJSON file needs at least one JSON object line",
                         error_code="empty_file")
    return found


def json_filename(kind: Kind, t: float) -> str:
    """The job's ``filename`` for a JSON body (assumption: the rows as the
    NDJSON file they stand for, named after the operation and the day)."""
    return f"bulk_identify_{kind.name}_{format_day(t)}.ndjson"


def running_bulk(app, t: int):
    """The app's bulk job (users or companies) that is not terminal at ``t``."""
    return app.running(t, BULK_TYPES)


#: The code of the 409 of "one bulk job at a time".
BULK_IN_PROGRESS = "bulk_job_in_progress"


def check_no_running_bulk(backend, app) -> None:
    """Raise Conflict while the app has a bulk job that is not terminal
    (documented: one bulk job at a time, users and companies together)."""
    t = backend.now()
    job = running_bulk(app, t)
    if job is not None:
        raise Conflict("Bulk identify job already in progress",
                       f"job {job.job_id} ({job.type}) is {job.timeline.status(t)}; one bulk job at a time per "
                       "app, users and companies together: poll it until it is completed or failed",
                       error_code=BULK_IN_PROGRESS)


def events(kind: Kind, rows, t_us: int, visible_at: int) -> list[dict]:
    """The event records of valid ``rows``: received at ``t_us``, visible
    from ``visible_at``."""
    out = []
    for row in rows:
        if kind is USERS:
            out.append(activity.record_of("identify_user", t_us=t_us, visible_at=visible_at, source=SOURCE,
                                          user_id=row["user_id"], company_id=row.get("company_id"),
                                          metadata=row.get("metadata")))
        else:
            out.append(activity.record_of("identify_company", t_us=t_us, visible_at=visible_at, source=SOURCE,
                                          company_id=row["company_id"], metadata=row.get("metadata")))
    return out


def create_bulk_job(backend, app, kind: Kind, filename: str, file_size: int, total_rows: int, rows,
                    errors: list | None = None, error_count: int = 0):
    """Make the bulk job of checked rows, starting now: ``failed`` at
    ``validating`` when ``error_count`` (its reasons kept for the control
    API), else its ``rows`` become events of the app visible from the job's
    end. The one-at-a-time check and the creation are one atomic step.
    Raises Conflict."""
    t_us = math.floor(backend.clock.now() * activity.MICRO)
    with backend.atomic():
        if backend.store.app(app.app_token) is not app:  # forgotten while the body was read
            app = backend.app_for_token(app.app_token, create=True, links_base=app.links_base)
        check_no_running_bulk(backend, app)
        if error_count:
            return backend.add_made_job(app, kind.job_type, filename, file_size, total_rows, outcome="failed",
                                        fail_at="validating",
                                        extra={"errors": list(errors or []), "error_count": error_count})
        job = backend.add_made_job(app, kind.job_type, filename, file_size, total_rows)
        backend.feed(app, events(kind, rows, t_us, job.timeline.end))
        return job


def bulk_answer(job, t: int, forms: Forms = DEFAULT_FORMS) -> dict:
    """The 202 answer: the job as the OpenAPI's bulk schema has it (no
    ``elapsed_time``, no ``completed_rows``; keys sorted), its times in the
    ``forms`` of the fake's profile (as every job answer)."""
    view = job.view(t, False, forms)
    view.pop("elapsed_time", None)
    return view


__all__ = ["BULK_IN_PROGRESS", "COMPANIES", "KINDS", "MAX_ROWS", "USERS", "BulkFile", "Kind", "PayloadTooLarge",
           "UnsupportedMediaType",
           "bulk_answer", "check_body", "check_ndjson_name", "check_no_running_bulk", "create_bulk_job", "events",
           "json_filename", "metadata_problems", "read_file", "row_problems", "running_bulk", "too_large"]
