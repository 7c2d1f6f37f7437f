"""Exports on the appex host: the trigger's filters, the export job and its
two views, chunks, presigned download URLs (no HTTP here).

An export is an ordinary job of its app (type ``export``), on the fake's
clock like every job, listed by List Jobs (analytex) with the same
``job_id``, status and times as by the exports API (appex): one job, two
views. The exports API shows the exports made through it, through the
control API and in scenario files (a job carrying an export definition in
``job.extra["export"]``); the generated history's export jobs stand for the
app's exports from before the fake saw its key (the dashboard's) and are
listed by List Jobs only. Rules (docs/domain.md, "Exports"; the rest is assumed
and said so in docs/exports.md):

- one export at a time per app (409 "Export job already in progress"); a
  completed or failed one frees the slot;
- a job's status stays readable for :data:`RETENTION_SECONDS` (3 days) after
  its creation, then the exports API answers 404 "Export job not found" (List
  Jobs, which documents no such limit, still lists it);
- download URLs expire :data:`URL_TTL_SECONDS` (2 days) after the job's
  creation; they exist exactly while the job is completed;
- the files hold :data:`CHUNK_EVENTS` events each (the last one the rest;
  one empty file when nothing matched), oldest first.
"""
from __future__ import annotations

import hmac
import math
from hashlib import sha256
from itertools import islice
from urllib.parse import quote

from ...backend import activity
from ...backend.errors import BadRequest, Conflict, NotFound
from ...backend.jobtypes import EXPORT_FORMATS, EXPORT_TYPE, check_format
from ...times import format_day, format_instant, parse_datetime, to_datetime

DAY = 86_400
#: Job status stays available this long after creation (documented: 3 days).
RETENTION_SECONDS = 3 * DAY
#: Download URLs expire this long after the job's creation (documented: 2 days).
URL_TTL_SECONDS = 2 * DAY
#: Events per file (assumption: the vendor says nothing of chunk sizes).
CHUNK_EVENTS = 100_000
#: The range exported when the trigger gives no ``from`` (assumption).
DEFAULT_RANGE_SECONDS = 30 * DAY
#: The range a job spec's export spreads its events over, before its start.
SPEC_RANGE_SECONDS = 30 * DAY
#: The longest trigger body read (assumption: a limit of the fake).
MAX_TRIGGER_BYTES = 1024 * 1024
#: The trigger answer's ``environment_name`` (the vendor's example).
ENVIRONMENT_NAME = "production"
#: The filters the trigger takes (the vendor's body schema).
FILTERS = ("from", "to", "emails", "event_type", "user_id", "company_id", "segment_id", "format", "exclusions")
#: Where download URLs point, on the fake's public URL: path-style object keys.
FILES_PREFIX = "/__files"
BUCKET = "userpilot-exports"
#: Rough bytes one event takes in each format (for List Jobs' file_size; assumption).
EVENT_BYTES = {"csv": 330, "ndjson": 560, "parquet": 70, "avro": 190}
#: The access key id in the URLs' X-Amz-Credential (a fake one).
ACCESS_KEY_ID = "AKIAUSERPILOTMOCK0000"
REGION = "us-east-1"

EXPORT_NOT_FOUND = "Export job not found"


# -- the trigger ------------------------------------------------------------------

def _instant(value, name: str) -> float:
    """UTC epoch seconds of a ``from``/``to`` value: an ISO 8601 date
    (midnight UTC) or date-time (no offset: UTC). Raises BadRequest."""
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be an ISO 8601 date or date-time string, got {_kind(value)}",
                         f"e.g. \"{name}\": \"2026-11-01\" or \"2026-11-01T00:00:00Z\"", error_code="invalid_filter")
    text = value.strip()
    moment = parse_datetime(text + "T00:00:00Z" if len(text) == 10 else text)
    if moment is None:
        raise BadRequest(f"{name} is not an ISO 8601 date or date-time: {value[:60]!r}",
                         f"e.g. \"{name}\": \"2026-11-01\" or \"2026-11-01T00:00:00Z\"", error_code="invalid_filter")
    return moment.timestamp()


def _kind(value) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", list: "an array", dict: "an object",
            type(None): "null", str: "a string"}.get(type(value), type(value).__name__)


