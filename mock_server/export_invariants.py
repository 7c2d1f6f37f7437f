"""The invariants every export job the fake shows holds, written once, as code
(the export side of :mod:`mock_server.invariants`).

Each function returns a list of :class:`Problem` values: strings (the
message, for people) that carry a stable ``code`` (one of :data:`CODES`, for
programs: the contract kit names its checks by them); an empty list means
the answer holds. ``now`` is UTC epoch seconds or None. With ``strict_fake``
the fake's own stricter promises apply too (id and token shapes,
whole-second ``Z`` times, chunk files named after the chunks, the 3-day
window); a check of another server turns them off. Rules (docs/exports.md):
progress and chunks never go back; ``completed_chunks`` is a prefix of
``all_chunks``; ``presigned_urls`` are there exactly when the job is
completed, one per chunk; times ordered, ``end_time`` null exactly while the
job runs; ``elapsed_time_seconds`` and ``elapsed_time`` say the same duration.
"""
from __future__ import annotations

import re

from .backend.lifecycle import STATUSES, TERMINAL
from .ids import is_app_token, is_job_id
from .invariants import ISO_Z, STATUS_ORDER, parse_time

FIELDS = ("all_chunks", "app_token", "completed_chunks", "current_chunk", "elapsed_time", "elapsed_time_seconds",
          "end_time", "job_id", "presigned_urls", "progress", "start_time", "status", "type")
HMS = re.compile(r"^(\d{2,}):([0-5]\d):([0-5]\d)$")
#: How long the exports API shows a job (documented: 3 days).
RETENTION_SECONDS = 3 * 86_400

#: Every problem code, with what it means. Codes are stable: renaming one is a
#: breaking change for whoever maps them (contract_tests.catalogue).
CODES: dict[str, str] = {
    # one export job (export_job_problems)
    "export_not_object": "an export job is not a JSON object",
    "export_field_missing": "a field of the export job is missing",
    "export_field_type": "a field is not of the type the exports document gives it",
    "export_status_unknown": "status is not one of the List Jobs values",
    "export_chunks": "completed_chunks not in (or not a prefix of) all_chunks, current_chunk not a chunk, "
                     "a completed job with chunks left",
    "export_progress": "progress is not a whole percentage, or disagrees with the status",
    "export_urls": "presigned_urls present while not completed, missing once completed, or malformed",
    "export_times": "a time not ISO 8601, end_time set while running or missing once ended, end before start, "
                    "start in the future",
    "export_elapsed": "elapsed_time (HH:MM:SS) and elapsed_time_seconds disagree with each other or with the times",
    # the fake's own stricter promises (strict_fake)
    "fake_export_files": "the presigned URLs are not one per chunk, named after it",
    "fake_export_ids": "job_id, app_token or type are not the fake's shapes",
    "fake_export_time_format": "a time is not whole-second UTC with Z",
    "fake_export_retention": "the job is shown 3 days or more after its creation",
    "fake_export_list_order": "the list is not newest first",
    # a whole Show Jobs answer (export_list_problems)
    "export_list_not_array": "the Show Jobs answer is not a JSON array",
    "export_id_duplicate": "a job_id appears twice in one list",
    "export_running_twice": "more than one export of the app runs at once",
    # two reads of one export job (export_transition_problems)
    "export_backwards": "status, progress or completed chunks went back, the chunks changed, or a terminal "
                        "export changed",
    # the two views of one job (views_agree)
    "export_views_disagree": "the exports API and List Jobs show the job differently",
}


class Problem(str):
    """One broken rule: its message (the string itself, so a problem reads
    and compares as its text) and its ``code`` (one of :data:`CODES`).
    Raises ValueError for an unknown code."""

    code: str

    def __new__(cls, code: str, message: str) -> Problem:
        if code not in CODES:
            raise ValueError(f"unknown problem code {code!r}")
        problem = super().__new__(cls, message)
        problem.code = code
        return problem


def _int_text(value) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() else None


