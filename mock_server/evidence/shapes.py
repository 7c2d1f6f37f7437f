"""The shape of answers, and the differences between two shapes.

A :class:`Shape` summarises the answers of many exchanges, per operation:
the status codes; for each status, every field of the JSON body (list
items as ``[]``, and a job's fields apart for running and settled jobs, so
that a running job is only ever compared with a running job) with the JSON
types and string formats it took and how often it was there; every header's
name, whether its value was fixed (and what it was) or its form
(``x-request-id``'s length); and the values of the enumerations
(``status``, ``type``). Values that always vary (ids, times, counters,
request ids, dates) are never compared as values: only their types and
formats are.

:func:`differences` lists what differs between two shapes, each a
:class:`Difference`. ``userpilot-mock diff`` compares a cassette's shape
with the fake's answers to the same requests; the contract kit's drift
compares a run's shape with a saved baseline.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..backend.lifecycle import STATUSES, TERMINAL
from ..ids import is_app_token, is_job_id
from .har import Exchange
from .observe import operation_name

#: Headers whose presence depends on the connection or the WSGI server (``date``: any HTTP
#: server adds it; an in-process fake has none), never compared.
TRANSPORT_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "via", "content-encoding",
                               "vary", "content-length", "date"})
#: Headers whose value differs from answer to answer by nature: their form is compared, not their value.
VARYING_VALUES = frozenset({"date", "x-request-id", "retry-after", "etag", "last-modified", "age", "expires"})
#: Fields whose values are enumerations: a value seen on one side only is a difference of drift.
ENUM_FIELDS = ("status", "type")
#: How many distinct values of a header are kept in a shape.
MAX_VALUES = 5

_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(?:[.,](\d+))?)?(Z|[+-]\d{2}:?\d{2})?$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")


def json_type(value) -> str:
    """``null``, ``boolean``, ``integer``, ``number``, ``string``, ``array`` or ``object``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def string_format(text: str) -> str:
    """The form of a string: ``date-time (whole seconds, Z)`` /
    ``date-time (6 fraction digits, +00:00)``, ``uri``, ``job id
    (bulk:jobs:<app token>:<uuid4>)``, ``uuid``, ``app token``, ``empty``
    or ``text``."""
    if not text:
        return "empty"
    match = _DATE_TIME.match(text)
    if match:
        digits = len(match.group(2) or "")
        zone = match.group(3) or "no zone"
        sep = "" if "T" in text else ", space separator"
        seconds = "whole seconds" if not match.group(1) or not digits else f"{digits} fraction digits"
        return f"date-time ({seconds}, {zone}{sep})"
    if text.startswith(("http://", "https://")):
        return "uri"
    if is_job_id(text):
        return "job id (bulk:jobs:<app token>:<uuid4>)"
    if _UUID.match(text):
        return "uuid"
    if is_app_token(text):
        return "app token"
    return "text"


