"""What recorded answers say about jobs: the instant each answer describes,
and every view of every job, in order.

The instant of an answer is read from the answer itself where it can be: a
job that is not terminal shows ``start_time`` and ``elapsed_time`` (seconds
since it started), so ``start_time + elapsed_time`` is the instant the
answer describes, on the server's own clock (the real API's, or a fake's
clock however it was moved). An answer with no running job takes the
instant of the previous one that had one, plus the wall-clock time between
the two (the ``startedDateTime`` of the exchanges); before the first such
answer, the next one's minus the same. A cassette with no running job at
all has the wall clock only.

No HTTP here beyond reading recorded exchanges.
"""
from __future__ import annotations

import re
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from ..backend.lifecycle import STATUSES, TERMINAL
from ..spec import load_spec, operations
from ..times import parse_iso8601
from .har import Exchange

#: The paths of the jobs operations (the operations a cassette's jobs come from).
LIST_PATH = "/v1/background_jobs"
JOB_PATH = re.compile(r"^/v1/background_jobs/([^/]+)$")
IMPORT_PATH = "/v1/imports"


def jobs_in(exchange: Exchange) -> list[dict]:
    """The job objects of a 2xx jobs answer (a list, one job, an import's
    job), ``[]`` for any other answer."""
    if not 200 <= exchange.status < 300:
        return []
    body = exchange.json()
    if isinstance(body, list):
        return [j for j in body if isinstance(j, dict) and isinstance(j.get("job_id"), str)]
    if isinstance(body, dict) and isinstance(body.get("job_id"), str):
        return [body]
    return []


def operation_of(exchange: Exchange) -> str | None:
    """``listJobs``, ``getJob`` or ``createImport`` for an exchange of the
    jobs operations, None for anything else."""
    path = exchange.decoded_path.rstrip("/") or "/"
    if exchange.method == "GET" and path == LIST_PATH:
        return "listJobs"
    if exchange.method == "GET" and JOB_PATH.match(path):
        return "getJob"
    if exchange.method == "POST" and path == IMPORT_PATH:
        return "createImport"
    return None


@cache
def _spec_operations() -> tuple[tuple[str, re.Pattern, str], ...]:
    """``(METHOD, path pattern, operationId)`` of every operation of the kit
    spec, literal paths before templated ones."""
    out = []
    for path, method, op in operations(load_spec("kit")):
        template = path.rstrip("/") or "/"
        pattern = re.compile("^" + re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(template)) + "/?$")
        out.append((template.count("{"), method.upper(), pattern, op.get("operationId") or f"{method.upper()} {path}"))
    return tuple((m, p, name) for _params, m, p, name in sorted(out, key=lambda o: o[0]))


def operation_name(exchange: Exchange) -> str | None:
    """The kit spec's operationId of an exchange of any family
    (``listJobs``, ``getExportJob``, ``bulkIdentifyUsers``...), None for a
    request of no operation (a health probe, a file download)."""
    path = exchange.decoded_path
    method = exchange.method.upper()
    for op_method, pattern, name in _spec_operations():
        if op_method == method and pattern.match(path):
            return name
    return None


def running_instant(jobs: Sequence[dict]) -> float | None:
    """The instant ``start_time + elapsed_time`` of the answer's running jobs
    (their median), None when it has none that says."""
    seen = []
    for job in jobs:
        if job.get("status") in TERMINAL or job.get("status") not in STATUSES:
            continue
        start, elapsed = parse_iso8601(job.get("start_time") or "") if isinstance(job.get("start_time"), str) \
            else None, job.get("elapsed_time")
        if start is not None and isinstance(elapsed, (int, float)) and not isinstance(elapsed, bool):
            seen.append(start + elapsed)
    return statistics.median(seen) if seen else None


def instants(exchanges: Sequence[Exchange]) -> list[float]:
    """The instant each exchange's answer describes (see the module
    docstring), in the order given (the order recorded)."""
    known = [running_instant(jobs_in(e)) for e in exchanges]
    out: list[float | None] = list(known)
    last: tuple[float, float] | None = None
    for i, e in enumerate(exchanges):
        if known[i] is not None:
            last = (known[i], e.started)  # type: ignore[assignment]
        elif last is not None:
            out[i] = last[0] + (e.started - last[1])
    first = next((i for i, t in enumerate(known) if t is not None), None)
    for i in range(len(exchanges)):
        if out[i] is None:
            out[i] = (known[first] - (exchanges[first].started - exchanges[i].started)  # type: ignore[operator]
                      if first is not None else exchanges[i].started)
    return [float(t) for t in out]  # type: ignore[arg-type]


@dataclass
class Seen:
    """One view of one job: ``at`` (the answer's instant), ``job`` (the
    object as answered), ``detail`` (a single-job answer, with
    ``completed_rows``), ``exchange`` (its index in the cassette),
    ``exact`` (the instant was read from the answer's own running jobs, not
    placed by the wall clock: always so for a view of a running job)."""

    at: float
    job: dict
    detail: bool
    exchange: int
    exact: bool = True


@dataclass
class Followed:
    """Every view of one job, in order (``views``), and what is known of it."""

    job_id: str
    views: list[Seen] = field(default_factory=list)

    @property
    def last(self) -> dict:
        return self.views[-1].job

    @property
    def statuses(self) -> list[tuple[float, Any]]:
        return [(v.at, v.job.get("status")) for v in self.views]

    @property
    def polls(self) -> int:
        """Distinct instants it was seen at."""
        return len({v.at for v in self.views})


def follow(exchanges: Sequence[Exchange], at: Sequence[float] | None = None) -> dict[str, Followed]:
    """job_id -> :class:`Followed`, over every jobs answer of ``exchanges``
    (recorded order; ``at``: their instants, default :func:`instants`)."""
    at = instants(exchanges) if at is None else at
    out: dict[str, Followed] = {}
    for i, exchange in enumerate(exchanges):
        operation = operation_of(exchange)
        if operation is None:
            continue
        jobs = jobs_in(exchange)
        exact = running_instant(jobs) is not None
        for job in jobs:
            followed = out.setdefault(job["job_id"], Followed(job["job_id"]))
            followed.views.append(Seen(at[i], job, operation != "listJobs", i, exact))
    for followed in out.values():
        followed.views.sort(key=lambda v: (v.at, v.exchange))
    return out


def list_answers(exchanges: Sequence[Exchange]) -> Iterator[tuple[int, list]]:
    """``(index, jobs)`` of every 200 List Jobs answer that is a JSON array."""
    for i, exchange in enumerate(exchanges):
        if operation_of(exchange) == "listJobs" and exchange.status == 200:
            body = exchange.json()
            if isinstance(body, list):
                yield i, body


def app_token_of(job_id: str) -> str | None:
    """The app token inside a ``bulk:jobs:<token>:<uuid>`` job id, None for another shape."""
    parts = job_id.split(":")
    return parts[2] if len(parts) == 4 and parts[0] == "bulk" and parts[1] == "jobs" else None


__all__ = ["Followed", "Seen", "app_token_of", "follow", "instants", "jobs_in", "list_answers", "operation_name",
           "operation_of", "running_instant"]
