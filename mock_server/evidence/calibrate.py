"""A profile fitted to recorded answers (``userpilot-mock calibrate``).

Each parameter of :data:`~mock_server.backend.profile.SECTIONS` has an
estimator here (:data:`ESTIMATORS`) that reads what the cassettes saw
(:mod:`.observe`) and gives ``(estimate, observations, interval)``; a
parameter with fewer observations than its spec's ``min_observations``
keeps its assumed default and says so in its ``basis``. A family that adds a
profile section adds its estimators to :data:`ESTIMATORS` the same way.

How each is measured (docs/evidence.md, "Calibrate"):

- phase durations: for every job seen in several polls, the instant each
  phase started lies between the last view before it and the first view in
  it (``start_time`` and ``end_time`` are exact; the processing phase's ends
  are refined from ``completed_rows`` over time); a duration counts when it
  is known to within 10 s (two polls 5 s apart). The fake draws from the
  range of these jobs' durations; the interval holds every job's bounds;
- rows per minute: the slope of ``completed_rows`` over time while a job
  processes (two single-job views or more);
- failure share and phase: the settled jobs seen, and for a failed one the
  last phase it was seen in (or ``completed_rows`` > 0: processing);
- list length: the first List Jobs answer of each app; job types and bytes
  per row by format: every distinct job;
- forms: every time text, running job, answer header, ``x-request-id``,
  List Jobs order and job id seen.
"""
from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..backend.generate import CSV_HEADER_BYTES, extension_of
from ..backend.lifecycle import PHASES, TERMINAL
from ..backend.profile import MEASURED, SECTIONS, Parameter, Profile, check_value, default_profile
from ..ids import is_app_token, is_job_id
from ..times import format_ms, parse_iso8601
from .har import Exchange
from .observe import Followed, app_token_of, follow, instants, list_answers, operation_of

#: A duration counts when known to within this many seconds (two polls 5 s apart).
DURATION_TOLERANCE = 10.0
#: Answer headers that are never a fixed value (per answer, per body, per connection).
VARYING_HEADERS = frozenset({"date", "content-length", "content-type", "x-request-id", "connection", "keep-alive",
                             "transfer-encoding", "via", "retry-after", "allow", "preference-applied",
                             "content-encoding", "vary", "etag", "last-modified", "age", "expires"})
_UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$")


@dataclass(frozen=True)
class Estimate:
    """What an estimator measured: ``value`` (what the fake would use),
    ``estimate`` (the point estimate, for people), ``observations``,
    ``interval`` (``(low, high)`` or None)."""

    value: object
    estimate: object
    observations: int
    interval: tuple[float, float] | None = None


class Evidence:
    """What a set of exchanges says, computed once for every estimator:
    ``exchanges`` (recorded order), ``at`` (their instants), ``jobs``
    (job_id -> :class:`~.observe.Followed`)."""

    def __init__(self, exchanges: Sequence[Exchange]):
        self.exchanges = list(exchanges)
        self.at = instants(self.exchanges)
        self.jobs = follow(self.exchanges, self.at)
        self._bounds: dict[str, dict] | None = None
        self._rates: dict[str, float] | None = None

    @property
    def api_answers(self) -> list[Exchange]:
        return [e for e in self.exchanges if operation_of(e) is not None]

    # ------------------------------------------------------------ rates
    def rates(self) -> dict[str, float]:
        """job_id -> rows per minute, from ``completed_rows`` while processing."""
        if self._rates is None:
            self._rates = {}
            for job_id, followed in self.jobs.items():
                points = sorted({(v.at, v.job["completed_rows"]) for v in followed.views
                                 if v.detail and v.job.get("status") == "processing"
                                 and isinstance(v.job.get("completed_rows"), int)
                                 and 0 < v.job["completed_rows"] < (v.job.get("total_rows") or 0)})
                if len({t for t, _rows in points}) < 2:
                    continue
                slope = _slope(points)
                if slope is not None and slope > 0:
                    self._rates[job_id] = slope * 60
        return self._rates

    # ----------------------------------------------------------- phases
    def bounds(self) -> dict[str, dict]:
        """job_id -> {phase: (low, high)} bounds of the instant each reached
        phase (and ``end``) began, for jobs seen in two polls or more."""
        if self._bounds is None:
            self._bounds = {job_id: b for job_id, followed in self.jobs.items()
                            if followed.polls >= 2 and (b := _phase_bounds(followed, self.rates().get(job_id)))}
        return self._bounds


