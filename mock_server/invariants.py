"""The invariants every job the fake returns holds, written once, as code.

Used by the kit's own tests (property-based, over seeds and instants) and by
the contract checks. Each function returns a list of problems (strings);
an empty list means the job holds. ``now`` is UTC epoch seconds or None.
Rules marked *assumed* are the kit's reading (docs/domain.md), not the vendor's.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

from .backend.generate import FILENAME_EXTENSIONS
from .backend.lifecycle import STATUSES, TERMINAL

JOB_ID = re.compile(r"^bulk:jobs:NX-[0-9a-f]{8}:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
COUNTERS = ("elapsed_time", "file_size", "total_rows")
STATUS_ORDER = {"queued": 0, "validating": 1, "processing": 2, "pending_refresh": 3,
                "completed": 4, "failed": 4}


def parse_time(value) -> float | None:
    """UTC epoch seconds of an ISO 8601 string, None when it is not one."""
    if not isinstance(value, str):
        return None
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def job_problems(job: dict, now: float | None = None, *, detail: bool = False,
                 strict_fake: bool = True) -> list[str]:
    """Problems of one job object (public or single-job form).

    With ``strict_fake`` the fake's own stricter rules apply too (the exact
    ``bulk:jobs:NX-xxxxxxxx:<uuid4>`` id, whole-second ``Z`` times, a format
    extension on ``filename``); the contract checks against other servers
    turn them off.
    """
    problems: list[str] = []
    if not isinstance(job, dict):
        return [f"job is not an object: {job!r}"]
    status = job.get("status")
    if status not in STATUSES:
        problems.append(f"status {status!r} is not one of {', '.join(STATUSES)}")
    for name in COUNTERS + (("completed_rows",) if detail else ()):
        value = job.get(name)
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{name} is not an integer: {value!r}")
        elif value < 0:
            problems.append(f"{name} is negative: {value}")
    start = parse_time(job.get("start_time"))
    if start is None:
        problems.append(f"start_time is not ISO 8601: {job.get('start_time')!r}")
    end_raw = job.get("end_time")
    end = parse_time(end_raw) if end_raw is not None else None
    if end_raw is not None and end is None:
        problems.append(f"end_time is not ISO 8601: {end_raw!r}")
    terminal = status in TERMINAL
    if terminal and end_raw is None:
        problems.append(f"end_time is null on a {status} job")
    if not terminal and end_raw is not None and status in STATUSES:
        problems.append(f"end_time is set ({end_raw}) on a {status} job")
    if start is not None and end is not None and end < start:
        problems.append(f"end_time {end_raw} is before start_time {job.get('start_time')}")
    elapsed = job.get("elapsed_time")
    if start is not None and isinstance(elapsed, int) and not isinstance(elapsed, bool):
        if end is not None:
            expected = end - start
            if abs(elapsed - expected) > 1:
                problems.append(f"elapsed_time {elapsed} disagrees with end_time - start_time = {expected:.0f}")
        elif now is not None and abs(elapsed - (now - start)) > 2:
            problems.append(f"elapsed_time {elapsed} disagrees with now - start_time = {now - start:.0f}")
    if now is not None and start is not None and start > now + 1:
        problems.append(f"start_time {job.get('start_time')} is in the future")
    if detail:
        done, total = job.get("completed_rows"), job.get("total_rows")
        if isinstance(done, int) and isinstance(total, int):
            if done > total:
                problems.append(f"completed_rows {done} exceeds total_rows {total}")
            if status == "completed" and done != total:
                problems.append(f"completed job has completed_rows {done} != total_rows {total}")
            if status in ("queued", "validating") and done != 0:
                problems.append(f"{status} job has completed_rows {done}, expected 0")
    if strict_fake:
        if not isinstance(job.get("job_id"), str) or not JOB_ID.match(job["job_id"]):
            problems.append(f"job_id {job.get('job_id')!r} is not bulk:jobs:<app token>:<uuid4>")
        for name in ("start_time",) + (("end_time",) if end_raw is not None else ()):
            if isinstance(job.get(name), str) and not ISO_Z.match(job[name]):
                problems.append(f"{name} {job[name]!r} is not whole-second UTC with Z")
        filename = job.get("filename")
        if not isinstance(filename, str) or not filename.lower().endswith(FILENAME_EXTENSIONS):
            problems.append(f"filename {filename!r} has no .csv/.ndjson extension")
        if isinstance(job.get("links"), str) and not job["links"].startswith(("http://", "https://")):
            problems.append(f"links {job['links']!r} is not an absolute URL")
    return problems


def list_problems(jobs, now: float | None = None, *, strict_fake: bool = True) -> list[str]:
    """Problems of a List Jobs answer: each job's, unique ``job_id`` values,
    newest first (assumed)."""
    if not isinstance(jobs, list):
        return [f"the list is not a JSON array: {type(jobs).__name__}"]
    problems = []
    seen = set()
    for i, job in enumerate(jobs):
        problems += [f"job {i}: {p}" for p in job_problems(job, now, strict_fake=strict_fake)]
        job_id = job.get("job_id") if isinstance(job, dict) else None
        if job_id in seen:
            problems.append(f"job_id {job_id} appears twice")
        seen.add(job_id)
    if strict_fake:
        starts = [parse_time(j.get("start_time")) for j in jobs if isinstance(j, dict)]
        if all(s is not None for s in starts) and starts != sorted(starts, reverse=True):
            problems.append("the list is not newest first")
    return problems


def transition_problems(before: dict, after: dict) -> list[str]:
    """Problems between two polls of the same job (``before`` earlier): the
    status never moves backwards, a terminal job never changes, and
    ``completed_rows`` never decreases."""
    problems = []
    s0, s1 = before.get("status"), after.get("status")
    if s0 in STATUS_ORDER and s1 in STATUS_ORDER:
        if STATUS_ORDER[s1] < STATUS_ORDER[s0]:
            problems.append(f"status moved backwards: {s0} -> {s1}")
        if s0 in TERMINAL:
            changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
            if changed:
                problems.append(f"terminal ({s0}) job changed: {', '.join(changed)}")
    r0, r1 = before.get("completed_rows"), after.get("completed_rows")
    if isinstance(r0, int) and isinstance(r1, int) and r1 < r0:
        problems.append(f"completed_rows decreased: {r0} -> {r1}")
    return problems
