"""Export files, written as they are sent (no HTTP here).

Every writer takes event tuples (:mod:`mock_server.backend.activity`) and
yields the file's bytes in pieces of a few thousand events, so a file of a
million events never sits in memory. The columns are the export event
schema's (:data:`~mock_server.backend.activity.COLUMNS`):

- **CSV**: a header line, then one line per event; empty cells for absent
  values; ``metadata`` a JSON object in its cell.
- **NDJSON**: one JSON object per line, absent values ``null``, ``metadata``
  an object.
- **Parquet** (pyarrow, the ``formats`` extra): one row group per
  :data:`ROW_GROUP` events; ``inserted_at`` a ``timestamp[us, UTC]``, the
  screen sizes ``int32``, ``metadata`` JSON text, the rest strings.
- **Avro** (fastavro, the ``formats`` extra): an object container file, one
  block per :data:`BATCH` events; ``inserted_at`` a ``long`` of logical type
  ``timestamp-micros``, nullable strings and ints, ``metadata`` JSON text;
  the sync marker derived from the job, so the same export is the same file.

``inserted_at`` in text formats: ISO 8601 UTC with microseconds and ``Z``
(``2026-11-29T11:58:16.123456Z``; "microsecond precision", event-schema page).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections.abc import Iterable, Iterator
from typing import IO, cast

from ...backend.activity import COLUMNS, MICRO, T

#: Events per piece written (CSV, NDJSON, Avro blocks).
BATCH = 2_000
#: Events per Parquet row group.
ROW_GROUP = 10_000
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson",
                 "parquet": "application/vnd.apache.parquet", "avro": "application/avro"}

_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_INT_COLUMNS = ("screen_width", "screen_height")


class _Seconds:
    """``YYYY-MM-DDTHH:MM:SS`` of the last whole second formatted (events
    come in time order, so most share their second with the one before)."""

    def __init__(self):
        self.second = None
        self.text = ""

    def __call__(self, t_us: int) -> str:
        second, micro = divmod(t_us, MICRO)
        if second != self.second:
            self.second = second
            self.text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self.text}.{micro:06d}Z"


def csv_file(events: Iterable[tuple], app_token: str) -> Iterator[bytes]:
    """The CSV file of ``events``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    stamp = _Seconds()
    count = 0
    for event in events:
        row = list(event)
        row[T] = stamp(event[T])
        row[-1] = _json(event[-1])
        writer.writerow([app_token, *row])
        count += 1
        if count == BATCH:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
            count = 0
    yield buffer.getvalue().encode("utf-8")


def ndjson_file(events: Iterable[tuple], app_token: str) -> Iterator[bytes]:
    """The NDJSON file of ``events``."""
    stamp = _Seconds()
    lines = []
    names = COLUMNS
    for event in events:
        values = [app_token, *event]
        values[T + 1] = stamp(event[T])
        lines.append(_json(dict(zip(names, values, strict=False))))
        if len(lines) == BATCH:
            yield ("\n".join(lines) + "\n").encode("utf-8")
            lines = []
    if lines:
        yield ("\n".join(lines) + "\n").encode("utf-8")


class _Sink:
    """A write-only file the Parquet and Avro writers write to; what they
    wrote is taken out with :meth:`drain`."""

    def __init__(self):
        self.parts: list[bytes] = []
        self.position = 0
        self.closed = False

    def write(self, data) -> int:
        data = bytes(data)
        self.parts.append(data)
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readable(self) -> bool:
        return False

    def drain(self) -> bytes:
        data = b"".join(self.parts)
        self.parts = []
        return data


def _columns(batch: list[tuple], app_token: str) -> dict:
    out: dict[str, list] = {name: [] for name in COLUMNS}
    out["app_token"] = [app_token] * len(batch)
    for index, name in enumerate(COLUMNS[1:]):
        values = [event[index] for event in batch]
        out[name] = [_json(v) for v in values] if name == "metadata" else values
    return out


def parquet_file(events: Iterable[tuple], app_token: str) -> Iterator[bytes]:
    """The Parquet file of ``events`` (needs pyarrow)."""
    # deferred: pyarrow is an optional extra and costs ~0.3 s to import
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {name: pa.string() for name in COLUMNS}
    types.update({name: pa.int32() for name in _INT_COLUMNS})
    types["inserted_at"] = pa.timestamp("us", tz="UTC")
    schema = pa.schema([(name, types[name]) for name in COLUMNS])
    sink = _Sink()
    writer = pq.ParquetWriter(sink, schema, compression="snappy")
    batch: list[tuple] = []

    def write(rows):
        columns = _columns(rows, app_token)
        writer.write_table(pa.table({name: pa.array(columns[name], type=types[name]) for name in COLUMNS},
                                    schema=schema))

    for event in events:
        batch.append(event)
        if len(batch) == ROW_GROUP:
            write(batch)
            batch = []
            yield sink.drain()
    if batch:
        write(batch)
    writer.close()
    yield sink.drain()


def avro_schema() -> dict:
    """The Avro schema of an exported event."""
    fields = []
    for name in COLUMNS:
        kind: dict | list | str
        if name == "inserted_at":
            kind = {"type": "long", "logicalType": "timestamp-micros"}
        elif name in _INT_COLUMNS:
            kind = ["null", "int"]
        elif name in ("app_token", "event_type", "source"):
            kind = "string"
        else:
            kind = ["null", "string"]
        fields.append({"name": name, "type": kind})
    return {"type": "record", "name": "Event", "namespace": "io.userpilot.export", "fields": fields}


def avro_file(events: Iterable[tuple], app_token: str, marker_seed: str) -> Iterator[bytes]:
    """The Avro object container file of ``events`` (needs fastavro);
    ``marker_seed`` names the file's sync marker."""
    # deferred: fastavro is an optional extra
    from fastavro import parse_schema
    from fastavro.write import Writer

    sink = _Sink()
    marker = hashlib.sha256(marker_seed.encode("utf-8")).digest()[:16]
    writer = Writer(cast(IO[bytes], sink), parse_schema(avro_schema()), codec="null", sync_marker=marker,
                    sync_interval=1 << 30)
    names = COLUMNS
    count = 0
    for event in events:
        values = [app_token, *event]
        values[-1] = _json(event[-1])
        writer.write(dict(zip(names, values, strict=False)))
        count += 1
        if count == BATCH:
            writer.flush()
            count = 0
            yield sink.drain()
    writer.flush()
    yield sink.drain()


def write_file(fmt: str, events: Iterable[tuple], app_token: str, name: str) -> Iterator[bytes]:
    """The bytes of the ``fmt`` file of ``events`` (``name`` seeds what a
    format draws at random: Avro's sync marker)."""
    if fmt == "csv":
        return csv_file(events, app_token)
    if fmt == "ndjson":
        return ndjson_file(events, app_token)
    if fmt == "parquet":
        return parquet_file(events, app_token)
    if fmt == "avro":
        return avro_file(events, app_token, name)
    raise ValueError(f"unknown export format {fmt!r}")


__all__ = ["BATCH", "CONTENT_TYPES", "ROW_GROUP", "avro_file", "avro_schema", "csv_file", "ndjson_file",
           "parquet_file", "write_file"]
