"""Import files: the event rules, a streaming CSV/NDJSON row reader, and the
creation of the import job (the createImport operation). No HTTP here.

Rules and their sources (docs/domain.md, "Import files"; the vendor's pages
import/event-schema and import/row-validation):

- Each row is one event; ``event_type`` is one of :data:`REQUIRED_FIELDS`'s
  keys and names the fields the row must carry (event-schema page).
- ``source`` is one of :data:`SOURCES` (row-validation page).
- A missing ``metadata`` becomes ``{}`` (row-validation page: the more
  specific rule wins over the event-schema page, which marks it required).
- ``web-client`` events must carry ``hostname``, ``pathname`` and
  ``user_agent``; a ``url`` may replace ``hostname`` and ``pathname``
  (row-validation page). Assumption: not applied to ``identify_company``,
  of which only ``company_id, source, inserted_at, metadata`` are processed.
- ``inserted_at`` is "ISO": ISO 8601 with ``T`` or a space, optional
  fraction, ``Z``/offset or none (UTC), as the vendor's own example
  ``2024-07-28 08:55:35.874555`` is (see :func:`parse_inserted_at`).

Formats, by file extension: ``.csv`` (a header row naming one column per
event field, ``metadata`` a column holding a JSON object) and ``.ndjson`` /
``.jsonl`` (one JSON object per line). Blank lines are skipped. Line numbers
are 1-based lines of the file (a CSV header is line 1).

Limits (assumptions unless said): a file of at most :data:`MAX_FILE_BYTES`
(50 MiB; evidence: bulk identify's "files up to 50 MB"); a line of at most
:data:`MAX_LINE_BYTES`, so one row never holds more than that in memory; the
first :data:`MAX_REPORTED_ERRORS` problems are kept, all are counted.
"""
from __future__ import annotations

import codecs
import csv
import json
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from ...backend import activity, jsonutil
from ...backend.errors import ApiError, BadRequest, Conflict
from ...backend.models import IMPORT_TYPE
from ...times import format_micro, parse_datetime, parse_iso8601

#: The vendor's bulk file limit, 50 MB read as MiB (assumption: binary MB).
MAX_FILE_BYTES = 50 * 1024 * 1024
#: Longest line read; a longer one is a bad row (assumption).
MAX_LINE_BYTES = 1024 * 1024
#: Problems kept on a failed import (the issue: "the first 100").
MAX_REPORTED_ERRORS = 100
#: Accepted file extensions (lower case) -> format.
EXTENSIONS = {".csv": "csv", ".ndjson": "ndjson", ".jsonl": "ndjson"}

#: event_type -> the fields a row of that type must carry besides
#: ``event_type``, ``source`` and ``inserted_at`` (event-schema page;
#: ``metadata`` left out: a missing one becomes ``{}``).
REQUIRED_FIELDS = {
    "identify_user": ("user_id",),
    "identify_company": ("company_id",),
    "page_view": ("user_id", "hostname", "pathname"),
    "track": ("user_id", "event_name"),
}
EVENT_TYPES = tuple(REQUIRED_FIELDS)
#: Allowed ``source`` values (row-validation page).
SOURCES = ("web-client", "backend-http", "backend-hubspot", "backend-salesforce",
           "backend-segment", "backend-http-import")
WEB_CLIENT = "web-client"

_BOM = codecs.BOM_UTF8


class PayloadTooLarge(ApiError):
    """413: the uploaded file is over :data:`MAX_FILE_BYTES` (assumed code;
    documented as an assumption in the overlay)."""
    status = 413
    error = "Payload Too Large"
    error_code = "file_too_large"


class UnsupportedMediaType(ApiError):
    """415: the file name has no CSV or NDJSON extension (assumed code;
    documented as an assumption in the overlay)."""
    status = 415
    error = "Unsupported Media Type"
    error_code = "unsupported_file_type"


