"""The job status lifecycle, as pure functions of a timeline and an instant.

Assumed (docs/domain.md, "The job object"): queued -> validating -> processing ->
pending_refresh -> completed, with ``failed`` reachable from validating (a bad
file) or processing. The order and the meaning of the statuses are not
documented by the vendor; the throughput is: "up to 1,200 rows processed per
minute" (bulk identify, docs/domain.md, "Limits and timing").

A phase covers ``[its start, the next phase's start)``: at a boundary instant
the job is already in the next phase. All instants are whole UTC epoch
seconds (ints), so every answer is a function of the integer "now".
"""
from __future__ import annotations

import math
from itertools import pairwise

PHASES = ("queued", "validating", "processing", "pending_refresh")
TERMINAL = ("completed", "failed")
STATUSES = PHASES + TERMINAL
FAILABLE = ("validating", "processing")
#: The steps of the lifecycle, ``(from, to)``: each phase to the next, the
#: last one to completed, each failable phase to failed.
TRANSITIONS = (*pairwise(PHASES), (PHASES[-1], "completed"), *((p, "failed") for p in FAILABLE))
#: How a job can end: completed, or failed at one of the failable phases
#: (:meth:`Timeline.outcome_label`).
OUTCOMES = ("completed", *(f"failed at {p}" for p in FAILABLE))

#: Vendor-documented processing throughput, rows per minute: the default of
#: a profile's ``jobs.rows_per_minute`` (:mod:`.profile`).
ROWS_PER_MINUTE = 1200


def processing_seconds(total_rows: int, rows_per_minute: float = ROWS_PER_MINUTE) -> int:
    """Whole seconds to process ``total_rows`` at ``rows_per_minute`` (at least 1)."""
    return max(1, math.ceil(total_rows * 60 / rows_per_minute))


class Timeline:
    """When each phase of one job starts and when the job ends.

    ``starts``: tuple of ints, the instant each phase of :data:`PHASES` starts,
    for the phases the job reaches (4 for a completed job; 2 or 3 for one that
    fails at validating or processing). ``end``: the instant the job becomes
    terminal (``outcome``, "completed" or "failed"). ``total_rows``: rows the
    processing phase works through. ``rows_per_minute``: the rate a job that
    fails while processing had reached (a completed job's rate is its rows
    over its processing phase).
    """

    __slots__ = ("starts", "end", "outcome", "total_rows", "rows_per_minute")

    def __init__(self, starts: tuple[int, ...], end: int, outcome: str, total_rows: int,
                 rows_per_minute: float = ROWS_PER_MINUTE):
        self.starts = starts
        self.end = end
        self.outcome = outcome
        self.total_rows = total_rows
        self.rows_per_minute = rows_per_minute

    @classmethod
    def build(cls, start: int, durations: dict[str, int], outcome: str, fail_at: str | None,
              total_rows: int, rows_per_minute: float = ROWS_PER_MINUTE) -> Timeline:
        """Lay phases end to end from ``start`` (UTC epoch seconds) with
        ``durations`` (phase -> whole seconds >= 0). A failed job stops at the
        end of its ``fail_at`` phase; a completed one after pending_refresh.
        ``rows_per_minute``: the rate the durations were made with."""
        last = PHASES.index(fail_at) if outcome == "failed" else len(PHASES) - 1
        starts = []
        t = start
        for phase in PHASES[: last + 1]:
            starts.append(t)
            t += durations[phase]
        return cls(tuple(starts), t, outcome, total_rows, rows_per_minute)

    @property
    def start(self) -> int:
        return self.starts[0]

    def status(self, t: int) -> str:
        """Status at instant ``t``."""
        if t >= self.end:
            return self.outcome
        starts = self.starts
        i = len(starts) - 1
        while i > 0 and starts[i] > t:
            i -= 1
        return PHASES[i]

    def is_terminal(self, t: int) -> bool:
        return t >= self.end

    def end_time(self, t: int) -> int | None:
        """The terminal instant once reached, else None."""
        return self.end if t >= self.end else None

    def elapsed(self, t: int) -> int:
        """Whole seconds from start to end, or to ``t`` while running."""
        return max(0, min(t, self.end) - self.starts[0])

    def completed_rows(self, t: int) -> int:
        """Rows done at ``t``: 0 until processing, linear through it, all of
        them from pending_refresh on; a job that fails while processing keeps
        the count it had (always fewer than ``total_rows``)."""
        starts = self.starts
        if len(starts) < 3 or t < starts[2]:
            return 0
        total = self.total_rows
        p_start = starts[2]
        if self.outcome == "completed":
            p_end = starts[3]
            if t >= p_end:
                return total
            return total * (t - p_start) // (p_end - p_start)
        # failed while processing: the timeline's throughput, never all rows
        done = int((min(t, self.end) - p_start) * self.rows_per_minute // 60)
        return max(0, min(done, total - 1))

    def outcome_label(self) -> str:
        """How the job ends, one of :data:`OUTCOMES`: ``"completed"``, or
        ``"failed at <phase>"`` (the last phase it reaches)."""
        if self.outcome == "completed":
            return "completed"
        return f"failed at {PHASES[len(self.starts) - 1]}"

    def phase_starts(self) -> dict[str, int]:
        """Phase (and terminal status) -> the instant it starts."""
        out = dict(zip(PHASES, self.starts, strict=False))  # the phases it reaches
        out[self.outcome] = self.end
        return out