def _slope(points: Sequence[tuple[float, float]]) -> float | None:
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return None
    return sum((t - mean_t) * (y - mean_y) for t, y in points) / var


def _phase_bounds(followed: Followed, rate: float | None) -> dict:
    """See :meth:`Evidence.bounds`."""
    last = followed.last
    start = parse_iso8601(last.get("start_time") or "") if isinstance(last.get("start_time"), str) else None
    if start is None:
        return {}
    order = {status: i for i, status in enumerate(PHASES)}
    views = [(v.at, v.job.get("status"), v.job) for v in followed.views]
    outcome = next((s for _t, s, _j in views if s in TERMINAL), None)
    end_text = next((j.get("end_time") for _t, s, j in views if s in TERMINAL and j.get("end_time")), None)
    end = parse_iso8601(end_text) if isinstance(end_text, str) else None
    reached = [p for p in PHASES if any(s == p for _t, s, _j in views)]
    if outcome == "completed":
        reached = list(PHASES)
    elif (outcome == "failed" and reached) or reached:
        reached = list(PHASES[: order[reached[-1]] + 1])
    # bounds from views whose instant is exact (a settled job's view placed by the wall clock may
    # be wrong by the clock's jumps on a fake); the end is end_time, exactly
    timed = [(v.at, v.job.get("status")) for v in followed.views if v.exact]
    out: dict[str, tuple[float, float]] = {"queued": (start, start)}
    for phase in reached[1:]:
        i = order[phase]
        before = [t for t, s in timed if s in order and order[s] < i]
        after = [t for t, s in timed if (s in order and order[s] >= i) or s in TERMINAL]
        if end is not None and outcome is not None:
            after.append(end)
        low = max([start, *before])
        high = min(after) if after else math.inf
        out[phase] = (low, high)
    if outcome is not None and end is not None:
        out["end"] = (end, end)
    # processing's ends from completed_rows over time (a job seen in processing with rows done)
    if rate and "processing" in out:
        total = last.get("total_rows")
        samples = [(v.at, v.job["completed_rows"]) for v in followed.views
                   if v.detail and v.job.get("status") == "processing" and isinstance(v.job.get("completed_rows"), int)
                   and isinstance(total, int) and 0 < v.job["completed_rows"] < total]
        if samples:
            began = statistics.median(t - rows * 60 / rate for t, rows in samples)
            low, high = out["processing"]
            if low - 1 <= began <= high + 1:
                out["processing"] = (began - 1, began + 1)
            if outcome == "completed" and isinstance(total, int) and "pending_refresh" in out:
                ended = began + total * 60 / rate
                low, high = out["pending_refresh"]
                if low - 1 <= ended <= high + 1:
                    out["pending_refresh"] = (ended - 1, ended + 1)
    return out


def _durations(evidence: Evidence, phase: str) -> list[tuple[float, float, float]]:
    """``(estimate, low, high)`` seconds of ``phase`` for every job whose
    phase is known closely enough (:data:`DURATION_TOLERANCE`)."""
    i = PHASES.index(phase)
    out = []
    for job_id, bounds in evidence.bounds().items():
        if phase not in bounds:
            continue
        nxt = PHASES[i + 1] if i + 1 < len(PHASES) else "end"
        if nxt not in bounds:
            followed = evidence.jobs[job_id]
            seen = {v.job.get("status") for v in followed.views}
            if followed.last.get("status") == "failed" and phase == "validating" and phase in seen \
                    and "end" in bounds:
                nxt = "end"  # failed while validating: validating ended at end_time
            else:
                continue
        (a_low, a_high), (b_low, b_high) = bounds[phase], bounds[nxt]
        if math.isinf(b_high):
            continue
        low, high = max(0.0, b_low - a_high), max(0.0, b_high - a_low)
        mid = (low + high) / 2
        if high - low <= DURATION_TOLERANCE:
            seconds = mid
            if phase == "validating":  # the fake adds 1 s per 2,000 rows itself
                seconds -= (evidence.jobs[job_id].last.get("total_rows") or 0) // 2000
                low, high = low - (mid - seconds), high - (mid - seconds)
            out.append((max(0.0, seconds), max(0.0, low), max(0.0, high)))
    return out