def export_job_problems(job, now: float | None = None, *, strict_fake: bool = True) -> list[Problem]:
    """Problems of one export job object (Show Job by Job ID, an item of
    Show Jobs)."""
    if not isinstance(job, dict):
        return [Problem("export_not_object", f"export job is not an object: {job!r}")]
    problems = [Problem("export_field_missing", f"{name} is missing") for name in FIELDS if name not in job]
    if problems:
        return problems
    status = job["status"]
    if status not in STATUSES:
        problems.append(Problem("export_status_unknown", f"status {status!r} is not one of {', '.join(STATUSES)}"))
    for name in ("app_token", "current_chunk", "elapsed_time", "elapsed_time_seconds", "job_id", "progress",
                 "start_time", "status", "type"):
        if not isinstance(job[name], str):
            problems.append(Problem("export_field_type", f"{name} is not a string: {job[name]!r}"))
    problems += _chunk_problems(job, status, strict_fake)
    progress = _int_text(job["progress"])
    if progress is None or progress > 100:
        problems.append(Problem("export_progress", f"progress is not a whole percentage 0-100: {job['progress']!r}"))
    elif status == "completed" and progress != 100:
        problems.append(Problem("export_progress", f"a completed job has progress {progress}"))
    elif status in ("queued", "validating") and progress != 0:
        problems.append(Problem("export_progress", f"a {status} job has progress {progress}"))
    problems += _url_problems(job, status, strict_fake)
    problems += _time_problems(job, status, now, strict_fake)
    if strict_fake:
        if not is_job_id(job["job_id"]):
            problems.append(Problem("fake_export_ids",
                                    f"job_id {job['job_id']!r} is not bulk:jobs:<app token>:<uuid4>"))
        elif isinstance(job["app_token"], str) and f":{job['app_token']}:" not in job["job_id"]:
            problems.append(Problem("fake_export_ids", "job_id does not name the job's app_token"))
        if not is_app_token(job["app_token"]):
            problems.append(Problem("fake_export_ids",
                                    f"app_token {job['app_token']!r} is not NX- and 8 hex characters"))
        if job["type"] != "export":
            problems.append(Problem("fake_export_ids", f"type {job['type']!r} is not export"))
    return problems


def _chunks(job: dict) -> tuple[list | None, list | None, list[Problem]]:
    """``(all_chunks, completed_chunks, problems)``: each list None when it
    is not an array of strings (all_chunks: a non-empty one)."""
    problems = []
    chunks, done = job["all_chunks"], job["completed_chunks"]
    if not isinstance(chunks, list) or not chunks or not all(isinstance(c, str) for c in chunks):
        problems.append(Problem("export_field_type", f"all_chunks is not a non-empty array of strings: {chunks!r}"))
        chunks = None
    if not isinstance(done, list) or not all(isinstance(c, str) for c in done):
        problems.append(Problem("export_field_type", f"completed_chunks is not an array of strings: {done!r}"))
        done = None
    return chunks, done, problems


def _chunk_problems(job: dict, status, strict_fake: bool) -> list[Problem]:
    chunks, done, problems = _chunks(job)
    if chunks is not None and len(set(chunks)) != len(chunks):
        problems.append(Problem("export_chunks", "all_chunks names a chunk twice"))
    if chunks is not None and done is not None:
        if not set(done) <= set(chunks):
            problems.append(Problem("export_chunks",
                                    f"completed_chunks {sorted(set(done) - set(chunks))} are not in all_chunks"))
        elif strict_fake and done != chunks[: len(done)]:
            problems.append(Problem("export_chunks", "completed_chunks is not the first chunks of all_chunks in order"))
        if status == "completed" and set(done) != set(chunks):
            problems.append(Problem("export_chunks", "a completed job has chunks not completed"))
        if isinstance(job["current_chunk"], str) and job["current_chunk"] not in chunks:
            problems.append(Problem("export_chunks", f"current_chunk {job['current_chunk']!r} is not in all_chunks"))
    return problems