def _strings(body: dict, name: str, allowed: tuple | None = None) -> list[str] | None:
    """A filter that is an array of strings (None when absent or empty)."""
    if name not in body:
        return None
    value = body[name]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{name} must be an array of strings, got {_kind(value)}",
                         f"e.g. \"{name}\": [\"...\"]", error_code="invalid_filter")
    if allowed is not None:
        unknown = [v for v in value if v not in allowed]
        if unknown:
            raise BadRequest(f"{name}: unknown value {unknown[0][:60]!r}", f"one of: {', '.join(allowed)}",
                             error_code="invalid_filter")
    return list(dict.fromkeys(value)) or None


def parse_trigger(body, cat: activity.Catalogue, now: float) -> dict:
    """The export definition of a trigger body (``body``: the parsed JSON,
    ``{}`` for no body; a JSON ``null`` is not an object) at instant ``now`` for an app of catalogue ``cat``: a
    JSON-able dict ``{"format", "from", "to"`` (UTC epoch seconds, ``to`` cut
    to ``now``), ``"event_type", "user_id", "company_id"`` (lists or None),
    ``"segment_id"`` (or None), ``"exclusions"`` (list), ``"emails"`` (list)}.

    Raises BadRequest naming the filter: a body that is not an object, an
    unknown field, a value of the wrong type, a date that is not ISO 8601,
    ``from`` after ``to``, an unknown event type or segment, a format the
    fake cannot write (parquet/avro without the ``formats`` extra)."""
    if not isinstance(body, dict):
        raise BadRequest(f"The body must be a JSON object of filters, got {_kind(body)}",
                         f"filters: {', '.join(FILTERS)}", error_code="invalid_filter")
    unknown = [k for k in body if k not in FILTERS]
    if unknown:
        raise BadRequest(f"Unknown filter {unknown[0][:60]!r}", f"filters: {', '.join(FILTERS)}",
                         error_code="invalid_filter")
    fmt = body.get("format", "csv")
    if fmt not in EXPORT_FORMATS:
        raise BadRequest(f"format must be one of {', '.join(sorted(EXPORT_FORMATS))}, got {str(fmt)[:40]!r}",
                         error_code="invalid_filter")
    check_format(fmt)
    end = _instant(body["to"], "to") if "to" in body else now
    start = _instant(body["from"], "from") if "from" in body else min(end, now) - DEFAULT_RANGE_SECONDS
    if start > end:
        raise BadRequest("from is after to", f"from {body.get('from')!r}, to {body.get('to', 'now')!r}",
                         error_code="invalid_filter")
    segment_id = body.get("segment_id")
    if "segment_id" in body:  # the spec types it a string: null is no way to say "no segment" (leave it out)
        if not isinstance(segment_id, str):
            raise BadRequest(f"segment_id must be a string, got {_kind(segment_id)}", error_code="invalid_filter")
        segment_id = segment_id.strip() or None  # empty: no segment filter, as an empty array is no filter
    if segment_id is not None and cat.segment(segment_id) is None:
        raise BadRequest(f"Unknown segment_id {segment_id[:60]!r}",
                         "GET /api/v1/analytics/exports/lookups/segments lists this app's segments",
                         error_code="invalid_filter")
    exclusions = body.get("exclusions", "")
    if not isinstance(exclusions, str):
        raise BadRequest(f"exclusions must be a string, got {_kind(exclusions)}",
                         "comma-separated event types or event names, e.g. \"page_view,session_start\"",
                         error_code="invalid_filter")
    return {"format": fmt, "from": start, "to": min(end, now),
            "event_type": _strings(body, "event_type", activity.EVENT_TYPES),
            "user_id": _strings(body, "user_id"), "company_id": _strings(body, "company_id"),
            "segment_id": segment_id,
            "exclusions": [t.strip() for t in exclusions.split(",") if t.strip()],
            "emails": _strings(body, "emails") or []}


def selection(definition: dict, cat: activity.Catalogue) -> activity.Selection:
    """The events a trigger definition selects."""
    def chosen(name):
        values = definition.get(name)
        return frozenset(values) if values else None

    segment = cat.segment(definition["segment_id"]) if definition.get("segment_id") else None
    return activity.Selection(math.ceil(definition["from"] * activity.MICRO),
                              math.ceil(definition["to"] * activity.MICRO),
                              chosen("event_type"), chosen("user_id"), chosen("company_id"), segment,
                              frozenset(definition.get("exclusions") or ()))


