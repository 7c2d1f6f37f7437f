"""createImport over HTTP: the ``multipart/form-data`` upload, streamed.

The body is parsed by Werkzeug's streaming multipart parser; the ``file``
part goes to a spooled temporary file (in memory up to
:data:`SPOOL_BYTES`, then on disk), its rows are then read line by line
(:mod:`.models`), so memory stays flat whatever the
file's size. Every refusal is an :class:`~mock_server.backend.errors.ApiError`
in the vendor's error shape, and none creates a job:

- 400: not ``multipart/form-data`` (or no boundary), a malformed body, no
  ``file`` part (or a text field instead of a file), two ``file`` parts, an
  empty file, bytes that are not UTF-8, no rows;
- 409: the app already has an import that is not terminal;
- 413: a file over 50 MiB (from ``Content-Length`` up front when the body
  cannot fit, else while streaming);
- 415: a file name without a ``.csv``, ``.ndjson`` or ``.jsonl`` extension
  (refused as soon as the part's headers arrive).

Flask's own form parsing (``request.files``, ``MAX_CONTENT_LENGTH``,
``MAX_FORM_MEMORY_SIZE``) is never used here, so its limits cannot answer
in another shape.
"""
from __future__ import annotations

import tempfile

from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.formparser import MultiPartParser
from werkzeug.wsgi import get_content_length, get_input_stream

from ...backend.errors import BadRequest
from ...http.bodies import media_type
from ...http.render import Answer, job_fragment, json_answer
from .models import MAX_FILE_BYTES, check_no_running_import, create_import, import_format, read_import, too_large

#: Room for boundaries, part headers and small text fields beside the file.
MULTIPART_SLACK_BYTES = 64 * 1024
#: A body longer than this cannot hold a file within the limit: 413 at once.
MAX_BODY_BYTES = MAX_FILE_BYTES + MULTIPART_SLACK_BYTES
#: Parts accepted in one body, and bytes of one text part or part header.
MAX_PARTS = 16
MAX_FIELD_BYTES = 128 * 1024
#: The file part stays in memory up to this many bytes, then goes to disk.
SPOOL_BYTES = 512 * 1024
MAX_FILENAME_CHARS = 255

_CURL_HINT = "send the file as a multipart part named 'file', e.g. curl -F file=@events.csv"


