"""What clients got from the fake, kept for a coverage report of their tests (no HTTP here).

The API pipeline's last stage tells a :class:`CoverageRecorder` about every
answer: its operation, its status, whether something injected it, and the
jobs it showed at which instant. The recorder keeps counters only (the
report, its universe and its wording are :mod:`mock_server.coverage`'s):

- answers per operation and status, how many of them injected (``Prefer``,
  a fault rule, ``--error-rate``, ``--rate-limit``), and the body faults;
- faults met: each 4xx status, ``429 with Retry-After``, ``5xx``, an answer
  delayed (``latency``), the two body faults;
- per job type, the statuses the answers showed, the **transitions** a client
  observed (two answers showed one job in two statuses, in that order) and
  the terminal **outcomes** (completed, failed at validating or processing:
  the job's timeline says where it failed). A job counts once per status it
  was seen in, not once per read;
- the scenarios used (each reset or scenario load).

A reset does not clear it (the pytest fixtures reset before every test, and
the report is about the whole run): :meth:`CoverageRecorder.clear` does
(``DELETE /__admin/coverage``). What a job was last seen as is kept per
generation of the fake (a reset starts a new one, whose jobs may reuse ids),
so a transition is never made of two generations' answers.

Memory is bounded whatever clients send: operations come from the spec and
statuses are the fake's own; the last status of at most
:data:`MAX_TRACKED_JOBS` jobs, :data:`MAX_TRACKED_LISTS` apps' last list and
:data:`MAX_SCENARIOS` scenario names are kept (the oldest forgotten first,
further names counted under ``(other)``). Thread-safe; on the serving path it
costs a few dictionary updates per answer, and a list's statuses are read only
when the list can have changed (a new job, or a new instant while a job runs).
"""
from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence

from .lifecycle import TERMINAL
from .models import App, Job

#: Jobs whose last seen status is kept (per generation; the oldest forgotten first).
MAX_TRACKED_JOBS = 200_000
#: Apps whose last List Jobs instant is kept.
MAX_TRACKED_LISTS = 10_000
#: Distinct scenario names counted; further names count as ``(other)``.
MAX_SCENARIOS = 100
#: The label of a reset to generated histories (no scenario).
GENERATED = "(generated histories)"
OTHER = "(other)"


def fault_kind(status: int, retry_after: bool) -> str | None:
    """The fault kind an answer of ``status`` is (``"404"``, ``"429 with
    Retry-After"``, ``"5xx"``), None for a success."""
    if status >= 500:
        return "5xx"
    if status >= 400:
        return "429 with Retry-After" if status == 429 and retry_after else str(status)
    return None