def is_export(job) -> bool:
    """A job the exports API shows (it carries an export definition)."""
    return job.type == EXPORT_TYPE and bool(job.extra) and "export" in job.extra


def running_export(app, t: int):
    """The app's export that is not terminal at ``t``, or None."""
    for job in app.newest_first():
        if is_export(job) and not job.timeline.is_terminal(t):
            return job
    return None


#: The code of the 409 of "one export at a time" (documented: "Export job already in progress").
EXPORT_IN_PROGRESS = "export_in_progress"
#: The code of the 404 "Export job not found".
EXPORT_JOB_NOT_FOUND = "export_job_not_found"


def check_no_running_export(backend, app) -> None:
    """Raise Conflict while the app has an export that is not terminal
    (documented: one export at a time per application token, 409 "Export job
    already in progress")."""
    t = backend.now()
    job = running_export(app, t)
    if job is not None:
        raise Conflict("Export job already in progress",
                       f"export {job.job_id} is {job.timeline.status(t)}; one export at a time per app: "
                       "wait until it is completed or failed", error_code=EXPORT_IN_PROGRESS)


def events_of(backend, app, job, first: int = 0):
    """The events of export ``job`` of ``app`` from index ``first`` on,
    oldest first (event tuples of :mod:`~mock_server.backend.activity`)."""
    export = job.extra["export"]
    cat = activity.catalogue(backend.seed, app.app_token)
    if export.get("synthetic"):
        start = job.timeline.start
        return activity.synthetic(cat, job.job_id, job.total_rows, start - SPEC_RANGE_SECONDS, start, first)
    sent = activity.sent_events(backend.sent_records(app), export["sent_upto"], export["at"])
    chosen = activity.selected(cat, selection(export, cat), activity.activity_start(app.first_seen), sent)
    for _ in range(first):  # the events of the chunks before
        if next(chosen, None) is None:
            break
    return chosen


def trigger_export(backend, app, definition: dict):
    """Make the export of ``definition`` (see :func:`parse_trigger`) in
    ``app``, starting now: it holds every selected event (background
    activity and the events sent to the app visible now). Raises Conflict
    while another export runs. The events are counted outside the store's
    lock; the check and the creation are one atomic step."""
    check_no_running_export(backend, app)
    at = backend.now()
    records = backend.sent_records(app)
    upto = records[-1]["seq"] if records else 0
    export = dict(definition, sent_upto=upto, at=at)
    cat = activity.catalogue(backend.seed, app.app_token)
    sent = activity.sent_events(records, upto, at)
    total = sum(1 for _ in activity.selected(cat, selection(export, cat), activity.activity_start(app.first_seen),
                                             sent))
    fmt = definition["format"]
    filename = f"export_events_{format_day(at)}{EXPORT_FORMATS[fmt]}"
    with backend.atomic():
        if backend.store.app(app.app_token) is not app:  # forgotten meanwhile (a reset, past max_apps)
            app = backend.app_for_token(app.app_token, create=True, links_base=app.links_base)
        check_no_running_export(backend, app)
        return backend.add_made_job(app, EXPORT_TYPE, filename, 64 + total * EVENT_BYTES[fmt], total,
                                    extra={"export": export})


# -- the two views ---------------------------------------------------------------

def visible(job, t: int) -> bool:
    """Whether the exports API shows ``job`` at ``t`` (an export younger than 3 days)."""
    return is_export(job) and t < job.timeline.start + RETENTION_SECONDS


def export_jobs(app, t: int) -> list:
    """The app's exports the exports API shows at ``t``, newest first."""
    return [job for job in app.newest_first() if visible(job, t)]


def find_export(app, job_id: str, t: int):
    """The export ``job_id`` of ``app`` shown at ``t``. Raises NotFound
    "Export job not found" for an unknown id, another app's job, a job that
    is not an export, and any export 3 days after its creation."""
    job = app.by_id.get(job_id)
    if job is None or not visible(job, t):
        gone = job is not None and is_export(job)
        raise NotFound(EXPORT_NOT_FOUND,
                       f"export {job_id!r} was created over 3 days ago: job status is kept 3 days" if gone
                       else f"no export job {job_id!r} for this API key", error_code=EXPORT_JOB_NOT_FOUND)
    return job


