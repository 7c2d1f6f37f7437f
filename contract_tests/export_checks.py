"""The kit's own Schemathesis checks of the exports API (the appex host):
the export job invariants on every answer of Show Jobs and Show Job by Job
ID, across answers that no export goes back, and the trigger's answer.

Importing this module registers the checks (``@schemathesis.check``), as
:mod:`.checks` does for the jobs operations; answers of other operations are
left alone. The rules are :mod:`mock_server.export_invariants`'s (coded
problems); :mod:`.catalogue` says which check each code belongs to
(``CHECK_OF_EXPORT_CODE``) and whether it is documented or assumed. The
lifecycle (:mod:`.flows`) applies the same functions to every read it makes.
"""
from __future__ import annotations

from urllib.parse import unquote

import schemathesis

from mock_server.export_invariants import export_job_problems, export_list_problems, export_transition_problems
from mock_server.invariants import parse_time

from .catalogue import FAKE_ONLY, classify_export, rule_for
from .checks import contract_failure, operation_id
from .operations import EXPORT_JOB_OPS, TRIGGER_OP
from .state import current

#: The kit's checks of one export job answer (:func:`export_answer_problems`).
EXPORT_ANSWER_CHECKS = ("export_job_shape", "export_fields_present", "export_status_known",
                        "export_chunks_consistent", "export_progress_consistent", "export_urls_when_completed",
                        "export_times_ordered", "export_elapsed_time_agrees")
#: The fields of the trigger's 201 answer (the vendor's schema).
TRIGGER_FIELDS = ("environment_app_token", "environment_name", "job_id", "links", "start_time")


def answer_checks(op: str, strict: bool) -> tuple[str, ...]:
    """The checks :func:`export_answer_problems` evaluates on an answer of
    ``op`` (``getExportJob`` or ``listExportJobs``): the list's adds
    ``export_job_ids_unique`` and ``export_one_at_a_time``; a fake's
    ``fake_export_details``."""
    return EXPORT_ANSWER_CHECKS + (("export_job_ids_unique", "export_one_at_a_time") if op == "listExportJobs"
                                   else ()) + (("fake_export_details",) if strict else ())


#: The operations whose answers each check of this module reads.
APPLIES_TO: dict[str, frozenset[str]] = {
    **{name: EXPORT_JOB_OPS for name in EXPORT_ANSWER_CHECKS},
    "export_job_ids_unique": frozenset({"listExportJobs"}),
    "export_one_at_a_time": frozenset({"listExportJobs", TRIGGER_OP}),
    "fake_export_details": EXPORT_JOB_OPS,
    "export_detail_is_the_requested_job": frozenset({"getExportJob"}),
    "export_progress_never_backwards": EXPORT_JOB_OPS,
    "export_trigger_answer": frozenset({TRIGGER_OP}),
}


def applies(check: str, op: str | None, *, strict: bool) -> bool:
    """Whether ``check`` reads answers of the operation ``op`` at all
    (``fake_export_details`` only against a fake); a check not of this
    module: always (as :func:`contract_tests.checks.applies`)."""
    if check == "fake_export_details" and not strict:
        return False
    ops = APPLIES_TO.get(check)
    return ops is None or op in ops


def export_answer_problems(op: str, body, now: float | None, strict: bool) -> list[tuple[str, str]]:
    """``[(check name, message)]`` of one answer body of ``op``
    (``listExportJobs``: a Show Jobs answer; otherwise one export job);
    fake-only checks only when ``strict``."""
    if op == "listExportJobs":
        problems = export_list_problems(body, now, strict_fake=strict)
    else:
        problems = export_job_problems(body, now, strict_fake=strict)
    out = []
    for problem in problems:
        check = classify_export(problem)
        if check in FAKE_ONLY and not strict:
            continue
        out.append((check, str(problem)))
    return out


def trigger_answer_problems(body) -> list[str]:
    """Problems of a trigger's 201 body: every field of the vendor's schema
    present, strings, ``links`` an absolute URL, ``start_time`` ISO 8601."""
    if not isinstance(body, dict):
        return [f"the answer is not a JSON object: {type(body).__name__}"]
    problems = [f"{name} is missing" for name in TRIGGER_FIELDS if name not in body]
    problems += [f"{name} is not a string: {body[name]!r}" for name in TRIGGER_FIELDS
                 if name in body and not isinstance(body[name], str)]
    links = body.get("links")
    if isinstance(links, str) and not links.startswith(("http://", "https://")):
        problems.append(f"links {links!r} is not an absolute URL")
    start = body.get("start_time")
    if isinstance(start, str) and parse_time(start) is None:
        problems.append(f"start_time is not ISO 8601: {start!r}")
    return problems