def too_large(body_bytes: int | None = None) -> PayloadTooLarge:
    """The 413 for an upload over the limit (``body_bytes``: the request's
    Content-Length, when that alone shows it)."""
    seen = f"; this request body has {body_bytes:,} bytes" if body_bytes is not None else ""
    return PayloadTooLarge(f"The file is over the {MAX_FILE_BYTES // 2**20} MiB limit",
                           f"files up to {MAX_FILE_BYTES:,} bytes are accepted{seen}")


def import_format(filename: str) -> str:
    """``"csv"`` or ``"ndjson"`` from ``filename``'s extension (any case).
    Raises UnsupportedMediaType for any other name."""
    lower = (filename or "").lower()
    for ext, fmt in EXTENSIONS.items():
        if lower.endswith(ext):
            return fmt
    raise UnsupportedMediaType(f"Unsupported file type: {_short(filename)}",
                               "upload a .csv, .ndjson or .jsonl file")


def parse_inserted_at(text: str) -> datetime | None:
    """The UTC instant of an ``inserted_at`` value, None when it is not one
    (the grammar of :mod:`mock_server.times`: ``YYYY-MM-DD``, ``T``/``t`` or
    a space, ``HH:MM`` with optional ``:SS`` and a fraction of 1-9 digits,
    then ``Z``, an offset or nothing, meaning UTC)."""
    return parse_datetime(text)