def _range(values: list[tuple[float, float, float]]) -> Estimate:
    """The fake draws from the range of the jobs' estimates; the interval
    holds every job's bounds (what a later measurement may fall in)."""
    estimates = [v for v, _l, _h in values]
    low, high = min(lo for _v, lo, _h in values), max(hi for _v, _l, hi in values)
    return Estimate([math.floor(min(estimates)), math.ceil(max(estimates))], round(statistics.median(estimates), 1),
                    len(values), (round(low, 1), round(high, 1)))


def phase_estimator(phase: str) -> Callable[[Evidence], Estimate | None]:
    def estimate(evidence: Evidence) -> Estimate | None:
        values = _durations(evidence, phase)
        return _range(values) if values else None
    return estimate


def rate_estimator(evidence: Evidence) -> Estimate | None:
    rates = list(evidence.rates().values())
    if not rates:
        return None
    value = statistics.median(rates)
    return Estimate(round(value, 1), round(value, 1), len(rates), (round(min(rates), 1), round(max(rates), 1)))


def _settled(evidence: Evidence) -> list[Followed]:
    return [f for f in evidence.jobs.values() if f.last.get("status") in TERMINAL]


def failure_share_estimator(evidence: Evidence) -> Estimate | None:
    settled = _settled(evidence)
    if not settled:
        return None
    failed = sum(1 for f in settled if f.last.get("status") == "failed")
    n = len(settled)
    share = failed / n
    low, high = _wilson(failed, n)
    return Estimate(round(share, 4), round(share, 4), n, (round(low, 4), round(high, 4)))


def _wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval (95%) of a share of ``k`` in ``n``."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _shares(counts: Counter, names: Sequence[str] | None = None) -> dict[str, float]:
    total = sum(counts.values())
    keys = list(names) if names else sorted(counts)
    raw = {k: counts.get(k, 0) / total for k in keys}
    rounded = {k: round(v, 4) for k, v in raw.items()}
    drift = round(1 - sum(rounded.values()), 4)
    if drift and rounded:
        top = max(rounded, key=lambda k: rounded[k])
        rounded[top] = round(rounded[top] + drift, 4)
    return rounded


def fail_at_estimator(evidence: Evidence) -> Estimate | None:
    counts: Counter = Counter()
    for followed in _settled(evidence):
        if followed.last.get("status") != "failed":
            continue
        seen = [v.job.get("status") for v in followed.views if v.job.get("status") in ("validating", "processing")]
        rows = [v.job.get("completed_rows") for v in followed.views if v.detail]
        if seen:
            counts[seen[-1]] += 1
        elif any(isinstance(r, int) and r > 0 for r in rows):
            counts["processing"] += 1
    if not counts:
        return None
    shares = _shares(counts, ("validating", "processing"))
    return Estimate(shares, shares, sum(counts.values()))


def list_length_estimator(evidence: Evidence) -> Estimate | None:
    firsts: dict[str, int] = {}
    for i, jobs in list_answers(evidence.exchanges):
        tokens = {t for j in jobs if isinstance(j, dict) and (t := app_token_of(str(j.get("job_id", ""))))}
        app = next(iter(tokens)) if len(tokens) == 1 else f"list {i}"
        if jobs and app not in firsts:
            firsts[app] = len(jobs)
    if not firsts:
        return None
    lengths = list(firsts.values())
    value = int(statistics.median(lengths))
    return Estimate(value, value, len(lengths), (min(lengths), max(lengths)))


def job_types_estimator(evidence: Evidence) -> Estimate | None:
    counts = Counter(f.last.get("type") for f in evidence.jobs.values() if isinstance(f.last.get("type"), str))
    if not counts:
        return None
    shares = _shares(counts)
    return Estimate(shares, shares, sum(counts.values()))


def row_bytes_estimator(evidence: Evidence) -> Estimate | None:
    per: dict[str, list[float]] = {}
    for followed in evidence.jobs.values():
        job = followed.last
        rows, size, name = job.get("total_rows"), job.get("file_size"), job.get("filename")
        if not (isinstance(rows, int) and rows > 0 and isinstance(size, int) and isinstance(name, str)):
            continue
        ext = extension_of(name)
        per.setdefault(ext, []).append((size - (CSV_HEADER_BYTES if ext == ".csv" else 0)) / rows)
    per = {ext: values for ext, values in per.items() if len(values) >= 3}
    if not per:
        return None
    value = {ext: [max(1, math.floor(min(v))), max(1, math.ceil(max(v)))] for ext, v in sorted(per.items())}
    estimate = {ext: round(statistics.median(v), 1) for ext, v in sorted(per.items())}
    return Estimate(value, estimate, min(len(v) for v in per.values()))


