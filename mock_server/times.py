"""Time, in one place: ISO 8601 and HTTP-date parsing and formatting, UTC
epoch seconds.

Every instant the kit handles is a float of UTC seconds since the epoch;
every instant it reads or writes as text goes through this module. Standard
library only (the pytest plugin's handle imports it).

The grammar read here (:data:`ISO_8601`) is the one the vendor's own examples
need (``2024-07-28 08:55:35.874555`` on the import pages, ``2024-06-01T12:00:00Z``
on the export pages; docs/domain.md): a date, ``T``/``t`` or a space, ``HH:MM``
with optional ``:SS`` and a fraction of 1 to 9 digits (``.`` or ``,``), then
``Z``, an offset (``+HH:MM``, ``+HHMM``, ``+HH``) or nothing, which means UTC.
A leap second (``23:59:60``) is read as ``23:59:59``: UTC epoch seconds have
no room for it (RFC 3339 section 5.6 allows the form). Dates and times out of
range (month 13, ``25:00``, February 30th) are not instants.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from .backend.errors import BadRequest

#: The latest instant the fake's clock may show (9000-01-01T00:00:00Z): ISO 8601
#: with a four-digit year ends at 9999; the margin leaves room for every job
#: timeline (at most ten years back and ~60 days of phases) to stay within it.
MAX_INSTANT = 221845392000.0
#: The earliest (1970-01-01T00:00:00Z): instants are epoch seconds >= 0.
MIN_INSTANT = 0.0

#: The date-times read by :func:`parse_iso8601` (see the module docstring).
ISO_8601 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?")

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse_datetime(text: str) -> datetime | None:
    """The aware UTC ``datetime`` of an ISO 8601 text (the module's grammar,
    surrounding white space allowed), None when it is not one. Microseconds
    are kept (a longer fraction is cut, not rounded)."""
    match = ISO_8601.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, _z, sign, off_h, off_m = match.groups()
    seconds = int(second or 0)
    if seconds == 60:  # a leap second: the last second of its minute
        seconds = 59
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), seconds, micro,
                          tzinfo=timezone.utc)
    except ValueError:
        return None
    if sign:
        hours, minutes = int(off_h), int(off_m or 0)
        if hours > 23 or minutes > 59:
            return None
        offset = timedelta(hours=hours, minutes=minutes)
        try:
            moment -= offset if sign == "+" else -offset
        except OverflowError:
            return None
    return moment


def parse_iso8601(text: str) -> float | None:
    """UTC epoch seconds of an ISO 8601 text (see :func:`parse_datetime`),
    None when it is not one. May be negative (before 1970)."""
    moment = parse_datetime(text)
    return None if moment is None else (moment - _EPOCH).total_seconds()


def parse_instant(value, what: str = "date-time") -> float:
    """An instant given to the fake (control API, settings): an ISO 8601
    text or epoch seconds (a number), as UTC epoch seconds from
    :data:`MIN_INSTANT` (1970) to :data:`MAX_INSTANT` (9000).

    Raises BadRequest, naming ``what``, for anything else (booleans and NaN
    included)."""
    if isinstance(value, bool):
        raise BadRequest(f"not a {what}: {value!r}")
    if isinstance(value, (int, float)):
        if not MIN_INSTANT <= value <= MAX_INSTANT:  # NaN fails too
            raise BadRequest(f"not a {what} between 1970 and 9000: {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise BadRequest(f"not a {what}: {value!r}")
    seconds = parse_iso8601(value)
    if seconds is None:
        raise BadRequest(f"not an ISO 8601 {what}: {value!r}")
    if not MIN_INSTANT <= seconds <= MAX_INSTANT:
        raise BadRequest(f"{what} out of range (1970 to 9000): {value!r}")
    return seconds


def to_datetime(seconds: float) -> datetime:
    """The aware UTC ``datetime`` of epoch ``seconds``."""
    return _EPOCH + timedelta(seconds=seconds)


def format_instant(seconds: float) -> str:
    """UTC ISO 8601 with ``Z``: whole seconds when ``seconds`` is whole,
    milliseconds otherwise (``2026-11-29T17:00:00Z``, ``...17:00:00.250Z``).
    The form of every time the fake's answers carry."""
    moment = to_datetime(seconds)
    if seconds == int(seconds):
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def format_time(seconds: float, fraction_digits: int = 0, zone: str = "Z") -> str:
    """UTC ISO 8601 with ``fraction_digits`` digits of fractional seconds
    (0: :func:`format_instant`'s form) and ``zone`` (``Z`` or ``+00:00``):
    the time form a profile chooses (``2026-11-29T17:00:00.000000Z``)."""
    if fraction_digits == 0 and zone == "Z":
        return format_instant(seconds)
    moment = to_datetime(seconds)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if fraction_digits:
        micro = f"{moment.microsecond:06d}"
        text += "." + (micro + "0" * 3)[:fraction_digits]
    return text + zone