def chunk_count(total_rows: int) -> int:
    """Files of an export of ``total_rows`` events (at least one)."""
    return max(1, -(-total_rows // CHUNK_EVENTS))


def chunk_names(total_rows: int) -> list[str]:
    """``part1``, ``part2``, ...: the chunks of an export."""
    return [f"part{i}" for i in range(1, chunk_count(total_rows) + 1)]


def chunk_filename(job, index: int) -> str:
    """The file name of chunk ``index`` (0-based): ``export-part1.csv`` (the
    vendor's example name)."""
    return f"export-part{index + 1}{EXPORT_FORMATS[job.extra['export']['format']]}"


def elapsed_text(seconds: int) -> str:
    """``HH:MM:SS`` (hours may pass 99)."""
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def export_view(job, t: int, base: str, key: bytes) -> dict:
    """The export job as the exports API shows it at ``t`` (keys sorted, as
    the real encoder sorts them): ``progress`` the whole percentage of its
    events written, chunks done once their events are, ``presigned_urls`` on
    ``base`` (the public URL the client reached; signed with ``key``) exactly
    while completed."""
    tl = job.timeline
    status = tl.status(t)
    total = job.total_rows
    names = chunk_names(total)
    done = tl.completed_rows(t)
    written = status in ("pending_refresh", "completed")
    completed = len(names) if written else min(done // CHUNK_EVENTS, len(names) - 1)
    progress = 100 if written else (100 * done // total if total else 0)
    elapsed = tl.elapsed(t)
    end = tl.end_time(t)
    urls = []
    if status == "completed":
        urls = [{"filename": chunk_filename(job, i), "url": presigned_url(job, i, base, key)}
                for i in range(len(names))]
    return {"all_chunks": names, "app_token": job.app_token, "completed_chunks": names[:completed],
            "current_chunk": names[min(completed, len(names) - 1)], "elapsed_time": elapsed_text(elapsed),
            "elapsed_time_seconds": str(elapsed), "end_time": format_instant(end) if end is not None else None,
            "job_id": job.job_id, "presigned_urls": urls, "progress": str(min(progress, 100)),
            "start_time": format_instant(tl.start), "status": status, "type": job.type}


def trigger_answer(job, base: str) -> dict:
    """The 201 answer of the trigger: the job's id, its URL on Show Job by
    Job ID (``links``, on ``base``), its start and the app."""
    return {"environment_app_token": job.app_token, "environment_name": ENVIRONMENT_NAME, "job_id": job.job_id,
            "links": job_url(job, base), "start_time": format_instant(job.timeline.start)}


def job_url(job, base: str) -> str:
    return f"{base}/api/v1/analytics/exports/jobs/{job.job_id}"


# -- presigned URLs -----------------------------------------------------------------

def _amz_date(seconds: int) -> str:
    return to_datetime(seconds).strftime("%Y%m%dT%H%M%SZ")


def object_key(job, index: int) -> str:
    """``<app token>/<job uuid>/<file name>``: where chunk ``index`` is stored."""
    return f"{job.app_token}/{job.job_id.rsplit(':', 1)[-1]}/{chunk_filename(job, index)}"


def _signature(key: bytes, path: str, amz_date: str, expires: str) -> str:
    return hmac.new(key, f"GET\n{path}\n{amz_date}\n{expires}".encode(), sha256).hexdigest()


def url_terms(job) -> tuple[str, str]:
    """``(X-Amz-Date, X-Amz-Expires)`` of the job's URLs: signed when it
    completed, valid until 2 days after its creation (0 seconds when it
    completed later than that)."""
    end = job.timeline.end
    return _amz_date(end), str(max(0, job.timeline.start + URL_TTL_SECONDS - end))


def presigned_url(job, index: int, base: str, key: bytes) -> str:
    """The download URL of chunk ``index`` on ``base``, shaped like an S3
    presigned URL (AWS Signature Version 4 query parameters; the signature
    is an HMAC of the path, date and expiry under the fake's ``key``)."""
    path = f"{FILES_PREFIX}/{BUCKET}/{quote(object_key(job, index))}"
    amz_date, expires = url_terms(job)
    credential = quote(f"{ACCESS_KEY_ID}/{amz_date[:8]}/{REGION}/s3/aws4_request", safe="")
    return (f"{base}{path}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={credential}"
            f"&X-Amz-Date={amz_date}&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host"
            f"&X-Amz-Signature={_signature(key, path, amz_date, expires)}")


class DownloadRefused(Exception):
    """What an object store answers instead of a file: ``status``, ``code``
    (S3's error code), ``message`` and ``fields`` (more elements of the
    error document, in order)."""

    def __init__(self, status: int, code: str, message: str, fields: tuple = ()):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields


_REQUIRED_QUERY = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders",
                   "X-Amz-Signature")


def open_download(backend, path: str, query, now: int):
    """The export job and chunk index a download URL names.

    ``path``: the request path as sent (percent-encoded, ``/__files/...``);
    ``query``: name -> value; ``now``: the fake's instant. Checked as S3
    checks a presigned URL: its query parameters (403 AccessDenied), the
    signature (403 SignatureDoesNotMatch), the expiry (403 AccessDenied
    "Request has expired"), then the object (404 NoSuchKey: an unknown app,
    job or chunk). Raises :class:`DownloadRefused`."""
    missing = [name for name in _REQUIRED_QUERY if not query.get(name)]
    if missing:
        raise DownloadRefused(403, "AccessDenied", "Query-string authentication version 4 requires the "
                              "X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, "
                              "X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
    amz_date, expires = query["X-Amz-Date"], query["X-Amz-Expires"]
    expected = _signature(backend.signing_key, path, amz_date, expires)
    if not hmac.compare_digest(expected, query["X-Amz-Signature"]):
        raise DownloadRefused(403, "SignatureDoesNotMatch", "The request signature we calculated does not match "
                              "the signature you provided. Check your key and signing method.")
    signed = parse_datetime(f"{amz_date[:4]}-{amz_date[4:6]}-{amz_date[6:8]}T{amz_date[9:11]}:{amz_date[11:13]}:"
                            f"{amz_date[13:15]}Z") if len(amz_date) == 16 else None
    if signed is None or not expires.isdigit():
        raise DownloadRefused(403, "AccessDenied", "X-Amz-Date or X-Amz-Expires is malformed.")
    expiry = signed.timestamp() + int(expires)
    if now >= expiry:
        raise DownloadRefused(403, "AccessDenied", "Request has expired",
                              (("X-Amz-Expires", expires), ("Expires", format_instant(expiry)),
                               ("ServerTime", format_instant(now))))
    prefix = f"{FILES_PREFIX}/{BUCKET}/"
    parts = path[len(prefix):].split("/") if path.startswith(prefix) else []
    if len(parts) != 3:
        raise DownloadRefused(404, "NoSuchKey", "The specified key does not exist.", (("Key", path),))
    app_token, uuid, filename = parts
    app = backend.store.app(app_token)
    job = app.by_id.get(f"bulk:jobs:{app_token}:{uuid}") if app is not None else None
    if job is None or not is_export(job) or job.timeline.status(now) != "completed":
        raise DownloadRefused(404, "NoSuchKey", "The specified key does not exist.", (("Key", path),))
    for index in range(chunk_count(job.total_rows)):
        if chunk_filename(job, index) == filename:
            return app, job, index
    raise DownloadRefused(404, "NoSuchKey", "The specified key does not exist.", (("Key", path),))


def chunk_rows(job, index: int) -> int:
    """Events in chunk ``index`` of ``job``."""
    return max(0, min(CHUNK_EVENTS, job.total_rows - index * CHUNK_EVENTS))


def chunk_events(backend, app, job, index: int):
    """The events of chunk ``index`` (0-based) of export ``job``, oldest
    first: :data:`CHUNK_EVENTS` of them (the last chunk the rest)."""
    return islice(events_of(backend, app, job, first=index * CHUNK_EVENTS), chunk_rows(job, index))


__all__ = ["BUCKET", "CHUNK_EVENTS", "EXPORT_IN_PROGRESS", "EXPORT_JOB_NOT_FOUND", "EXPORT_NOT_FOUND", "FILES_PREFIX",
           "RETENTION_SECONDS", "DownloadRefused",
           "URL_TTL_SECONDS", "check_no_running_export", "chunk_count", "chunk_events", "chunk_filename",
           "chunk_names", "chunk_rows", "elapsed_text", "events_of", "export_jobs", "export_view", "find_export",
           "is_export", "job_url", "open_download", "parse_trigger", "presigned_url", "running_export",
           "selection", "trigger_answer", "trigger_export", "visible"]
