"""Bulk identify over HTTP: a JSON body (``application/json``) or an NDJSON
file in a ``multipart/form-data`` part named ``file``. Refusals (ApiErrors,
the vendor's error shape; no job made):

- 400: a body that is not JSON, or breaks the rows' rules (the row and
  field named); a multipart body without its ``file`` part; an empty file;
- 409: the app has a bulk job (users or companies) that is not terminal;
- 413: over 50 MiB, or over 10,000 rows;
- 415: another Content-Type, or a file not named ``.ndjson``/``.jsonl``.

A JSON body is read whole (at most 50 MiB); a file is streamed to a
spooled temporary file and read line by line, as imports are.
"""
from __future__ import annotations

from ...backend.errors import BadRequest
from ...http.bodies import NO_BODY, media_type, parse_json, read_body
from ...http.render import Answer, json_answer
from ..imports.models import MAX_FILE_BYTES
from ..imports.responses import UploadParser, receive_upload
from .models import (
    COMPANIES,
    USERS,
    UnsupportedMediaType,
    bulk_answer,
    check_body,
    check_ndjson_name,
    check_no_running_bulk,
    create_bulk_job,
    json_filename,
    read_file,
    too_large,
)


def _bulk(call, kind) -> Answer:
    backend, app = call.backend, call.app
    check_no_running_bulk(backend, app)  # an early 409, before the body; checked again atomically
    mimetype, _options = media_type(call.environ)
    if mimetype == "multipart/form-data":
        parser = UploadParser(check_ndjson_name)
        try:
            filename, sink = receive_upload(parser, call.environ)
            found = read_file(sink.file, kind)
            size = sink.size
        finally:
            parser.close()
        job = create_bulk_job(backend, app, kind, filename, size, found.total_rows,
                              [row for _size, row in found.rows], found.errors, found.error_count)
    elif mimetype in ("application/json", "") or mimetype.endswith("+json"):
        data = read_body(call.environ, MAX_FILE_BYTES, too_big=too_large)
        body = parse_json(data)
        if body is NO_BODY:
            raise BadRequest("The body is empty", f'send {{"{kind.name}": [...]}} or an NDJSON file',
                             error_code="invalid_body")
        rows = check_body(body, kind)
        job = create_bulk_job(backend, app, kind, json_filename(kind, backend.now()), len(data), len(rows), rows)
    else:
        raise UnsupportedMediaType(f"Unsupported Content-Type {mimetype!r}",
                                   f'send application/json {{"{kind.name}": [...]}} or multipart/form-data '
                                   "with an NDJSON part named 'file'")
    t = backend.now()
    call.shown = (t, (job,))
    return json_answer(bulk_answer(job, t, backend.forms), 202)


def bulk_identify_users(call) -> Answer:
    """bulkIdentifyUsers: 202 with the queued job (the OpenAPI's bulk job shape)."""
    return _bulk(call, USERS)


def bulk_identify_companies(call) -> Answer:
    """bulkIdentifyCompanies: 202 with the queued job (the OpenAPI's bulk job shape)."""
    return _bulk(call, COMPANIES)


__all__ = ["bulk_identify_companies", "bulk_identify_users"]
