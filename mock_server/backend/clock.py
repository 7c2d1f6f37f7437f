"""The fake's clock: real time by default, faster with ``speed``, or frozen.

Times are UTC seconds since the epoch (floats). The clock never moves
backwards and its speed is always positive; asking for either raises
:class:`~mock_server.backend.errors.BadRequest`.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

from .errors import BadRequest

#: The latest instant the clock may show (9000-01-01T00:00:00Z). ISO 8601
#: with a four-digit year ends at 9999; the margin leaves room for every job
#: timeline (at most ten years back and ~60 days of phases) to stay within it.
MAX_INSTANT = 221845392000.0
MIN_INSTANT = 0.0
#: The fastest clock: a million times real time (11.5 days a second).
MAX_SPEED = 1_000_000.0
#: The fields of a clock change (``POST /__admin/clock``).
CLOCK_FIELDS = frozenset({"now", "advance_seconds", "frozen", "speed"})


def parse_instant(value) -> float:
    """Parse an ISO 8601 date-time (``Z``, an offset, or none meaning UTC) or
    epoch seconds into UTC epoch seconds.

    Raises BadRequest for anything else (including booleans and NaN).
    """
    if isinstance(value, bool):
        raise BadRequest(f"not a date-time: {value!r}")
    if isinstance(value, (int, float)):
        if not MIN_INSTANT <= value <= MAX_INSTANT:  # NaN fails too
            raise BadRequest(f"not a date-time between 1970 and 9000: {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise BadRequest(f"not a date-time: {value!r}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"not an ISO 8601 date-time: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        seconds = parsed.timestamp()
    except (OverflowError, ValueError, OSError):
        seconds = -1.0
    if not MIN_INSTANT <= seconds <= MAX_INSTANT:
        raise BadRequest(f"date-time out of range (1970 to 9000): {value!r}")
    return seconds


def format_instant(seconds: float) -> str:
    """UTC ISO 8601 with ``Z``: whole seconds when ``seconds`` is whole,
    milliseconds otherwise (e.g. ``2026-11-29T17:00:00Z``)."""
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    if seconds == int(seconds):
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_speed(speed) -> float:
    """Validate a clock speed: a number > 0 and <= :data:`MAX_SPEED`.
    Raises BadRequest."""
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not (0 < speed <= MAX_SPEED):
        raise BadRequest(f"speed must be a number greater than 0 and at most {MAX_SPEED:g}, got {speed!r}")
    return float(speed)


class Clock:
    """A virtual clock anchored on the real one.

    ``now() = anchor_virtual + (real_now - anchor_real) * speed`` while running;
    ``anchor_virtual`` while frozen; held at :data:`MAX_INSTANT` once it
    gets there. ``real`` is the source of real time
    (default ``time.time``, injectable for tests). Thread-safe.
    """

    def __init__(self, *, now: float | None = None, speed: float = 1.0, frozen: bool = False,
                 real=time.time):
        self._real = real
        self._lock = threading.Lock()
        self._speed = check_speed(speed)
        self._frozen = bool(frozen)
        self._anchor_real = real()
        self._anchor_virtual = float(now) if now is not None else self._anchor_real
        self._last = self._anchor_virtual

    # -- reading -----------------------------------------------------------
    def now(self) -> float:
        """Current virtual time, UTC epoch seconds (never less than any
        earlier reading)."""
        if self._frozen:
            return self._anchor_virtual
        value = min(self._anchor_virtual + (self._real() - self._anchor_real) * self._speed, MAX_INSTANT)
        if value < self._last:  # the real clock stepped back: hold still
            return self._last
        self._last = value
        return value

    @property
    def frozen(self) -> bool:
        return self._frozen

    @property
    def speed(self) -> float:
        return self._speed

    def state(self) -> dict:
        """``{"now": ISO 8601 Z, "frozen": bool, "speed": float}``."""
        return {"now": format_instant(self.now()), "frozen": self._frozen, "speed": self._speed}

    # -- changing ----------------------------------------------------------
    def _rebase(self, virtual: float) -> None:
        self._anchor_real = self._real()
        self._anchor_virtual = virtual
        self._last = virtual

    def set(self, *, now=None, advance_seconds=None, frozen=None, speed=None) -> None:
        """Apply a control change atomically: validate everything first, then
        move to ``now`` (an instant, not before the current one), then
        ``advance_seconds`` (>= 0), then set ``frozen`` and ``speed`` (> 0).

        Raises BadRequest (and changes nothing) for a backwards move, a
        negative advance or a non-positive speed.
        """
        target = parse_instant(now) if now is not None else None
        if advance_seconds is not None:
            if isinstance(advance_seconds, bool) or not isinstance(advance_seconds, (int, float)) \
                    or not (0 <= advance_seconds < float("inf")):
                raise BadRequest(f"advance_seconds must be a number >= 0, got {advance_seconds!r}",
                                 "the clock never moves backwards")
        if speed is not None:
            speed = check_speed(speed)
        if frozen is not None and not isinstance(frozen, bool):
            raise BadRequest(f"frozen must be true or false, got {frozen!r}")
        with self._lock:
            current = self.now()
            if target is not None and target < current:
                raise BadRequest(f"the clock cannot move backwards (now {format_instant(current)}, "
                                 f"asked for {format_instant(target)})",
                                 "use POST /__admin/reset to start over at an earlier instant")
            virtual = target if target is not None else current
            if advance_seconds:
                virtual += float(advance_seconds)
            if virtual > MAX_INSTANT:
                raise BadRequest("the clock cannot go past 9000-01-01T00:00:00Z",
                                 f"now {format_instant(current)}")
            self._rebase(virtual)
            if frozen is not None:
                self._frozen = frozen
            if speed is not None:
                self._speed = speed

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds`` (>= 0) of virtual time."""
        self.set(advance_seconds=seconds)