def header_form(name: str, value: str) -> str:
    """The form of a header value that varies by nature (see :data:`VARYING_VALUES`)."""
    if name == "x-request-id":
        alphabet = "url-safe base64" if _TOKEN.match(value) else "other characters"
        return f"{len(value)} characters, {alphabet}"
    if name == "date":
        return "HTTP-date" if re.match(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$", value) \
            else "other"
    if name == "retry-after":
        return "seconds" if value.isdigit() else "HTTP-date"
    return "text"


@dataclass
class FieldShape:
    """One field at one place: ``types`` and ``formats`` seen, ``seen`` (how
    many of the ``of`` objects at that place had it)."""

    types: set[str] = field(default_factory=set)
    formats: set[str] = field(default_factory=set)
    seen: int = 0
    of: int = 0

    @property
    def always(self) -> bool:
        return self.seen == self.of


@dataclass
class HeaderShape:
    """One header: ``values`` (up to :data:`MAX_VALUES` distinct ones, for
    headers of fixed value), ``forms`` (for headers that vary by nature),
    ``distinct``, ``seen`` of ``of`` answers."""

    values: set[str] = field(default_factory=set)
    forms: set[str] = field(default_factory=set)
    distinct: int = 0
    seen: int = 0
    of: int = 0


@dataclass
class OperationShape:
    """The answers of one operation: ``statuses`` (code -> answers),
    ``bodies`` (code -> place -> :class:`FieldShape`), ``headers`` (lower
    case name -> :class:`HeaderShape`, over its answers)."""

    statuses: dict[int, int] = field(default_factory=dict)
    bodies: dict[int, dict[str, FieldShape]] = field(default_factory=dict)
    headers: dict[str, HeaderShape] = field(default_factory=dict)
    answers: int = 0
    #: code -> place of objects -> how many objects were there
    objects: dict[int, dict[str, int]] = field(default_factory=dict)


def _group(obj: dict) -> str:
    status = obj.get("status")
    if status in STATUSES:
        return "{settled}" if status in TERMINAL else "{running}"
    return ""


@dataclass
class Shape:
    """The shape of many answers (see the module docstring): ``operations``
    (operation -> :class:`OperationShape`), ``enums`` (field -> values seen)."""

    operations: dict[str, OperationShape] = field(default_factory=dict)
    enums: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, exchanges: Iterable[Exchange]) -> Shape:
        shape = cls()
        for exchange in exchanges:
            shape.add(exchange)
        return shape

    def add(self, exchange: Exchange, operation: str | None = None) -> None:
        """Add one exchange's answer (``operation``: its name, default the
        kit spec's operationId of it, else ``METHOD path``)."""
        name = operation or operation_name(exchange) or f"{exchange.method} {exchange.decoded_path}"
        op = self.operations.setdefault(name, OperationShape())
        op.answers += 1
        op.statuses[exchange.status] = op.statuses.get(exchange.status, 0) + 1
        names = set()
        for raw, value in exchange.response_headers:
            lower = raw.lower()
            if lower in TRANSPORT_HEADERS or lower in names:
                continue
            names.add(lower)
            header = op.headers.setdefault(lower, HeaderShape())
            header.seen += 1
            if lower in VARYING_VALUES:
                header.forms.add(header_form(lower, value))
            elif value not in header.values:
                header.distinct += 1
                if len(header.values) < MAX_VALUES:
                    header.values.add(value)
        for header in op.headers.values():
            header.of = op.answers
        body = exchange.json()
        if body is not None:
            places = op.bodies.setdefault(exchange.status, {})
            objects = op.objects.setdefault(exchange.status, {})
            self._walk(places, objects, body, "")
            for place, shape in places.items():
                shape.of = objects.get(place.rsplit(".", 1)[0], shape.of)

    def _walk(self, places: dict[str, FieldShape], objects: dict[str, int], value, where: str) -> None:
        if isinstance(value, list):
            for item in value:
                self._walk(places, objects, item, where + "[]")
            return
        if not isinstance(value, dict):
            return
        base = where + _group(value)
        objects[base] = objects.get(base, 0) + 1
        for key, item in value.items():
            place = f"{base}.{key}"
            shape = places.get(place)
            if shape is None:
                shape = places[place] = FieldShape()
            shape.seen += 1
            shape.types.add(json_type(item))
            if isinstance(item, str):
                shape.formats.add(string_format(item))
            if key in ENUM_FIELDS and isinstance(item, str) and len(item) <= 64:
                self.enums.setdefault(key, set()).add(item)
            if isinstance(item, (dict, list)):
                self._walk(places, objects, item, place)

    # --------------------------------------------------------- documents
    def document(self) -> dict:
        """The shape as JSON-able data (a baseline's ``shape``)."""
        return {
            "operations": {name: {
                "answers": op.answers,
                "statuses": {str(k): v for k, v in sorted(op.statuses.items())},
                "bodies": {str(code): {place: {"types": sorted(f.types), "formats": sorted(f.formats),
                                               "seen": f.seen, "of": f.of}
                                       for place, f in sorted(places.items())}
                           for code, places in sorted(op.bodies.items())},
                "headers": {name: {"values": sorted(h.values), "forms": sorted(h.forms), "distinct": h.distinct,
                                   "seen": h.seen, "of": h.of} for name, h in sorted(op.headers.items())},
            } for name, op in sorted(self.operations.items())},
            "enums": {name: sorted(values) for name, values in sorted(self.enums.items())},
        }

    @classmethod
    def from_document(cls, document: dict) -> Shape:
        """The shape a :meth:`document` describes. Raises KeyError/TypeError/ValueError for another shape."""
        shape = cls()
        for name, op in document["operations"].items():
            target = shape.operations[name] = OperationShape(answers=int(op["answers"]))
            target.statuses = {int(k): int(v) for k, v in op["statuses"].items()}
            target.bodies = {int(code): {place: FieldShape(set(f["types"]), set(f["formats"]), int(f["seen"]),
                                                           int(f["of"]))
                                         for place, f in places.items()}
                             for code, places in op["bodies"].items()}
            target.headers = {name: HeaderShape(set(h["values"]), set(h["forms"]), int(h["distinct"]),
                                                int(h["seen"]), int(h["of"])) for name, h in op["headers"].items()}
        shape.enums = {name: set(values) for name, values in document.get("enums", {}).items()}
        return shape


@dataclass(frozen=True)
class Difference:
    """One way two shapes differ: ``operation``, ``kind`` (``status code``,
    ``field``, ``type``, ``format``, ``presence``, ``header``, ``header
    value``, ``header form``, ``value``), ``where`` (the place: ``200
    [].end_time``, a header name, a field name), ``expected`` (the
    reference's: the recording's or the baseline's) and ``seen`` (the
    other's)."""

    operation: str
    kind: str
    where: str
    expected: str
    seen: str

    def __str__(self) -> str:
        return f"{self.operation}: {self.kind} {self.where}: expected {self.expected}; seen {self.seen}"


def _set(values: Iterable[str]) -> str:
    values = sorted(values)
    return " | ".join(values) if values else "none"


def _presence(f: FieldShape) -> str:
    return "always" if f.always else f"in {f.seen} of {f.of}"