def _url_problems(job: dict, status, strict_fake: bool) -> list[Problem]:
    urls = job["presigned_urls"]
    if not isinstance(urls, list):
        return [Problem("export_field_type", f"presigned_urls is not an array: {urls!r}")]
    problems = []
    if status == "completed" and not urls:
        problems.append(Problem("export_urls", "presigned_urls missing on a completed job"))
    elif status != "completed" and urls:
        problems.append(Problem("export_urls", f"presigned_urls present on a {status} job"))
    names = []
    for i, item in enumerate(urls):
        if not isinstance(item, dict) or not isinstance(item.get("filename"), str) \
                or not isinstance(item.get("url"), str):
            problems.append(Problem("export_field_type", f"presigned_urls[{i}] is not {{filename, url}} strings: "
                                                         f"{item!r}"))
            continue
        names.append(item["filename"])
        if not item["url"].startswith(("http://", "https://")):
            problems.append(Problem("export_urls", f"presigned_urls[{i}].url is not an absolute URL"))
    if len(set(names)) != len(names):
        problems.append(Problem("export_urls", "presigned_urls names a file twice"))
    chunks = job["all_chunks"] if isinstance(job["all_chunks"], list) and job["all_chunks"] else None
    if strict_fake and urls and chunks is not None and len(urls) != len(chunks):
        problems.append(Problem("fake_export_files", f"{len(urls)} presigned URLs for {len(chunks)} chunks"))
    if strict_fake and chunks is not None:
        for chunk, name in zip(chunks, names, strict=False):
            if f"-{chunk}." not in name:
                problems.append(Problem("fake_export_files", f"file {name!r} is not chunk {chunk}'s"))
    return problems


def _time_problems(job: dict, status, now, strict_fake: bool) -> list[Problem]:
    problems = []
    start = parse_time(job["start_time"])
    end_raw = job["end_time"]
    end = parse_time(end_raw) if end_raw is not None else None
    if start is None:
        problems.append(Problem("export_times", f"start_time is not ISO 8601: {job['start_time']!r}"))
    if end_raw is not None and end is None:
        problems.append(Problem("export_times", f"end_time is not ISO 8601: {end_raw!r}"))
    if status in TERMINAL and end_raw is None:
        problems.append(Problem("export_times", f"end_time is null on a {status} job"))
    if status in STATUSES and status not in TERMINAL and end_raw is not None:
        problems.append(Problem("export_times", f"end_time is set on a {status} job"))
    if start is not None and end is not None and end < start:
        problems.append(Problem("export_times", "end_time is before start_time"))
    seconds = _int_text(job["elapsed_time_seconds"])
    if seconds is None:
        problems.append(Problem("export_field_type",
                                f"elapsed_time_seconds is not whole seconds: {job['elapsed_time_seconds']!r}"))
    hms = HMS.match(job["elapsed_time"]) if isinstance(job["elapsed_time"], str) else None
    if hms is None:
        problems.append(Problem("export_elapsed", f"elapsed_time is not HH:MM:SS: {job['elapsed_time']!r}"))
    elif seconds is not None and int(hms[1]) * 3600 + int(hms[2]) * 60 + int(hms[3]) != seconds:
        problems.append(Problem("export_elapsed",
                                f"elapsed_time {job['elapsed_time']} is not elapsed_time_seconds {seconds}"))
    if seconds is not None and start is not None:
        if end is not None and abs(seconds - (end - start)) > 1:
            problems.append(Problem("export_elapsed", f"elapsed_time_seconds {seconds} is not end_time - start_time "
                                                      f"= {end - start:.0f}"))
        elif end is None and now is not None and abs(seconds - (now - start)) > 2:
            problems.append(Problem("export_elapsed", f"elapsed_time_seconds {seconds} is not now - start_time "
                                                      f"= {now - start:.0f}"))
    if now is not None and start is not None:
        if start > now + 1:
            problems.append(Problem("export_times", "start_time is in the future"))
        if strict_fake and now - start >= RETENTION_SECONDS:
            problems.append(Problem("fake_export_retention", "the job is shown 3 days or more after its creation"))
    if strict_fake:
        for name in ("start_time",) + (("end_time",) if end_raw is not None else ()):
            if isinstance(job[name], str) and not ISO_Z.match(job[name]):
                problems.append(Problem("fake_export_time_format",
                                        f"{name} {job[name]!r} is not whole-second UTC with Z"))
    return problems