def format_ms(seconds: float) -> str:
    """UTC ISO 8601 with milliseconds always (``2026-11-29T17:00:00.000Z``):
    wall-clock stamps such as the journal's ``received_at``."""
    return to_datetime(seconds).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def format_micro(seconds: float, sep: str = "T", zone: str = "Z") -> str:
    """UTC ISO 8601 with microseconds (``2024-07-28T08:55:35.874555Z``): event
    times (``inserted_at``, "microsecond precision" in the export event
    schema, docs/domain.md). ``sep`` and ``zone`` choose the vendor's import
    style (``" "``, ``""``: ``2024-07-28 08:55:35.874555``)."""
    return to_datetime(seconds).strftime(f"%Y-%m-%d{sep}%H:%M:%S.%f") + zone


def format_day(seconds: float) -> str:
    """The UTC date of epoch ``seconds``: ``2026-11-29``."""
    return to_datetime(seconds).strftime("%Y-%m-%d")


#: An IMF-fixdate (RFC 9110 section 5.6.7), the HTTP-date form a sender writes:
#: ``Sun, 06 Nov 1994 08:49:37 GMT``.
IMF_FIXDATE = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                         r"(\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def parse_http_date(text: str) -> float | None:
    """UTC epoch seconds of an IMF-fixdate (:data:`IMF_FIXDATE`), None when
    ``text`` is not one, names an impossible date or the wrong weekday."""
    match = IMF_FIXDATE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        return None
    day, date, month, year, hour, minute, second = match.groups()
    try:
        moment = datetime(int(year), _MONTHS.index(month) + 1, int(date), int(hour), int(minute),
                          min(int(second), 59), tzinfo=timezone.utc)
    except ValueError:
        return None
    if _DAYS[moment.weekday()] != day:
        return None
    return (moment - _EPOCH).total_seconds()


def format_http_date(seconds: float) -> str:
    """The IMF-fixdate of epoch ``seconds`` (whole seconds): ``Sun, 06 Nov 1994 08:49:37 GMT``."""
    moment = to_datetime(int(seconds))
    return (f"{_DAYS[moment.weekday()]}, {moment.day:02d} {_MONTHS[moment.month - 1]} {moment.year:04d} "
            f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} GMT")


def http_date_of(value) -> str:
    """An instant given by a caller of the Python API as an HTTP-date: an
    IMF-fixdate text passes as is, an aware ``datetime`` or epoch seconds
    are formatted. Raises TypeError for a naive ``datetime`` or another
    type, ValueError for text that is not an IMF-fixdate."""
    if isinstance(value, str):
        if parse_http_date(value) is None:
            raise ValueError(f"not an HTTP-date (IMF-fixdate, e.g. 'Sun, 06 Nov 1994 08:49:37 GMT'): {value!r}")
        return value
    text = iso_of(value)
    seconds = parse_iso8601(text) if text is not None else None
    if seconds is None:
        raise TypeError(f"an HTTP-date must be text, an aware datetime or epoch seconds, got {value!r}")
    return format_http_date(seconds)


def iso_of(value) -> str | None:
    """An instant given by a caller of the Python API as ISO 8601 text: a
    text passes as is, epoch seconds (a number) and aware ``datetime`` values
    are formatted, None stays None.

    Raises TypeError for a naive ``datetime`` (which zone it means cannot be
    known: ``datetime.now()`` is local time) and for other types."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise TypeError(f"a naive datetime ({value.isoformat()}) names no instant: pass an aware one, "
                            "e.g. datetime.now(timezone.utc) or datetime(2026, 1, 1, tzinfo=timezone.utc)")
        return format_micro((value - _EPOCH).total_seconds())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_micro(float(value))
    raise TypeError(f"an instant must be ISO 8601 text, an aware datetime or epoch seconds, got {value!r}")


__all__ = ["IMF_FIXDATE", "ISO_8601", "MAX_INSTANT", "MIN_INSTANT", "format_day", "format_http_date",
           "format_instant", "format_micro", "format_ms", "format_time", "http_date_of", "iso_of", "parse_datetime",
           "parse_http_date", "parse_instant", "parse_iso8601", "to_datetime"]
