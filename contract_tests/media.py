"""Event files for ``createImport``: Hypothesis strategies for valid CSV and
NDJSON imports, registered as Schemathesis media types.

The kit spec declares the ``file`` part's media types (``encoding.file.
contentType: text/csv, application/x-ndjson``, openapi/overlay.yaml), so
Schemathesis draws that part from these strategies instead of random bytes.
Rows follow the vendor's import pages (docs/domain.md, "Import files"): one event
per row, ``event_type`` one of four, the fields each type requires, a
``source`` from the documented list, ``inserted_at`` in the vendor's own ISO
style. In negative mode Schemathesis breaks the request itself (no ``file``
part, a part that is not a file); :data:`INVALID_UPLOADS` are the files a
server must refuse outright, sent by the lifecycle checks.

A file part also needs a name: servers pick the reader by extension, and
Schemathesis names a part after its field (``file``). :func:`register`
therefore also gives parts of these media types a name with the matching
extension (``events.csv``), as any client uploading a file does.
"""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone

from hypothesis import strategies as st

from mock_server.times import format_instant, format_micro

CSV = "text/csv"
NDJSON = "application/x-ndjson"
#: Media type -> file name extension.
EXTENSIONS = {CSV: ".csv", NDJSON: ".ndjson"}

#: docs/domain.md, "Import files".
SOURCES = ("web-client", "backend-http", "backend-hubspot", "backend-salesforce",
           "backend-segment", "backend-http-import")
REQUIRED = {
    "identify_user": ("event_type", "user_id", "metadata", "source", "inserted_at"),
    "identify_company": ("event_type", "company_id", "source", "metadata", "inserted_at"),
    "page_view": ("event_type", "user_id", "hostname", "pathname", "source", "inserted_at"),
    "track": ("event_type", "user_id", "event_name", "source", "inserted_at"),
}
#: CSV columns: every event field, one column each (``metadata`` holds a JSON object).
COLUMNS = ("event_type", "user_id", "company_id", "event_name", "hostname", "pathname",
           "source", "inserted_at", "metadata")

_ids = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)
_words = st.text("abcdefghijklmnopqrstuvwxyz_ ", min_size=1, max_size=16).map(str.strip).filter(bool)
_instants = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2026, 12, 31))
_metadata = st.dictionaries(st.sampled_from(("name", "plan", "email", "seats", "country", "trial")),
                            st.one_of(_words, st.integers(0, 10_000), st.booleans()), max_size=3)


@st.composite
def _inserted_at(draw) -> str:
    """The vendor's example style ``2024-07-28 08:55:35.874555`` or ISO with T and Z."""
    seconds = draw(_instants).replace(tzinfo=timezone.utc).timestamp()
    if draw(st.booleans()):
        return format_micro(seconds, sep=" ", zone="")
    return format_instant(float(int(seconds)))


@st.composite
def events(draw) -> dict:
    """One valid import event (a dict with the fields its type requires)."""
    event_type = draw(st.sampled_from(sorted(REQUIRED)))
    row = {"event_type": event_type, "source": draw(st.sampled_from(SOURCES)),
           "inserted_at": draw(_inserted_at())}
    for name in REQUIRED[event_type]:
        if name in row:
            continue
        if name == "metadata":
            row[name] = draw(_metadata)
        elif name == "hostname":
            row[name] = draw(st.sampled_from(("app.example.com", "www.example.org", "example.io")))
        elif name == "pathname":
            row[name] = "/" + draw(_ids)
        elif name == "event_name":
            row[name] = draw(_words)
        else:
            row[name] = draw(_ids)
    return row


def to_csv(rows: list[dict]) -> bytes:
    """CSV bytes with a header of :data:`COLUMNS`; ``metadata`` as JSON text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([json.dumps(row[c], separators=(",", ":")) if c == "metadata" and c in row
                         else row.get(c, "") for c in COLUMNS])
    return out.getvalue().encode("utf-8")


def to_ndjson(rows: list[dict]) -> bytes:
    """NDJSON bytes: one JSON object per line."""
    return "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows).encode("utf-8")


_rows = st.lists(events(), min_size=1, max_size=20)
#: Valid event files.
csv_files = _rows.map(to_csv)
ndjson_files = _rows.map(to_ndjson)

#: Uploads a server must refuse outright (kit spec: 400 / 415): (name, bytes, why).
INVALID_UPLOADS = (
    ("empty.csv", b"", "an empty file"),
    ("events.txt", b"event_type,user_id\nidentify_user,u1\n", "a file that is neither CSV nor NDJSON"),
    ("events.csv", b"event_type,user_id\n\xff\xfe\xfa,u1\n", "bytes that are not UTF-8"),
)


def part_name(filename: str, content_type: str) -> str:
    """The name a file part of our media types is sent with: the name with
    the media type's extension (``file`` -> ``file.csv``; the kit spec's
    example name ``events.csv`` -> ``events.ndjson`` for NDJSON content, so
    the name never contradicts the bytes); any other part keeps its name."""
    if content_type not in EXTENSIONS or not filename:
        return filename
    stem, dot, extension = filename.rpartition(".")
    if dot and "." + extension.lower() in (*EXTENSIONS.values(), ".jsonl"):
        filename = stem
    return filename + EXTENSIONS[content_type]


def register() -> None:
    """Register the CSV and NDJSON strategies and the part naming (idempotent)."""
    # deferred for start-up cost: the strategies and file writers above need Hypothesis, not Schemathesis
    import schemathesis

    from ._schemathesis import name_file_parts

    schemathesis.openapi.media_type(CSV, csv_files)
    schemathesis.openapi.media_type(NDJSON, ndjson_files, aliases=("application/jsonl",))
    name_file_parts(part_name)