class _FileSink:
    """Where the ``file`` part's bytes go: a spooled temporary file that
    counts them and raises PayloadTooLarge past the limit."""

    def __init__(self):
        # closed by close(), once the rows are read
        self.file = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, mode="w+b")  # noqa: SIM115
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self.size > MAX_FILE_BYTES:
            raise too_large()
        return self.file.write(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.file.seek(offset, whence)

    def close(self) -> None:
        self.file.close()


class _Discard:
    """Sink for other file parts: their bytes are not needed."""

    def write(self, data: bytes) -> int:
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def close(self) -> None:
        pass


class _Body:
    """The request body as the parser reads it; a body past
    :data:`MAX_BODY_BYTES` (no ``Content-Length``) becomes our 413, one
    that ends early our 400."""

    def __init__(self, stream):
        self.stream = stream

    def read(self, size: int = -1) -> bytes:
        try:
            return self.stream.read(size)
        except RequestEntityTooLarge:
            raise too_large() from None
        except ClientDisconnected:
            raise BadRequest("The body ended before its Content-Length",
                             "the client sent fewer bytes than announced") from None


def _basename(filename: str) -> str:
    """The uploaded file's own name: directories (either slash) dropped."""
    return filename.replace("\\", "/").rsplit("/", 1)[-1].strip()


class UploadParser(MultiPartParser):
    """Werkzeug's multipart parser keeping only the ``file`` part, checked
    (name, extension, size) as it arrives. After :meth:`parse`,
    ``upload`` is ``(filename, sink)`` or None; call :meth:`close`.
    ``check_name(filename)`` raises for a name whose extension is refused
    (default: the import formats' 415)."""

    def __init__(self, check_name=import_format):
        super().__init__(max_form_memory_size=MAX_FIELD_BYTES, max_form_parts=MAX_PARTS)
        self.upload: tuple[str, _FileSink] | None = None
        self.check_name = check_name

    def start_file_streaming(self, event, total_content_length):
        if event.name != "file":
            return _Discard()
        if self.upload is not None:
            raise BadRequest("More than one 'file' part", "send one file per import")
        name = _basename(event.filename or "")
        if not name:
            raise BadRequest("The 'file' part has no file name", _CURL_HINT)
        if len(name) > MAX_FILENAME_CHARS:
            raise BadRequest(f"The file name is longer than {MAX_FILENAME_CHARS} characters")
        self.check_name(name)  # 415 before any byte of the part is stored
        self.upload = (name, _FileSink())
        return self.upload[1]

    def close(self) -> None:
        if self.upload is not None:
            self.upload[1].close()


def receive_upload(parser: UploadParser, environ) -> tuple[str, _FileSink]:
    """Parse the request body of ``environ`` with ``parser``; returns the
    file name and its sink (rewound). Raises BadRequest, PayloadTooLarge,
    UnsupportedMediaType (see the module docstring)."""
    mimetype, options = media_type(environ)
    if mimetype != "multipart/form-data":
        raise BadRequest("The body must be multipart/form-data",
                         f"got Content-Type {mimetype or 'none'!r}; {_CURL_HINT}",
                         error_code="not_multipart")
    boundary = options.get("boundary", "")
    try:
        boundary_bytes = boundary.encode("ascii")
    except UnicodeEncodeError:
        boundary_bytes = b""
    if not boundary_bytes:
        raise BadRequest("The multipart Content-Type has no boundary", _CURL_HINT,
                         error_code="not_multipart")
    length = get_content_length(environ)
    if length is not None and length > MAX_BODY_BYTES:
        raise too_large(length)
    stream = _Body(get_input_stream(environ, max_content_length=MAX_BODY_BYTES))
    try:
        form, _files = parser.parse(stream, boundary_bytes, length)  # type: ignore[arg-type]  # a read()-only stream
    except RequestEntityTooLarge:
        raise BadRequest("The body is not valid multipart/form-data",
                         f"more than {MAX_PARTS} parts, or a part header or text field over "
                         f"{MAX_FIELD_BYTES:,} bytes", error_code="bad_multipart") from None
    except ValueError as exc:
        raise BadRequest("The body is not valid multipart/form-data", str(exc) or type(exc).__name__,
                         error_code="bad_multipart") from None
    if parser.upload is None:
        if "file" in form:
            raise BadRequest("The 'file' part is not a file", _CURL_HINT, error_code="no_file")
        raise BadRequest("No 'file' part in the body", _CURL_HINT, error_code="no_file")
    filename, sink = parser.upload
    if sink.size == 0:
        raise BadRequest("The file is empty", f"{filename!r} has 0 bytes", error_code="empty_file")
    sink.seek(0)
    return filename, sink


def create_import_handler(call) -> Answer:
    """createImport: upload an import file; 200 with the new job (JobDetail,
    status ``queued``, ``filename``, ``file_size`` in bytes, ``total_rows``).
    Refusals: see the module docstring. ``call``: the pipeline's
    :class:`~mock_server.http.pipeline.Call`."""
    backend, app = call.backend, call.app
    check_no_running_import(backend, app)  # cheap early 409; re-checked atomically below
    parser = UploadParser()
    try:
        filename, sink = receive_upload(parser, call.environ)
        report = read_import(sink.file, import_format(filename))
        size = sink.size
    finally:
        parser.close()
    job = create_import(backend, app, filename, size, report)
    t = backend.now()
    call.shown = (t, (job,))
    return json_answer(job_fragment(job, t, True, backend.forms))