def _times(evidence: Evidence) -> list[re.Match]:
    out = []
    for followed in evidence.jobs.values():
        for view in followed.views:
            for name in ("start_time", "end_time"):
                value = view.job.get(name)
                if isinstance(value, str):
                    match = _TIME.match(value)
                    if match:
                        out.append(match)
    return out


def _mode(counts: Counter) -> tuple[object, int]:
    value, _count = counts.most_common(1)[0]
    return value, sum(counts.values())


def fraction_digits_estimator(evidence: Evidence) -> Estimate | None:
    counts = Counter(len(m.group(1) or "") for m in _times(evidence))
    if not counts:
        return None
    value, n = _mode(counts)
    return Estimate(value, value, n)


def time_zone_estimator(evidence: Evidence) -> Estimate | None:
    counts = Counter("Z" if m.group(2) == "Z" else m.group(2) for m in _times(evidence))
    counts = Counter({k: v for k, v in counts.items() if k in ("Z", "+00:00")})
    if not counts:
        return None
    value, n = _mode(counts)
    return Estimate(value, value, n)


def end_time_estimator(evidence: Evidence) -> Estimate | None:
    counts: Counter = Counter()
    for followed in evidence.jobs.values():
        for view in followed.views:
            if view.job.get("status") not in TERMINAL:
                counts["absent" if "end_time" not in view.job else "null" if view.job["end_time"] is None
                       else "set"] += 1
    counts.pop("set", None)
    if not counts:
        return None
    value, n = _mode(counts)
    return Estimate(value, value, n)


def headers_estimator(evidence: Evidence) -> Estimate | None:
    answers = evidence.api_answers
    if not answers:
        return None
    seen: dict[str, Counter] = {}
    for exchange in answers:
        for name, value in exchange.response_headers:
            seen.setdefault(name.lower(), Counter())[value] += 1
    fixed = {}
    for name, values in sorted(seen.items()):
        if name in VARYING_HEADERS or len(values) != 1:
            continue
        value, count = values.most_common(1)[0]
        if count >= 0.9 * len(answers):
            fixed[name] = value
    return Estimate(fixed, fixed, len(answers))


def request_id_estimator(evidence: Evidence) -> Estimate | None:
    counts = Counter(len(v) for e in evidence.api_answers for k, v in e.response_headers if k.lower() == "x-request-id")
    if not counts:
        return None
    value, n = _mode(counts)
    return Estimate(value, value, n)


def list_order_estimator(evidence: Evidence) -> Estimate | None:
    counts: Counter = Counter()
    for _i, jobs in list_answers(evidence.exchanges):
        parsed = [parse_iso8601(j["start_time"]) for j in jobs
                  if isinstance(j, dict) and isinstance(j.get("start_time"), str)]
        starts = [s for s in parsed if s is not None]
        if len(set(starts)) < 2:
            continue
        if starts == sorted(starts, reverse=True):
            counts["newest_first"] += 1
        elif starts == sorted(starts):
            counts["oldest_first"] += 1
        else:
            counts["unordered"] += 1
    if not counts:
        return None
    value, n = _mode(counts)
    if value == "unordered":
        return Estimate("newest_first", "unordered", 0)  # no order the fake can follow: the default stays
    return Estimate(value, value, n)


def job_id_shape(job_id: str) -> str:
    """The shape of a job id: ``bulk:jobs:{app_token}:{uuid4}``, ``{uuid4}``
    or ``other``."""
    if is_job_id(job_id):
        return "bulk:jobs:{app_token}:{uuid4}"
    if re.fullmatch(_UUID4, job_id):
        return "{uuid4}"
    token = app_token_of(job_id)
    if token is not None and re.fullmatch(_UUID4, job_id.rsplit(":", 1)[-1]):
        return "bulk:jobs:{app_token}:{uuid4}" if is_app_token(token) else "bulk:jobs:{other_token}:{uuid4}"
    return "other"