def _short(value, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _present(value) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _string_problem(value) -> str | None:
    """None for a non-blank string, else why the value is not one."""
    if value.__class__ is str:
        return None if value and not value.isspace() else "missing"
    if value is None:
        return "missing"
    return f"must be a string, got {_short(value)}"


_WEB_FIELDS = ("hostname", "pathname", "user_agent")
_URL_REPLACES = ("hostname", "pathname")
#: (event_type, web-client rules apply) -> the string fields to check.
_NEEDED = {(kind, web): fields + tuple(f for f in _WEB_FIELDS if web and f not in fields)
           for kind, fields in REQUIRED_FIELDS.items() for web in (False, True)}


def validate_event(event: dict) -> list[tuple[str, str]]:
    """Problems of one event (a dict of field -> JSON value; a CSV row's
    cells are strings, its ``metadata`` already parsed), as ``(field,
    problem)`` pairs; empty when the event is valid.

    A field that is absent, ``null`` or a blank string is missing. Required
    string fields must be strings (the event-schema page types them String).
    """
    problems: list[tuple[str, str]] = []
    get = event.get
    event_type = get("event_type")
    problem = _string_problem(event_type)
    if problem:
        problems.append(("event_type", problem))
        event_type = None
    elif event_type not in REQUIRED_FIELDS:
        problems.append(("event_type", f"unknown event_type {_short(event_type)} "
                                       f"(one of: {', '.join(EVENT_TYPES)})"))
        event_type = None
    source = get("source")
    problem = _string_problem(source)
    if problem:
        problems.append(("source", problem))
    elif source not in SOURCES:
        problems.append(("source", f"unknown source {_short(source)} (one of: {', '.join(SOURCES)})"))
    inserted_at = get("inserted_at")
    problem = _string_problem(inserted_at)
    if problem:
        problems.append(("inserted_at", problem))
    elif parse_inserted_at(str(inserted_at).strip()) is None:
        problems.append(("inserted_at", f"not an ISO 8601 date-time: {_short(inserted_at)}"))
    metadata = get("metadata")
    if metadata is not None and metadata.__class__ is not dict and _present(metadata):
        problems.append(("metadata", f"must be a JSON object, got {_short(metadata)}"))
    if event_type is None:
        return problems

    needed = _NEEDED[event_type, source == WEB_CLIENT and event_type != "identify_company"]
    if "hostname" in needed:
        url = get("url")
        if _present(url):
            if not isinstance(url, str) or not urlsplit(url.strip()).hostname:
                problems.append(("url", f"not an absolute URL: {_short(url)}"))
            needed = tuple(n for n in needed if n not in _URL_REPLACES)
    for name in needed:
        problem = _string_problem(get(name))
        if problem:
            problems.append((name, problem))
    return problems


@dataclass
class ImportReport:
    """What reading a file found: ``total_rows`` (rows, blank lines not
    counted), ``errors`` (the first :data:`MAX_REPORTED_ERRORS` problems,
    each ``{"line": 1-based int, "field": str|None, "problem": str}``) and
    ``error_count`` (all problems)."""

    total_rows: int = 0
    errors: list = field(default_factory=list)
    error_count: int = 0
    #: The valid rows kept to become events of the app (``(size, record)``
    #: pairs): the last ones within the per-app event limits.
    kept: deque = field(default_factory=deque)
    kept_bytes: int = 0

    def add(self, line: int, field_name: str | None, problem: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append({"line": line, "field": field_name, "problem": problem})

    def keep(self, event: dict, size: int) -> None:
        """Keep a valid row (an event dict; ``size``: about its bytes) to
        become an event of the app once the import completes; the oldest
        kept go first past :data:`~mock_server.backend.activity.MAX_APP_EVENTS`
        rows or :data:`~mock_server.backend.activity.MAX_APP_EVENT_BYTES`."""
        self.kept.append((size, event_record(event)))
        self.kept_bytes += size
        while len(self.kept) > activity.MAX_APP_EVENTS or self.kept_bytes > activity.MAX_APP_EVENT_BYTES:
            self.kept_bytes -= self.kept.popleft()[0]


def event_record(event: dict) -> dict:
    """The store's record of a valid import row (its ``visible_at`` set when
    the job is made): the fields as sent, ``inserted_at`` as whole
    microseconds, a ``url`` read as ``hostname`` and ``pathname`` when those
    are not given, the other auto-captured fields as given (screen sizes
    made numbers when they are digits)."""
    auto = {name: event.get(name) for name in activity.AUTO_FIELDS if _present(event.get(name))}
    url = event.get("url")
    if isinstance(url, str) and _present(url):
        parts = urlsplit(url.strip())
        auto.setdefault("hostname", parts.hostname)
        auto.setdefault("pathname", parts.path or "/")
    for name in ("screen_width", "screen_height"):
        size = auto.get(name)
        if isinstance(size, str) and size.strip().isdigit():
            auto[name] = int(size)
    kind = event["event_type"]
    inserted_at = parse_inserted_at(event["inserted_at"].strip())
    if inserted_at is None:  # the row was validated before it got here
        raise ValueError(f"inserted_at {event['inserted_at']!r} is not a time")
    return activity.record_of(kind, t_us=activity.micros(inserted_at),
                              visible_at=0, source=event["source"],
                              user_id=event.get("user_id") if kind != "identify_company" else None,
                              company_id=event.get("company_id") or None,
                              event_name=event.get("event_name") if kind == "track" else None,
                              metadata=event.get("metadata") or {}, auto=auto)


class _Lines:
    """Text lines of a binary file, one at a time, each at most
    :data:`MAX_LINE_BYTES`. A longer line is drained and yielded as ``None``
    (its number in ``number``). Raises BadRequest for bytes that are not
    UTF-8 (a leading BOM is dropped)."""

    def __init__(self, fileobj):
        self.fileobj = fileobj
        self.number = 0

    def _bad_utf8(self, exc: UnicodeDecodeError):
        return BadRequest("The file is not UTF-8 text",
                          f"line {self.number}: {exc.reason} at byte {exc.start} of the line")

    def __iter__(self):
        readline = self.fileobj.readline
        while True:
            raw = readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            self.number += 1
            if self.number == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM):]
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                self._drain(raw)
                yield None
                continue
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise self._bad_utf8(exc) from None

    def _drain(self, head: bytes) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")()
        chunk = head
        try:
            while True:
                decoder.decode(chunk)
                if chunk.endswith(b"\n"):
                    break
                chunk = self.fileobj.readline(MAX_LINE_BYTES)
                if not chunk:
                    decoder.decode(b"", final=True)
                    break
        except UnicodeDecodeError as exc:
            raise self._bad_utf8(exc) from None


