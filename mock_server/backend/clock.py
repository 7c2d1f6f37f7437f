"""The fake's clock: real time by default, faster with ``speed``, or frozen.

Times are UTC seconds since the epoch (floats). The clock never moves
backwards and its speed is always positive; asking for either raises
:class:`~mock_server.backend.errors.BadRequest`. Its state is a small
snapshot (:meth:`Clock.snapshot`) that a store keeps, so that a restarted
fake resumes the clock where it was, plus the real time that passed.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .. import schemas
from ..times import MAX_INSTANT, format_instant, parse_instant
from .errors import BadRequest

#: The fastest clock: a million times real time (11.5 days a second): admin.yaml's ``Speed``.
MAX_SPEED = float(schemas.limit("Speed", "maximum"))


def check_speed(speed) -> float:
    """Validate a clock speed: a number > 0 and <= :data:`MAX_SPEED`.
    Raises BadRequest."""
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not (0 < speed <= MAX_SPEED):
        raise BadRequest(f"speed must be a number greater than 0 and at most {MAX_SPEED:g}, got {speed!r}")
    return float(speed)


class Clock:
    """A virtual clock anchored on the real one.

    ``now() = anchor_virtual + (real_now - anchor_real) * speed`` while running;
    ``anchor_virtual`` while frozen; held at ``MAX_INSTANT`` (9000-01-01) once
    it gets there. ``real`` is the source of real time (default ``time.time``,
    UTC epoch seconds; injectable for tests). ``on_change(snapshot)`` is
    called after every change (a store saving it). Thread-safe.
    """

    def __init__(self, *, now: float | None = None, speed: float = 1.0, frozen: bool = False,
                 real: Callable[[], float] = time.time, on_change: Callable[[dict], None] | None = None):
        self._real = real
        self._lock = threading.Lock()
        self._speed = check_speed(speed)
        self._frozen = bool(frozen)
        self._anchor_real = real()
        self._anchor_virtual = float(now) if now is not None else self._anchor_real
        self._last = self._anchor_virtual
        self.on_change = on_change

    @classmethod
    def restore(cls, snapshot: dict, *, real: Callable[[], float] = time.time,
                on_change: Callable[[dict], None] | None = None) -> Clock:
        """The clock a :meth:`snapshot` describes: a running clock goes on
        from its anchors, so the real time since the snapshot has passed on
        it too (times its speed). Raises KeyError / TypeError / BadRequest for
        a snapshot of another shape."""
        clock = cls(speed=snapshot["speed"], frozen=snapshot["frozen"], real=real, on_change=on_change)
        clock._anchor_real = float(snapshot["anchor_real"])
        clock._anchor_virtual = clock._last = float(snapshot["anchor_virtual"])
        return clock

    def snapshot(self) -> dict:
        """``{"anchor_real", "anchor_virtual", "speed", "frozen"}``: all a
        store needs to resume the clock (epoch seconds, a factor, a flag)."""
        return {"anchor_real": self._anchor_real, "anchor_virtual": self._anchor_virtual,
                "speed": self._speed, "frozen": self._frozen}

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
        if advance_seconds is not None and (isinstance(advance_seconds, bool)
                                            or not isinstance(advance_seconds, (int, float))
                                            or not (0 <= advance_seconds < float("inf"))):
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
            snapshot = self.snapshot()
        if self.on_change is not None:
            self.on_change(snapshot)

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds`` (>= 0) of virtual time."""
        self.set(advance_seconds=seconds)


__all__ = ["MAX_SPEED", "Clock", "check_speed"]