def export_list_problems(jobs, now: float | None = None, *, strict_fake: bool = True) -> list[Problem]:
    """Problems of a Show Jobs answer: a bare array of valid export jobs,
    each id once, at most one running (one export at a time), newest first
    (the fake's order)."""
    if not isinstance(jobs, list):
        return [Problem("export_list_not_array", f"the list is not a JSON array: {type(jobs).__name__}")]
    problems = []
    for i, job in enumerate(jobs):
        problems += [Problem(p.code, f"export {i}: {p}")
                     for p in export_job_problems(job, now, strict_fake=strict_fake)]
    ids = [j.get("job_id") for j in jobs if isinstance(j, dict)]
    if len(set(ids)) != len(ids):
        problems.append(Problem("export_id_duplicate", "a job_id appears twice"))
    running = [j.get("job_id") for j in jobs if isinstance(j, dict) and j.get("status") in STATUSES
               and j.get("status") not in TERMINAL]
    if len(running) > 1:
        problems.append(Problem("export_running_twice",
                                f"{len(running)} exports running at once: {', '.join(map(str, running))}"))
    if strict_fake:
        starts = [parse_time(j.get("start_time")) for j in jobs if isinstance(j, dict)]
        known = [s for s in starts if s is not None]
        if len(known) == len(starts) and known != sorted(known, reverse=True):
            problems.append(Problem("fake_export_list_order", "the list is not newest first"))
    return problems


def export_transition_problems(before: dict, after: dict) -> list[Problem]:
    """Problems between two reads of one export job (``before`` earlier):
    no status backwards, progress and completed chunks never decrease, the
    chunks never change, a terminal job never changes."""
    problems = []
    s0, s1 = before.get("status"), after.get("status")
    if s0 in STATUS_ORDER and s1 in STATUS_ORDER and STATUS_ORDER[s1] < STATUS_ORDER[s0]:
        problems.append(Problem("export_backwards", f"status moved backwards: {s0} -> {s1}"))
    p0, p1 = _int_text(before.get("progress")), _int_text(after.get("progress"))
    if p0 is not None and p1 is not None and p1 < p0:
        problems.append(Problem("export_backwards", f"progress decreased: {p0} -> {p1}"))
    d0, d1 = before.get("completed_chunks") or [], after.get("completed_chunks") or []
    if isinstance(d0, list) and isinstance(d1, list) and not set(map(str, d0)) <= set(map(str, d1)):
        problems.append(Problem("export_backwards", f"completed chunks were lost: {sorted(set(d0) - set(d1))}"))
    if before.get("all_chunks") != after.get("all_chunks"):
        problems.append(Problem("export_backwards", "all_chunks changed"))
    if s0 in TERMINAL:
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        if changed:
            problems.append(Problem("export_backwards", f"terminal ({s0}) export changed: {', '.join(changed)}"))
    return problems


def views_agree(export_job: dict, listed: dict) -> list[Problem]:
    """Problems between an export job as the exports API shows it and the
    same job as List Jobs (or Check job status) shows it at the same
    instant: one job_id, type, status, start and end, elapsed seconds."""
    problems = []
    for name in ("job_id", "type", "status", "start_time", "end_time"):
        if export_job.get(name) != listed.get(name):
            problems.append(Problem("export_views_disagree", f"{name}: {export_job.get(name)!r} on the exports API, "
                                                             f"{listed.get(name)!r} on List Jobs"))
    if _int_text(export_job.get("elapsed_time_seconds")) != listed.get("elapsed_time"):
        problems.append(Problem("export_views_disagree",
                                f"elapsed: {export_job.get('elapsed_time_seconds')!r} s on the exports API, "
                                f"{listed.get('elapsed_time')!r} on List Jobs"))
    return problems


__all__ = ["FIELDS", "CODES", "Problem", "export_job_problems", "export_list_problems", "export_transition_problems",
           "views_agree"]