class CoverageRecorder:
    """The counters of one fake (see the module docstring)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        """Forget everything observed."""
        with self._lock:
            #: (operationId or None, status, injected, body fault or None, Retry-After?, delayed?) -> a
            #: counter of those answers (itertools.count: next() is one atomic step)
            self._answers: dict[tuple, itertools.count] = {}
            self._statuses: dict[tuple[str, str], int] = {}
            self._transitions: dict[tuple[str, str, str], int] = {}
            self._outcomes: dict[tuple[str, str], int] = {}
            self._scenarios: dict[str, int] = {}
            self._generation: int | None = None
            self._last: dict[str, str] = {}
            self._lists: dict[str, tuple] = {}

    # -- recording (the serving path) ------------------------------------------
    def observe(self, answer: tuple, generation: int, app: App | None, shown: tuple | None) -> None:
        """One answer of generation ``generation`` of the fake.

        ``answer``: ``(operationId or None, status, injected, body fault or
        None, Retry-After?, delayed?)``: the operation (None when none matched
        the request), its status, whether something other than the operation
        chose it, the body fault the client got instead (a fault name),
        whether it carries ``Retry-After``, whether an injected latency held
        it. ``shown``: for an answer of the operation's own, the jobs of
        ``app`` it showed, ``(t, None)`` for its whole list or ``(t, jobs)``,
        at instant ``t`` (whole UTC epoch seconds); else None."""
        counter = self._answers.get(answer)
        if counter is None:
            counter = self._answers.setdefault(answer, itertools.count())
        next(counter)  # atomic under the GIL: no lock on the serving path, no count lost
        if shown is None or app is None:
            return
        t, jobs = shown
        if generation == self._generation:  # nothing new seen? (lookups without the lock, checked again under it)
            if jobs is None:
                if self._lists.get(app.app_token) == (app.version, t if t < app.settled_at else None):
                    return
            elif len(jobs) == 1 and self._last.get(jobs[0].job_id) == jobs[0].timeline.status(t):
                return
        with self._lock:
            if generation != self._generation:
                self._generation = generation
                self._last = {}
                self._lists = {}
            if jobs is None:
                key = (app.version, t if t < app.settled_at else None)  # the list's own cache key
                token = app.app_token
                lists = self._lists
                if lists.get(token) == key:
                    return  # the same list as last time: nothing new seen
                if token not in lists and len(lists) >= MAX_TRACKED_LISTS:
                    del lists[next(iter(lists))]
                lists[token] = key
                jobs = app.newest_first()
            self._seen(jobs, t)

    def _seen(self, jobs: Sequence[Job], t: int) -> None:
        """Count what ``jobs`` showed at ``t`` that their previous answers did not (under the lock)."""
        last = self._last
        for job in jobs:
            timeline = job.timeline
            status = timeline.status(t)
            job_id = job.job_id
            before = last.get(job_id)
            if before == status:
                continue
            if before is None and len(last) >= MAX_TRACKED_JOBS:
                del last[next(iter(last))]
            last[job_id] = status
            job_type = job.type
            key2 = (job_type, status)
            self._statuses[key2] = self._statuses.get(key2, 0) + 1
            if before is not None:
                key3 = (job_type, before, status)
                self._transitions[key3] = self._transitions.get(key3, 0) + 1
            if status in TERMINAL:
                key2 = (job_type, timeline.outcome_label())
                self._outcomes[key2] = self._outcomes.get(key2, 0) + 1

    def scenario(self, name: str | None) -> None:
        """A reset or scenario load used scenario ``name`` (None: generated histories)."""
        label = GENERATED if name is None else str(name)[:200]
        with self._lock:
            if label not in self._scenarios and len(self._scenarios) >= MAX_SCENARIOS:
                label = OTHER
            self._scenarios[label] = self._scenarios.get(label, 0) + 1

    # -- reading -----------------------------------------------------------------
    def snapshot(self) -> dict:
        """What was observed, as JSON-able counters (the ``observed`` part of
        the report, :func:`mock_server.coverage.report`)::

            {"operations": {opId: {"calls": n, "codes": {"200": {"answers": n, "injected": m}},
                                   "body_faults": {"MALFORMED_RESPONSE_CHUNK": n}}},
             "unrouted": {"404": n},
             "statuses": {type: {status: jobs}}, "transitions": {type: {"a -> b": jobs}},
             "outcomes": {type: {"failed at processing": jobs}},
             "faults": {kind: {"answers": n, "injected": m}}, "scenarios": {name: uses}}

        A body fault counts under its operation's ``body_faults`` and as a
        fault, not under the status its broken answer had.
        """
        with self._lock:
            answers = {key: _value(counter) for key, counter in list(self._answers.items())}
            statuses, outcomes = dict(self._statuses), dict(self._outcomes)
            transitions = {(t, f"{a} -> {b}"): n for (t, a, b), n in self._transitions.items()}
            scenarios = dict(sorted(self._scenarios.items()))
        operations: dict[str, dict] = {}
        unrouted: dict[str, int] = {}
        faults: dict[str, dict[str, int]] = {}

        def count(into: dict, key: str, n: int, injected: bool) -> None:
            entry = into.setdefault(key, {"answers": 0, "injected": 0})
            entry["answers"] += n
            entry["injected"] += n if injected else 0

        for (operation_id, status, injected, body_fault, retry_after, delayed), n in \
                sorted(answers.items(), key=lambda item: (item[0][0] or "", item[0][1], str(item[0][2:]))):
            if delayed:
                count(faults, "latency", n, True)
            if operation_id is None:
                unrouted[str(status)] = unrouted.get(str(status), 0) + n
                continue
            entry = operations.setdefault(operation_id, {"calls": 0, "codes": {}, "body_faults": {}})
            entry["calls"] += n
            if body_fault is not None:
                entry["body_faults"][body_fault] = entry["body_faults"].get(body_fault, 0) + n
                count(faults, body_fault, n, True)
                continue
            count(entry["codes"], str(status), n, injected)
            kind = fault_kind(status, retry_after)
            if kind is not None:
                count(faults, kind, n, injected)
        return {
            "operations": dict(sorted(operations.items())),
            "unrouted": unrouted,
            "statuses": _nest(statuses),
            "transitions": _nest(transitions),
            "outcomes": _nest(outcomes),
            "faults": dict(sorted(faults.items())),
            "scenarios": scenarios,
        }


def _value(counter: itertools.count) -> int:
    """How many times ``next()`` was called on ``counter`` (started at 0, step 1): its repr is ``count(n)``."""
    return int(repr(counter)[6:-1])


def _nest(counts: dict) -> dict[str, dict[str, int]]:
    """``{(a, b): n}`` as ``{a: {b: n}}``, sorted."""
    out: dict[str, dict[str, int]] = {}
    for (a, b), n in sorted(counts.items()):
        out.setdefault(a, {})[b] = n
    return out


__all__ = ["GENERATED", "MAX_SCENARIOS", "MAX_TRACKED_JOBS", "MAX_TRACKED_LISTS", "OTHER", "CoverageRecorder",
           "fault_kind"]