def _line_too_long(report: ImportReport, line: int) -> None:
    report.add(line, None, f"line longer than {MAX_LINE_BYTES:,} bytes")


def read_ndjson(fileobj, report: ImportReport) -> None:
    """Validate NDJSON rows from the binary ``fileobj`` into ``report``."""
    lines = _Lines(fileobj)
    for text in lines:
        line = lines.number
        if text is None:
            report.total_rows += 1
            _line_too_long(report, line)
            continue
        if not text.strip():
            continue
        report.total_rows += 1
        try:
            event = jsonutil.loads(text.rstrip("\r\n"))
        except json.JSONDecodeError as exc:
            report.add(line, None, f"not valid JSON: {exc.msg} (column {exc.pos + 1})")
            continue
        except RecursionError:
            report.add(line, None, "not valid JSON: nested too deeply")
            continue
        except ValueError as exc:  # NaN/Infinity, or a number too long to read
            report.add(line, None, f"not valid JSON: {_short(str(exc))}")
            continue
        if not isinstance(event, dict):
            report.add(line, None, f"not a JSON object: {_short(event)}")
            continue
        problems = validate_event(event)
        for field_name, problem in problems:
            report.add(line, field_name, problem)
        if not problems:
            report.keep(event, len(text))


def _csv_lines(lines: _Lines, report: ImportReport):
    for text in lines:
        if text is None:  # counted and reported here; the reader sees a blank line
            report.total_rows += 1
            _line_too_long(report, lines.number)
            yield "\n"
        else:
            yield text


def read_csv(fileobj, report: ImportReport) -> None:
    """Validate CSV rows from the binary ``fileobj`` into ``report``: the
    first row names the columns; a ``metadata`` cell holds a JSON object
    (empty: ``{}``); a record spanning lines is numbered by its first.
    A cell over the csv module's field limit (131,072 characters, left
    unchanged: it is process-wide) is a bad row."""
    lines = _Lines(fileobj)
    reader = csv.reader(_csv_lines(lines, report))
    header: list[str] | None = None
    header_line = 0
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            report.total_rows += 1
            report.add(start, None, f"not valid CSV: {exc}")
            start = lines.number + 1
            continue
        line, start = start, lines.number + 1
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # a blank line (or one too long, already counted)
        if header is None:
            header_line = line
            header = [name.strip() for name in row]
            seen = set()
            for name in header:
                if name in seen and name:
                    report.add(line, name, "duplicate column")
                seen.add(name)
            continue
        report.total_rows += 1
        if len(row) != len(header):
            report.add(line, None, f"has {len(row)} fields, the header (line {header_line}) has {len(header)}")
            continue
        # a duplicate column: the last wins (reported above)
        event: dict[str, object] = dict(zip(header, row, strict=True))
        meta = event.get("metadata")
        if isinstance(meta, str):
            if not meta or meta.isspace():
                event["metadata"] = None
            else:
                try:
                    event["metadata"] = jsonutil.loads(meta)
                except (ValueError, RecursionError):
                    report.add(line, "metadata", f"not valid JSON: {_short(meta)}")
                    event["metadata"] = None
        before = report.error_count
        for field_name, problem in validate_event(event):
            report.add(line, field_name, problem)
        if report.error_count == before:
            report.keep(event, sum(len(cell) for cell in row) + len(row))


def read_import(fileobj, fmt: str) -> ImportReport:
    """Read and validate every row of an uploaded file.

    ``fileobj``: a binary file positioned at its start (read line by line,
    never whole); ``fmt``: ``"csv"`` or ``"ndjson"`` (see
    :func:`import_format`). Returns an :class:`ImportReport`. Raises
    BadRequest when the bytes are not UTF-8 or the file holds no row.
    """
    report = ImportReport()
    (read_csv if fmt == "csv" else read_ndjson)(fileobj, report)
    if report.total_rows == 0:
        raise BadRequest("The file holds no rows",
                         "a CSV file needs a header line and at least one row; "
                         "an NDJSON file at least one JSON object line")
    return report