def job_id_estimator(evidence: Evidence) -> Estimate | None:
    counts = Counter(job_id_shape(job_id) for job_id in evidence.jobs)
    if not counts:
        return None
    value, n = _mode(counts)
    return Estimate(value, value, n)


def app_token_estimator(evidence: Evidence) -> Estimate | None:
    tokens = {app_token_of(job_id) for job_id in evidence.jobs} - {None}
    if not tokens:
        return None
    counts = Counter("NX-{hex8}" if is_app_token(t) else "other" for t in tokens)
    value, n = _mode(counts)
    return Estimate(value, value, n)


#: section -> parameter -> estimator(evidence) -> Estimate | None (nothing seen).
ESTIMATORS: dict[str, dict[str, Callable[[Evidence], Estimate | None]]] = {
    "jobs": {
        "queued_seconds": phase_estimator("queued"),
        "validating_seconds": phase_estimator("validating"),
        "pending_refresh_seconds": phase_estimator("pending_refresh"),
        "rows_per_minute": rate_estimator,
        "failure_share": failure_share_estimator,
        "fail_at": fail_at_estimator,
        "list_length": list_length_estimator,
        "job_types": job_types_estimator,
        "row_bytes": row_bytes_estimator,
    },
    "forms": {
        "time_fraction_digits": fraction_digits_estimator,
        "time_zone": time_zone_estimator,
        "end_time_while_running": end_time_estimator,
        "headers": headers_estimator,
        "request_id_length": request_id_estimator,
        "list_order": list_order_estimator,
        "job_id_shape": job_id_estimator,
        "app_token_shape": app_token_estimator,
    },
}


def calibrate(exchanges: Sequence[Exchange], *, name: str | None = None, sources: Sequence[str] = ()) -> Profile:
    """The profile the exchanges support (see the module docstring).
    ``name``: the profile's (default ``calibrated``); ``sources``: the
    cassettes' names, kept in its ``source``."""
    evidence = Evidence(exchanges)
    defaults = default_profile()
    sections: dict[str, dict[str, Parameter]] = {}
    for section, specs in SECTIONS.items():
        sections[section] = {}
        for spec in specs:
            default = defaults.parameter(section, spec.name)
            estimator = ESTIMATORS.get(section, {}).get(spec.name)
            found = estimator(evidence) if estimator is not None else None
            if found is None:
                sections[section][spec.name] = Parameter(default.value, None, 0, None, "default (assumed): not seen")
            elif found.observations < spec.min_observations:
                sections[section][spec.name] = Parameter(
                    default.value, _plain(found.estimate), found.observations, found.interval,
                    f"default (assumed): too few observations ({found.observations} of "
                    f"{spec.min_observations} needed)")
            else:
                sections[section][spec.name] = Parameter(
                    default.value if found.value is None else _canonical(spec, found.value),
                    _plain(found.estimate), found.observations, found.interval, MEASURED)
    starts = [e.started for e in exchanges]
    source = {"cassettes": list(sources), "exchanges": len(exchanges),
              "jobs_seen": len(evidence.jobs), "jobs_followed": len(evidence.bounds()),
              "recorded": [format_ms(min(starts)), format_ms(max(starts))] if starts else None}
    return Profile(name or "calibrated", sections, source)


def _plain(value):
    if isinstance(value, tuple):
        return list(value)
    return value


def _canonical(spec, value):
    """A measured value in the profile's canonical form (as loading checks it)."""
    return check_value(spec, value, "calibration")


#: The header of a profile file written by :func:`profile_yaml`.
HEADER = """\
# A userpilot-mock profile (docs/evidence.md, "The profile format"), written by
# `userpilot-mock calibrate`. Serve it with `userpilot-mock serve --profile FILE`.
#
# Each parameter: `value` is what the fake uses; `estimate` what was measured,
# from `observations` observations, within `interval` (low, high);
# `basis` is `measured`, or says why the assumed default is kept
# (docs/assumptions.md says which rows of the assumptions table each replaces).
# Sections: `jobs` (how jobs are made and timed), `forms` (how answers look).
"""


def profile_yaml(profile: Profile) -> str:
    """The profile as a documented YAML file (:data:`HEADER`, then the document)."""
    import yaml  # deferred: PyYAML is loaded only to write a profile

    document = profile.document()
    return HEADER + "\n" + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


__all__ = ["ESTIMATORS", "Estimate", "Evidence", "HEADER", "calibrate", "job_id_shape", "profile_yaml"]
