"""The kit's own Schemathesis checks: the job invariants on every answer of
the jobs operations, and across answers (history) the lifecycle rules no
schema can express.

Importing this module registers the checks (``@schemathesis.check``); they
run on every target, in ``userpilot-mock contract``, ``pytest --pyargs
contract_tests`` and a plain ``schemathesis run`` with the repository's
``schemathesis.toml``. Answers of other APIs are left alone.

The rules themselves live in :mod:`mock_server.invariants` (``job_problems``,
``list_problems``, ``transition_problems``, which return coded violations);
:mod:`.catalogue` says which check each violation code belongs to and whether
it is documented or assumed.

Their settings come from ``schemathesis.toml``: ``[checks.<name>] enabled``
for any of them (Schemathesis applies it), and the keyword arguments of the
class-based ones (``[checks.job_detail_matches_list] immutable``). How they
read answers in the current run (is the target a fake, which instant does an
answer describe) is run state, :mod:`.state`.
"""
from __future__ import annotations

from collections.abc import Sequence
from email.utils import parsedate_to_datetime
from urllib.parse import unquote

import schemathesis

from mock_server.backend.lifecycle import TERMINAL
from mock_server.invariants import ACCEPTED_COUNTERS, job_problems, list_problems, transition_problems

from ._schemathesis import ContractFailure
from .catalogue import FAKE_ONLY, classify, normalize, rule_for
from .operations import BULK_OPS, JOBS_OPS, OPERATIONS
from .state import current

#: Fields a job never changes once created (the kit's reading): the default of
#: ``[checks.job_detail_matches_list] immutable`` (schemathesis.toml).
IMMUTABLE = ("job_id", "type", "filename", "file_size", "total_rows", "start_time", "links")


def date_header_now(response) -> float | None:
    """UTC epoch seconds of an answer's ``Date`` header, None without one."""
    value = response.headers.get("date") or response.headers.get("Date")
    if isinstance(value, list):
        value = value[0] if value else None
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def contract_failure(case, check: str, problems: list[str]) -> ContractFailure:
    """The failure the kit's check ``check`` raises on ``case``'s answer:
    titled with the check's rule, ``problems`` its message (one line each);
    the same problems on other values (normalized) are the same failure."""
    return ContractFailure(operation=case.operation.label, check=check, title=f"{check}: {rule_for(check).rule}",
                           problems=problems, key=check + "|" + "|".join(sorted({normalize(p) for p in problems})))


def operation_id(case) -> str | None:
    """The kit's operation id of a case, None for other APIs' operations."""
    return OPERATIONS.get((case.operation.method.upper(), case.operation.path))


#: The operations that answer job objects: the jobs operations, and bulk
#: identify (its 202 is the OpenAPI's job object, docs/bulk.md).
JOB_ANSWER_OPS = JOBS_OPS | BULK_OPS


def job_body(response, case):
    """``(operation id, parsed JSON)`` of a 2xx answer of an operation that
    answers jobs (:data:`JOB_ANSWER_OPS`), None otherwise (other status,
    other operation, body that is not JSON: the built-in checks report those)."""
    op = operation_id(case)
    if op not in JOB_ANSWER_OPS or not 200 <= response.status_code < 300:
        return None
    try:
        return op, response.json()
    except Exception:
        return None


#: The kit's checks of one answer body (:func:`body_problems`), on any jobs operation.
ANSWER_CHECKS = ("job_answer_shape", "job_status_known", "job_counters_are_integers", "job_times_are_iso8601",
                 "job_end_time_matches_status", "job_elapsed_time_agrees", "job_counters_in_range")


def answer_checks(op: str, strict: bool) -> tuple[str, ...]:
    """The checks :func:`body_problems` evaluates on an answer of ``op``:
    :data:`ANSWER_CHECKS`, ``job_ids_unique`` on a list, ``fake_job_details``
    when ``strict`` (a fake)."""
    return ANSWER_CHECKS + (("job_ids_unique",) if op == "listJobs" else ()) + (
        ("fake_job_details",) if strict else ())


#: The operations whose answers each of the kit's Schemathesis checks reads
#: (any other answer passes it untouched): what "ran" means in a report.
_JOBS_OPS = JOB_ANSWER_OPS
APPLIES_TO: dict[str, frozenset[str]] = {
    **{name: _JOBS_OPS for name in ANSWER_CHECKS},
    "job_ids_unique": frozenset({"listJobs"}),
    "fake_job_details": _JOBS_OPS,
    "job_detail_is_the_requested_job": frozenset({"getJob"}),
    "job_detail_matches_list": frozenset({"listJobs", "getJob"}),
    "job_status_never_backwards": _JOBS_OPS,
    "running_job_stays_listed": frozenset({"listJobs"}),
}


