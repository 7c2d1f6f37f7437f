"""The invariants every job the fake returns holds, written once, as code.

Used by the kit's own tests (property-based, over seeds and instants) and by
the contract checks. Each function returns a list of :class:`Violation`
values (a stable ``code`` and a ``message`` for people); an empty list means
the job holds. ``now`` is UTC epoch seconds or None. Rules marked *assumed*
are the kit's reading (docs/domain.md), not the vendor's. :data:`CODES` lists
every code; programs (the contract kit's catalogue) read codes, never
messages.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .backend.generate import FILENAME_EXTENSIONS
from .backend.lifecycle import STATUSES, TERMINAL
from .ids import is_job_id
from .times import parse_iso8601

ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
COUNTERS = ("elapsed_time", "file_size", "total_rows")
#: The counters of a bulk identify's 202 answer (docs/bulk.md: the OpenAPI's job object).
ACCEPTED_COUNTERS = ("file_size", "total_rows")
STATUS_ORDER = {"queued": 0, "validating": 1, "processing": 2, "pending_refresh": 3,
                "completed": 4, "failed": 4}

#: Every violation code, with what it means. Codes are stable: renaming one
#: is a breaking change for whoever maps them (contract_tests.catalogue).
CODES: dict[str, str] = {
    # the answer's shape
    "job_not_object": "a job is not a JSON object",
    "list_not_array": "the List Jobs answer is not a JSON array",
    # one job (job_problems)
    "status_unknown": "status is not one of the documented values",
    "counter_not_integer": "elapsed_time, file_size, total_rows or completed_rows is not an integer",
    "counter_negative": "a counter is negative",
    "time_not_iso8601": "start_time or end_time is not an ISO 8601 instant",
    "end_time_missing": "end_time is null on a terminal job",
    "end_time_on_running": "end_time is set on a job that is not terminal",
    "end_before_start": "end_time is before start_time",
    "elapsed_disagrees": "elapsed_time disagrees with end_time - start_time, or with now - start_time",
    "start_in_future": "start_time is after now",
    "completed_rows_over_total": "completed_rows exceeds total_rows",
    "completed_rows_short": "a completed job's completed_rows is not total_rows",
    "completed_rows_early": "a queued or validating job has completed rows",
    # the fake's own stricter promises (strict_fake)
    "fake_job_id": "job_id is not bulk:jobs:<app token>:<uuid4>",
    "fake_time_format": "a time is not whole-second UTC with Z",
    "fake_filename": "filename has no .csv/.ndjson extension",
    "fake_links": "links is not an absolute URL",
    "fake_list_order": "the list is not newest first",
    # a whole list (list_problems)
    "job_id_duplicate": "a job_id appears twice in one list",
    # two polls of one job (transition_problems)
    "status_backwards": "the status moved backwards",
    "terminal_changed": "a terminal job changed",
    "completed_rows_decreased": "completed_rows decreased",
}


@dataclass(frozen=True)
class Violation:
    """One broken invariant. ``code``: one of :data:`CODES` (stable, for
    programs); ``message``: what was seen, for people (``str()`` of a
    violation is its message)."""

    code: str
    message: str

    def __str__(self) -> str:
        return self.message


def parse_time(value) -> float | None:
    """UTC epoch seconds of an ISO 8601 string (:mod:`mock_server.times`),
    None when it is not one."""
    return parse_iso8601(value) if isinstance(value, str) else None


def job_problems(job: dict, now: float | None = None, *, detail: bool = False,
                 strict_fake: bool = True, counters: tuple[str, ...] = COUNTERS) -> list[Violation]:
    """Violations of one job object (public or single-job form); ``detail``:
    the single-job form (``completed_rows`` required); ``counters``: the
    integer fields the form has (:data:`COUNTERS`; a bulk identify's 202
    answer, the OpenAPI's job object, has no ``elapsed_time``:
    :data:`ACCEPTED_COUNTERS`).

    With ``strict_fake`` the fake's own stricter rules apply too (the exact
    ``bulk:jobs:NX-xxxxxxxx:<uuid4>`` id, whole-second ``Z`` times, a format
    extension on ``filename``); the contract checks against other servers
    turn them off.
    """
    problems: list[Violation] = []
    if not isinstance(job, dict):
        return [Violation("job_not_object", f"job is not an object: {job!r}")]
    status = job.get("status")
    if status not in STATUSES:
        problems.append(Violation("status_unknown", f"status {status!r} is not one of {', '.join(STATUSES)}"))
    for name in counters + (("completed_rows",) if detail else ()):
        value = job.get(name)
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(Violation("counter_not_integer", f"{name} is not an integer: {value!r}"))
        elif value < 0:
            problems.append(Violation("counter_negative", f"{name} is negative: {value}"))
    start = parse_time(job.get("start_time"))
    if start is None:
        problems.append(Violation("time_not_iso8601", f"start_time is not ISO 8601: {job.get('start_time')!r}"))
    end_raw = job.get("end_time")
    end = parse_time(end_raw) if end_raw is not None else None
    if end_raw is not None and end is None:
        problems.append(Violation("time_not_iso8601", f"end_time is not ISO 8601: {end_raw!r}"))
    terminal = status in TERMINAL
    if terminal and end_raw is None:
        problems.append(Violation("end_time_missing", f"end_time is null on a {status} job"))
    if not terminal and end_raw is not None and status in STATUSES:
        problems.append(Violation("end_time_on_running", f"end_time is set ({end_raw}) on a {status} job"))
    if start is not None and end is not None and end < start:
        problems.append(Violation("end_before_start",
                                  f"end_time {end_raw} is before start_time {job.get('start_time')}"))
    elapsed = job.get("elapsed_time")
    if start is not None and isinstance(elapsed, int) and not isinstance(elapsed, bool):
        if end is not None:
            expected = end - start
            if abs(elapsed - expected) > 1:
                problems.append(Violation("elapsed_disagrees", f"elapsed_time {elapsed} disagrees with "
                                                               f"end_time - start_time = {expected:.0f}"))
        elif now is not None and abs(elapsed - (now - start)) > 2:
            problems.append(Violation("elapsed_disagrees", f"elapsed_time {elapsed} disagrees with "
                                                           f"now - start_time = {now - start:.0f}"))
    if now is not None and start is not None and start > now + 1:
        problems.append(Violation("start_in_future", f"start_time {job.get('start_time')} is in the future"))
    if detail:
        done, total = job.get("completed_rows"), job.get("total_rows")
        if isinstance(done, int) and isinstance(total, int):
            if done > total:
                problems.append(Violation("completed_rows_over_total",
                                          f"completed_rows {done} exceeds total_rows {total}"))
            if status == "completed" and done != total:
                problems.append(Violation("completed_rows_short",
                                          f"completed job has completed_rows {done} != total_rows {total}"))
            if status in ("queued", "validating") and done != 0:
                problems.append(Violation("completed_rows_early",
                                          f"{status} job has completed_rows {done}, expected 0"))
    if strict_fake:
        if not isinstance(job.get("job_id"), str) or not is_job_id(job["job_id"]):
            problems.append(Violation("fake_job_id",
                                      f"job_id {job.get('job_id')!r} is not bulk:jobs:<app token>:<uuid4>"))
        for name in ("start_time",) + (("end_time",) if end_raw is not None else ()):
            if isinstance(job.get(name), str) and not ISO_Z.match(job[name]):
                problems.append(Violation("fake_time_format", f"{name} {job[name]!r} is not whole-second UTC with Z"))
        filename = job.get("filename")
        if not isinstance(filename, str) or not filename.lower().endswith(FILENAME_EXTENSIONS):
            problems.append(Violation("fake_filename", f"filename {filename!r} has no .csv/.ndjson extension"))
        if isinstance(job.get("links"), str) and not job["links"].startswith(("http://", "https://")):
            problems.append(Violation("fake_links", f"links {job['links']!r} is not an absolute URL"))
    return problems


def list_problems(jobs, now: float | None = None, *, strict_fake: bool = True) -> list[Violation]:
    """Violations of a List Jobs answer: each job's (its message prefixed
    ``job <index>: ``, its code unchanged), unique ``job_id`` values, newest
    first (assumed; ``strict_fake`` only)."""
    if not isinstance(jobs, list):
        return [Violation("list_not_array", f"the list is not a JSON array: {type(jobs).__name__}")]
    problems = []
    seen = set()
    for i, job in enumerate(jobs):
        problems += [replace(p, message=f"job {i}: {p.message}")
                     for p in job_problems(job, now, strict_fake=strict_fake)]
        job_id = job.get("job_id") if isinstance(job, dict) else None
        if job_id in seen:
            problems.append(Violation("job_id_duplicate", f"job_id {job_id} appears twice"))
        seen.add(job_id)
    if strict_fake:
        starts = [parse_time(j.get("start_time")) for j in jobs if isinstance(j, dict)]
        known = [s for s in starts if s is not None]
        if len(known) == len(starts) and known != sorted(known, reverse=True):
            problems.append(Violation("fake_list_order", "the list is not newest first"))
    return problems


def transition_problems(before: dict, after: dict) -> list[Violation]:
    """Violations between two polls of the same job (``before`` earlier):
    the status never moves backwards, a terminal job never changes, and
    ``completed_rows`` never decreases."""
    problems = []
    s0, s1 = before.get("status"), after.get("status")
    if s0 in STATUS_ORDER and s1 in STATUS_ORDER:
        if STATUS_ORDER[s1] < STATUS_ORDER[s0]:
            problems.append(Violation("status_backwards", f"status moved backwards: {s0} -> {s1}"))
        if s0 in TERMINAL:
            changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
            if changed:
                problems.append(Violation("terminal_changed", f"terminal ({s0}) job changed: {', '.join(changed)}"))
    r0, r1 = before.get("completed_rows"), after.get("completed_rows")
    if isinstance(r0, int) and isinstance(r1, int) and r1 < r0:
        problems.append(Violation("completed_rows_decreased", f"completed_rows decreased: {r0} -> {r1}"))
    return problems