def differences(reference: Shape, other: Shape, *, enums: bool = False) -> list[Difference]:
    """What ``other`` does differently from ``reference``, for every
    operation both have answers to: status codes either side only has
    (when both answered the same requests), and for each status both have:
    fields either side only has, their types, formats and whether they are
    always there; headers either side only has, fixed values and forms.
    ``enums``: also values of :data:`ENUM_FIELDS` ``other`` shows and
    ``reference`` never did (drift). A job's fields are compared between
    running jobs and between settled jobs only."""
    out: list[Difference] = []
    for name, ref in sorted(reference.operations.items()):
        op = other.operations.get(name)
        if op is None:
            continue
        for code in sorted(set(ref.statuses) ^ set(op.statuses)):
            if code in ref.statuses:
                out.append(Difference(name, "status code", str(code), f"{code} ({ref.statuses[code]} answers)",
                                      f"never {code} (answered {_set(map(str, op.statuses))})"))
            else:
                out.append(Difference(name, "status code", str(code), f"never {code} (answered "
                                      f"{_set(map(str, ref.statuses))})", f"{code} ({op.statuses[code]} answers)"))
        for code in sorted(set(ref.bodies) & set(op.bodies)):
            a, b = ref.bodies[code], op.bodies[code]
            bases_a = {p.rsplit(".", 1)[0] for p in a}
            bases_b = {p.rsplit(".", 1)[0] for p in b}
            for place in sorted(set(a) | set(b)):
                base = place.rsplit(".", 1)[0]
                if base not in bases_a or base not in bases_b:
                    continue  # objects of that kind (a running job, say) only on one side: nothing to compare
                where = f"{code} {place}"
                fa, fb = a.get(place), b.get(place)
                if fa is None and fb is not None:
                    out.append(Difference(name, "field", where, "absent", f"present ({_presence(fb)})"))
                elif fb is None and fa is not None:
                    out.append(Difference(name, "field", where, f"present ({_presence(fa)})", "absent"))
                elif fa is not None and fb is not None:
                    if fa.types != fb.types:
                        out.append(Difference(name, "type", where, _set(fa.types), _set(fb.types)))
                    if fa.formats != fb.formats:
                        out.append(Difference(name, "format", where, _set(fa.formats), _set(fb.formats)))
                    if fa.always != fb.always:
                        out.append(Difference(name, "presence", where, _presence(fa), _presence(fb)))
        for header in sorted(set(ref.headers) | set(op.headers)):
            ha, hb = ref.headers.get(header), op.headers.get(header)
            if ha is None or hb is None:
                present = ha or hb
                assert present is not None
                if present.seen < present.of:
                    continue  # a header only some answers carry (Retry-After, Allow): not a shape
                out.append(Difference(name, "header", header, "absent" if ha is None else "present",
                                      "present" if ha is None else "absent"))
                continue
            if header in VARYING_VALUES:
                if ha.forms != hb.forms:
                    out.append(Difference(name, "header form", header, _set(ha.forms), _set(hb.forms)))
            elif ha.distinct == 1 and hb.distinct == 1 and ha.values != hb.values:
                out.append(Difference(name, "header value", header, _set(ha.values), _set(hb.values)))
            elif (ha.distinct == 1) != (hb.distinct == 1) and min(ha.seen, hb.seen) > 1:
                out.append(Difference(name, "header value", header,
                                      "fixed " + _set(ha.values) if ha.distinct == 1 else f"{ha.distinct} values",
                                      "fixed " + _set(hb.values) if hb.distinct == 1 else f"{hb.distinct} values"))
    if enums:
        for field_name, values in sorted(other.enums.items()):
            new = values - reference.enums.get(field_name, set())
            known = reference.enums.get(field_name)
            if known and new:
                out.append(Difference("*", "value", field_name, _set(known), "new: " + _set(new)))
    return out


#: At most this many operations are named in a folded difference (the rest counted).
NAMED_OPERATIONS = 4


def folded(found: list[Difference]) -> list[Difference]:
    """``found`` with the differences that are the same on several
    operations (a header every answer carries, say) as one, whose
    ``operation`` names them (``listJobs, getJob``; beyond
    :data:`NAMED_OPERATIONS`: ``24 operations: listJobs, getJob, ...``),
    in the order first found."""
    groups: dict[tuple[str, str, str, str], list[str]] = {}
    for d in found:
        groups.setdefault((d.kind, d.where, d.expected, d.seen), []).append(d.operation)
    out = []
    for (kind, where, expected, seen), names in groups.items():
        names = list(dict.fromkeys(names))
        if len(names) > NAMED_OPERATIONS:
            label = f"{len(names)} operations: {', '.join(names[:NAMED_OPERATIONS])}, ..."
        else:
            label = ", ".join(names)
        out.append(Difference(label, kind, where, expected, seen))
    return out


__all__ = ["Difference", "ENUM_FIELDS", "FieldShape", "HeaderShape", "OperationShape", "Shape", "differences",
           "folded", "header_form", "json_type", "string_format"]