def requested_export_problems(asked: str, body) -> list[str]:
    """Problems of a Show Job by Job ID answer to ``GET .../jobs/{asked}``: it must be that export."""
    if isinstance(body, dict) and "job_id" in body and body.get("job_id") not in (asked, unquote(asked)):
        return [f"asked for export {asked}, the answer is export {body.get('job_id')!r}"]
    return []


def _body(response, case, ops) -> tuple[str, object] | None:
    op = operation_id(case)
    if op is None or op not in ops or not 200 <= response.status_code < 300:
        return None
    try:
        return op, response.json()
    except Exception:
        return None


_cache: dict[int, tuple[object, list[tuple[str, str]]]] = {}


def _problems(response, case) -> list[tuple[str, str]]:
    cached = _cache.get(id(response))
    if cached is not None and cached[0] is response:
        return cached[1]
    parsed = _body(response, case, EXPORT_JOB_OPS)
    if parsed is None:
        problems: list[tuple[str, str]] = []
    else:
        run = current()
        now = run.now(response) if run.now else None
        problems = export_answer_problems(parsed[0], parsed[1], now, run.strict_fake)
    if len(_cache) > 16:
        _cache.clear()
    _cache[id(response)] = (response, problems)
    return problems


def _export_check(name: str):
    def check(ctx, response, case):
        found = [problem for check_name, problem in _problems(response, case) if check_name == name]
        if found:
            raise contract_failure(case, name, found)
        return None

    check.__name__ = name
    check.__qualname__ = name
    check.__doc__ = rule_for(name).rule
    return schemathesis.check(check)


export_job_shape = _export_check("export_job_shape")
export_fields_present = _export_check("export_fields_present")
export_status_known = _export_check("export_status_known")
export_chunks_consistent = _export_check("export_chunks_consistent")
export_progress_consistent = _export_check("export_progress_consistent")
export_urls_when_completed = _export_check("export_urls_when_completed")
export_times_ordered = _export_check("export_times_ordered")
export_elapsed_time_agrees = _export_check("export_elapsed_time_agrees")
export_job_ids_unique = _export_check("export_job_ids_unique")
export_one_at_a_time = _export_check("export_one_at_a_time")
fake_export_details = _export_check("fake_export_details")


@schemathesis.check
def export_detail_is_the_requested_job(ctx, response, case):
    """Show Job by Job ID answers the export its path names (documented)."""
    parsed = _body(response, case, frozenset({"getExportJob"}))
    if parsed is None:
        return None
    asked = (case.path_parameters or {}).get("job_id")
    problems = requested_export_problems(asked, parsed[1]) if isinstance(asked, str) else []
    if problems:
        raise contract_failure(case, "export_detail_is_the_requested_job", problems)
    return None


@schemathesis.check
def export_trigger_answer(ctx, response, case):
    """A 201 of Trigger an Export Job has the vendor's fields (assumed: all of them)."""
    parsed = _body(response, case, frozenset({TRIGGER_OP}))
    if parsed is None:
        return None
    problems = trigger_answer_problems(parsed[1])
    if problems:
        raise contract_failure(case, "export_trigger_answer", problems)
    return None


def _exports_of(response, case) -> list[dict] | None:
    parsed = _body(response, case, EXPORT_JOB_OPS)
    if parsed is None:
        return None
    op, body = parsed
    jobs = body if op == "listExportJobs" and isinstance(body, list) else [body]
    return [job for job in jobs if isinstance(job, dict) and isinstance(job.get("job_id"), str)]


@schemathesis.check
class export_progress_never_backwards:  # noqa: N801 - the check's name
    """Across answers no export goes back: status, progress, completed
    chunks; all_chunks never changes; a terminal export never changes
    (assumed). One instance per run keeps the latest view of each export."""

    def __init__(self) -> None:
        self.last: dict[str, dict] = {}

    def after_response(self, ctx, response, case):
        jobs = _exports_of(response, case)
        if not jobs:
            return None
        problems = []
        for job in jobs:
            before = self.last.get(job["job_id"])
            if before is not None:
                problems += [f"export {job['job_id']}: {p}" for p in export_transition_problems(before, job)]
            self.last[job["job_id"]] = job
        if problems:
            raise contract_failure(case, "export_progress_never_backwards", problems)
        return None


#: Names of every check this module registers.
CHECK_NAMES = (*EXPORT_ANSWER_CHECKS, "export_job_ids_unique", "export_one_at_a_time", "fake_export_details",
               "export_detail_is_the_requested_job", "export_trigger_answer", "export_progress_never_backwards")