def check_no_running_import(backend, app) -> None:
    """Raise Conflict when ``app`` has an import that is not terminal
    (documented: "one import job per application token at a time", 409
    "Import job already in progress")."""
    with backend.atomic():
        t = backend.now()
        running = app.running(t, (IMPORT_TYPE,))
        if running is not None:
            raise Conflict("Import job already in progress",
                           f"job {running.job_id} is {running.timeline.status(t)}; "
                           "one import at a time per app: poll it until it is completed or failed",
                           error_code="import_in_progress")


def create_import(backend, app, filename: str, file_size: int, report: ImportReport):
    """Create the import job of an uploaded file, starting now (queued).

    A file with problems makes a job that ends ``failed`` at ``validating``,
    its problems kept on ``job.extra`` as ``{"errors": [...], "error_count":
    n}`` (shown by the control API only: the public job has no such field).
    A file without problems makes a job whose rows (the last
    :data:`~mock_server.backend.activity.MAX_APP_EVENTS` of them) become
    events of the app, in its exports once the job has completed.
    The "one import at a time" check and the creation are one atomic step
    of the backend. Should the app have been forgotten while the file was
    read (a reset, or dropped past ``max_apps``), the job goes to the app now
    holding its token. Raises Conflict.
    """
    with backend.atomic():
        if backend.store.app(app.app_token) is not app:
            app = backend.app_for_token(app.app_token, create=True, links_base=app.links_base)
        check_no_running_import(backend, app)
        if report.error_count:
            return backend.add_import(app, filename, file_size, report.total_rows, outcome="failed",
                                      fail_at="validating",
                                      extra={"errors": list(report.errors), "error_count": report.error_count})
        job = backend.add_import(app, filename, file_size, report.total_rows)
        end = job.timeline.end
        backend.feed(app, [dict(record, visible_at=end) for _size, record in report.kept])
        return job


def example_rows(count: int, fmt: str, start: str = "2024-07-28 08:55:35.874555"):
    """``count`` valid rows (``str`` lines, each ending in a newline) of
    ``fmt`` ("csv" with its header line first, or "ndjson"), cycling through
    the four event types: for tests, benchmarks and README examples."""
    base = parse_iso8601(start)
    if base is None:
        raise ValueError(f"not an ISO 8601 date-time: {start!r}")
    columns = ("event_type", "user_id", "company_id", "event_name", "hostname", "pathname",
               "source", "inserted_at", "metadata")
    if fmt == "csv":
        yield ",".join(columns) + "\n"
    for i in range(count):
        kind = EVENT_TYPES[i % 4]
        at = format_micro(base + i, sep=" ", zone="")
        row: dict[str, object] = {"event_type": kind, "source": "backend-http-import", "inserted_at": at}
        if kind == "identify_company":
            row.update(company_id=f"company-{i % 97}", metadata={"name": f"Company {i % 97}", "plan": "growth"})
        else:
            row["user_id"] = f"user-{i % 1009}"
        if kind == "identify_user":
            row["metadata"] = {"email": f"user-{i % 1009}@example.com", "total_logins": i % 40}
        elif kind == "page_view":
            row.update(hostname="app.example.com", pathname=f"/projects/{i % 50}")
        elif kind == "track":
            row.update(event_name="Report Exported", metadata={"format": "pdf"})
        if fmt == "csv":
            cells = []
            for name in columns:
                raw = row.get(name, "")
                value = json.dumps(raw, separators=(",", ":")) if name == "metadata" and raw else str(raw)
                if any(c in value for c in ',"\n'):
                    value = '"' + value.replace('"', '""') + '"'
                cells.append(value)
            yield ",".join(cells) + "\n"
        else:
            yield json.dumps(row, separators=(",", ":")) + "\n"