def applies(check: str, op: str | None, *, strict: bool) -> bool:
    """Whether ``check`` reads answers of the operation ``op`` (an
    operation id; None: unknown) at all. ``fake_job_details`` only against a
    fake (``strict``); any check not of this kit: always."""
    if check == "fake_job_details" and not strict:
        return False
    ops = APPLIES_TO.get(check)
    return ops is None or op in ops


def body_problems(op: str, body, now: float | None, strict: bool) -> list[tuple[str, str]]:
    """``[(check name, message)]`` of one answer body of operation ``op``
    (``listJobs``: a list answer; bulk identify: one job in the OpenAPI's
    202 form, without ``elapsed_time`` and ``completed_rows``; otherwise one
    job in its single-job form), each violation's check found by its code;
    fake-only checks only when ``strict``."""
    if op == "listJobs":
        violations = list_problems(body, now, strict_fake=strict)
    elif op in BULK_OPS:
        violations = job_problems(body, now, strict_fake=strict, counters=ACCEPTED_COUNTERS)
    else:
        violations = job_problems(body, now, detail=True, strict_fake=strict)
    out = []
    for violation in violations:
        check = classify(violation)
        if check in FAKE_ONLY and not strict:
            continue
        out.append((check, violation.message))
    return out


_cache: dict[int, tuple[object, list[tuple[str, str]]]] = {}


def _problems(response, case) -> list[tuple[str, str]]:
    cached = _cache.get(id(response))
    if cached is not None and cached[0] is response:
        return cached[1]
    parsed = job_body(response, case)
    if parsed is None:
        problems: list[tuple[str, str]] = []
    else:
        run = current()
        now = run.now(response) if run.now else None
        problems = body_problems(parsed[0], parsed[1], now, run.strict_fake)
    if len(_cache) > 16:
        _cache.clear()
    _cache[id(response)] = (response, problems)
    return problems


def _invariant_check(name: str):
    def check(ctx, response, case):
        found = [problem for check_name, problem in _problems(response, case) if check_name == name]
        if found:
            raise contract_failure(case, name, found)
        return None

    check.__name__ = name
    check.__qualname__ = name
    check.__doc__ = rule_for(name).rule
    return schemathesis.check(check)


job_answer_shape = _invariant_check("job_answer_shape")
job_status_known = _invariant_check("job_status_known")
job_counters_are_integers = _invariant_check("job_counters_are_integers")
job_times_are_iso8601 = _invariant_check("job_times_are_iso8601")
job_end_time_matches_status = _invariant_check("job_end_time_matches_status")
job_elapsed_time_agrees = _invariant_check("job_elapsed_time_agrees")
job_counters_in_range = _invariant_check("job_counters_in_range")
job_ids_unique = _invariant_check("job_ids_unique")
fake_job_details = _invariant_check("fake_job_details")


def requested_job_problems(asked: str, body) -> list[str]:
    """Problems of a single-job answer to ``GET .../{asked}``: it must be that job."""
    if isinstance(body, dict) and "job_id" in body and body.get("job_id") not in (asked, unquote(asked)):
        return [f"asked for job {asked}, the answer is job {body.get('job_id')!r}"]
    return []


@schemathesis.check
def job_detail_is_the_requested_job(ctx, response, case):
    """The single-job answer is the job the path names (documented)."""
    parsed = job_body(response, case)
    if parsed is None or parsed[0] != "getJob":
        return None
    asked = (case.path_parameters or {}).get("job_id")
    problems = requested_job_problems(asked, parsed[1]) if isinstance(asked, str) else []
    if problems:
        raise contract_failure(case, "job_detail_is_the_requested_job", problems)
    return None


# ------------------------------------------------------------------ history

def _jobs_of(response, case):
    """``(operation id, [job dicts])`` of a job answer, None otherwise."""
    parsed = job_body(response, case)
    if parsed is None:
        return None
    op, body = parsed
    if op == "listJobs":
        if not isinstance(body, list):
            return None
        return op, [job for job in body if isinstance(job, dict) and isinstance(job.get("job_id"), str)]
    if isinstance(body, dict) and isinstance(body.get("job_id"), str):
        return op, [body]
    return None


