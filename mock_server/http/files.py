"""The files behind export download URLs: a small object store on the fake's
own URL (``/__files/<bucket>/<key>``), answering as S3 answers a presigned
URL.

It is not an operation of the kit spec (the real files live on an object
store, not on the API), so the pipeline's stages do not apply: no API key
(the signed URL is the key), no fault rules, no journal. Answers:

- 200 with the file, streamed as it is written (no ``Content-Length``:
  chunked over HTTP/1.1), ``Content-Type`` of its format and a
  ``Content-Disposition`` naming it; HEAD gives the headers only;
- 403 ``AccessDenied`` (missing query parameters; "Request has expired" two
  days after the job's creation), 403 ``SignatureDoesNotMatch`` (a changed
  URL), 404 ``NoSuchKey`` (no such app, job or file), 405
  ``MethodNotAllowed``, 400 ``InvalidRequest`` (a Parquet or Avro file
  while the ``formats`` extra is missing), each an S3 XML error document
  (``application/xml``) with a ``RequestId``.
"""
from __future__ import annotations

import random
import secrets
from email.utils import formatdate
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from ..backend.jobtypes import missing_library
from ..families.exports.formats import CONTENT_TYPES, write_file
from ..families.exports.models import DownloadRefused, chunk_events, chunk_filename, open_download
from .render import Answer
from .violations import raw_path

_ids = random.Random(secrets.randbits(64))


def _request_id() -> str:
    return f"{_ids.getrandbits(64):016X}"


def xml_error(status: int, code: str, message: str, fields: tuple = (), resource: str = "") -> Answer:
    """An S3 error document: ``<Error><Code>..</Code><Message>..</Message>...``."""
    request_id = _request_id()
    parts = [f"<Code>{escape(code)}</Code>", f"<Message>{escape(message)}</Message>"]
    parts += [f"<{name}>{escape(str(value))}</{name}>" for name, value in fields]
    if resource:
        parts.append(f"<Resource>{escape(resource)}</Resource>")
    parts.append(f"<RequestId>{request_id}</RequestId>")
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + "".join(parts) + "</Error>").encode("utf-8")
    return Answer(status, body, [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)])


class Files:
    """The WSGI app of ``/__files/...`` for the fake ``fake`` (its backend
    holds the jobs, the clock and the signing key)."""

    def __init__(self, fake):
        self.fake = fake

    def answer(self, environ: dict) -> Answer:
        method = environ.get("REQUEST_METHOD", "GET")
        path = raw_path(environ)
        if method not in ("GET", "HEAD"):
            answer = xml_error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.",
                               (("Method", method), ("ResourceType", "OBJECT")))
            answer.set_header("Allow", "GET, HEAD")
            return answer
        backend = self.fake.backend
        query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        try:
            app, job, index = open_download(backend, path, query, backend.now())
        except DownloadRefused as refused:
            return xml_error(refused.status, refused.code, refused.message, refused.fields, path)
        fmt = job.extra["export"]["format"]
        problem = missing_library(fmt)
        if problem:
            return xml_error(400, "InvalidRequest", problem, (), path)
        name = chunk_filename(job, index)
        body = write_file(fmt, chunk_events(backend, app, job, index), app.app_token, f"{job.job_id}:{index}")
        headers = [("Content-Type", CONTENT_TYPES[fmt]), ("Content-Disposition", f'attachment; filename="{name}"'),
                   ("Last-Modified", formatdate(job.timeline.end, usegmt=True)), ("x-amz-request-id", _request_id())]
        return Answer(200, body, headers)

    def __call__(self, environ: dict, start_response):
        return self.answer(environ).send(environ, start_response)


__all__ = ["Files", "xml_error"]