def agreement_problems(listed: dict, single: dict, *, same_instant: bool, list_first: bool,
                       immutable: Sequence[str] = IMMUTABLE) -> list[str]:
    """Problems between a job's List Jobs entry and its single-job answer,
    one message each.

    The ``immutable`` fields must be equal. At the same instant (a frozen
    fake) every field the list shows must be equal; otherwise the later
    answer may only have progressed (:func:`transition_problems`), and a
    terminal one must be equal. ``list_first``: the list answer came first.
    """
    job_id = single.get("job_id")
    problems = [f"job {job_id}: {name} is {single.get(name)!r} in the single-job answer but "
                f"{listed.get(name)!r} in List Jobs"
                for name in immutable if name in listed and listed.get(name) != single.get(name)]
    shared = [name for name in listed if name not in immutable]
    if same_instant or (listed.get("status") in TERMINAL and single.get("status") in TERMINAL):
        problems += [f"job {job_id}: {name} is {single.get(name)!r} in the single-job answer but "
                     f"{listed.get(name)!r} in List Jobs"
                     for name in shared if listed.get(name) != single.get(name)]
    else:
        before, after = (listed, single) if list_first else (single, listed)
        common = {k: v for k, v in before.items() if k in after}
        problems += [f"job {job_id}: {v.message}" for v in transition_problems(common, {k: after[k] for k in common})]
    return problems


class _History:
    """Per-run memory of the jobs seen (class-based checks are instantiated
    once per run). Accumulation is idempotent: the latest answer wins."""

    def __init__(self) -> None:
        self.last: dict[str, dict] = {}          # job_id -> latest view (either answer)
        self.listed: dict[str, dict] = {}        # job_id -> latest List Jobs entry
        self.single: dict[str, dict] = {}        # job_id -> latest single-job answer
        self.order: dict[str, str] = {}          # job_id -> "list" | "single": which came last
        self.running_listed: set[str] = set()    # ids listed while not terminal in the latest list


@schemathesis.check
class job_status_never_backwards(_History):  # noqa: N801 - the check's name
    """Across answers no job's status moves backwards, completed_rows never
    decreases and a terminal job never changes (assumed)."""

    def after_response(self, ctx, response, case):
        found = _jobs_of(response, case)
        if found is None:
            return None
        _, jobs = found
        problems = []
        for job in jobs:
            before = self.last.get(job["job_id"])
            if before is not None:
                common = [k for k in before if k in job]
                problems += [f"job {job['job_id']}: {v.message}" for v in transition_problems(
                    {k: before[k] for k in common}, {k: job[k] for k in common})]
            self.last[job["job_id"]] = job
        if problems:
            raise contract_failure(case, "job_status_never_backwards", problems)
        return None


@schemathesis.check
class job_detail_matches_list(_History):  # noqa: N801 - the check's name
    """The single-job answer agrees with the job's List Jobs entry (assumed).

    Its option (``[checks.job_detail_matches_list]`` in schemathesis.toml,
    passed by Schemathesis as a keyword argument): ``immutable``, the fields
    a job never changes once created (default :data:`IMMUTABLE`). Raises
    ValueError when it is not a list of field names.
    """

    def __init__(self, *, immutable: Sequence[str] = IMMUTABLE) -> None:
        super().__init__()
        if isinstance(immutable, str) or not all(isinstance(name, str) and name for name in immutable):
            raise ValueError(f"immutable must be a list of field names, not {immutable!r}")
        self.immutable = tuple(immutable)

    def after_response(self, ctx, response, case):
        found = _jobs_of(response, case)
        if found is None:
            return None
        op, jobs = found
        same_instant = current().frozen
        problems = []
        for job in jobs:
            job_id = job["job_id"]
            if op == "listJobs":
                single = self.single.get(job_id)
                if single is not None:
                    problems += agreement_problems(job, single, same_instant=same_instant, list_first=False,
                                                   immutable=self.immutable)
                self.listed[job_id] = job
            elif op == "getJob":
                listed = self.listed.get(job_id)
                if listed is not None:
                    problems += agreement_problems(listed, job, same_instant=same_instant, list_first=True,
                                                   immutable=self.immutable)
                self.single[job_id] = job
        if problems:
            raise contract_failure(case, "job_detail_matches_list", problems)
        return None


@schemathesis.check
class running_job_stays_listed(_History):  # noqa: N801 - the check's name
    """A job seen running in List Jobs is still listed later (assumed)."""

    def after_response(self, ctx, response, case):
        found = _jobs_of(response, case)
        if found is None or found[0] != "listJobs":
            return None
        jobs = found[1]
        ids = {job["job_id"] for job in jobs}
        missing = sorted(self.running_listed - ids)
        self.running_listed = {job["job_id"] for job in jobs if job.get("status") not in TERMINAL}
        if missing:
            raise contract_failure(case, "running_job_stays_listed",
                                   [f"job {job_id} was listed while running and is missing now" for job_id in missing])
        return None


#: Names of every check this module registers.
CHECK_NAMES = (
    "job_answer_shape", "job_status_known", "job_counters_are_integers", "job_times_are_iso8601",
    "job_end_time_matches_status", "job_elapsed_time_agrees", "job_counters_in_range",
    "job_ids_unique", "fake_job_details", "job_detail_is_the_requested_job", "job_status_never_backwards",
    "job_detail_matches_list", "running_job_stays_listed",
)
