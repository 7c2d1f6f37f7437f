"""The coverage report of a client's tests: what they exercised through the
fake, over a documented universe, and what they never did, in plain words
(docs/coverage.md, "The universe").

Pure functions on JSON-able documents, no Flask: the fake answers
``GET /__admin/coverage`` with :func:`report`, and the pytest plugin merges
the reports of its fakes (one per xdist worker, and the in-process one) with
:func:`merge`, then prints :func:`text`. What a fake observed is
:meth:`mock_server.backend.coverage.CoverageRecorder.snapshot`.

The **universe** is derived, never listed by hand, so that a new operation
or job family joins it by itself:

- ``responses``: every operation of the kit spec times each status code it
  documents (``2XX``-style ranges count as one, ``default`` is left out);
- ``statuses``, ``transitions``, ``outcomes``: every job type of the job
  families and the generated histories, times the lifecycle's statuses, its steps
  (:data:`~mock_server.backend.lifecycle.TRANSITIONS`) and its ends
  (completed, failed at validating, failed at processing);
- ``faults``: every 4xx status the kit spec documents (429 counted only with
  ``Retry-After``), any ``5xx``, a delayed answer (``latency``) and the two
  body faults.

The percentage is the share of the universe's items exercised at least once.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from .backend.faults import FAULT_NAMES
from .backend.lifecycle import OUTCOMES, STATUSES, TRANSITIONS
from .spec import operations as spec_operations

#: The parts of the universe, in report order.
KINDS = ("responses", "statuses", "transitions", "outcomes", "faults")
#: Faults beside the documented 4xx statuses, in report order.
OTHER_FAULTS = ("5xx", "latency", *FAULT_NAMES)
RETRY_429 = "429 with Retry-After"

_FAULT_WORDS = {
    "5xx": "no test got a 5xx (a server error: a fault rule's status, Prefer: code=503 or --error-rate)",
    "latency": "no test got a delayed answer (a fault rule's latency_ms, or --latency)",
    "MALFORMED_RESPONSE_CHUNK": "no test got a body cut short (the fault MALFORMED_RESPONSE_CHUNK)",
    "RANDOM_DATA_THEN_CLOSE": "no test got a body that is not JSON (the fault RANDOM_DATA_THEN_CLOSE)",
    RETRY_429: "no test got a 429 with Retry-After (a fault rule's status 429, or --rate-limit)",
}


def universe(spec: dict, job_types: Sequence[str]) -> dict:
    """The universe of a fake serving ``spec`` (an OpenAPI document) whose
    jobs are of ``job_types``::

        {"operations": {opId: {"method": "GET", "path": "/v1/...", "codes": ["200", "401"]}},
         "job_types": [...], "statuses": [...], "transitions": ["queued -> validating", ...],
         "outcomes": [...], "faults": ["401", ..., "429 with Retry-After", "5xx", "latency", ...]}
    """
    ops: dict[str, dict] = {}
    errors: set[int] = set()
    for path, method, op in spec_operations(spec):
        operation_id = op.get("operationId") or f"{method.upper()} {path}"
        codes = [str(code) for code in (op.get("responses") or {}) if str(code) != "default"]
        codes.sort(key=lambda c: (c[0], c))
        ops[operation_id] = {"method": method.upper(), "path": path, "codes": codes}
        errors.update(int(c) for c in codes if c.isdigit() and 400 <= int(c) < 500)
    faults = [RETRY_429 if code == 429 else str(code) for code in sorted(errors)]
    return {
        "operations": ops,
        "job_types": list(job_types),
        "statuses": list(STATUSES),
        "transitions": [f"{a} -> {b}" for a, b in TRANSITIONS],
        "outcomes": list(OUTCOMES),
        "faults": [*faults, *OTHER_FAULTS],
    }


def empty_observed() -> dict:
    """The observations of a fake that saw nothing."""
    return {"operations": {}, "unrouted": {}, "statuses": {}, "transitions": {}, "outcomes": {}, "faults": {},
            "scenarios": {}}


def _code_seen(codes: dict, code: str) -> bool:
    if code in codes:
        return codes[code]["answers"] > 0
    if len(code) == 3 and code[1:].upper() == "XX":  # a documented range: any code in it
        return any(c[0] == code[0] and v["answers"] > 0 for c, v in codes.items())
    return False


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _items(observed: dict, space: dict):
    """``(kind, exercised?, sentence or None)`` for every item of the
    universe; the sentence says what was missed (one sentence for an
    operation never called, or a job type never seen, stands for all its
    items: None for the others)."""
    observed_ops = observed.get("operations") or {}
    for operation_id, op in space["operations"].items():
        seen = observed_ops.get(operation_id) or {}
        codes = seen.get("codes") or {}
        never = not seen.get("calls")
        for i, code in enumerate(op["codes"]):
            hit = _code_seen(codes, code)
            if hit:
                yield "responses", True, None
            elif never:
                yield "responses", False, (f"no test called {operation_id} ({op['method']} {op['path']})"
                                           if i == 0 else None)
            else:
                yield "responses", False, f"no test got {code} from {operation_id}"
    for job_type in space["job_types"]:
        a = f"{_article(job_type)} {job_type} job"
        statuses = (observed.get("statuses") or {}).get(job_type) or {}
        transitions = (observed.get("transitions") or {}).get(job_type) or {}
        outcomes = (observed.get("outcomes") or {}).get(job_type) or {}
        if not statuses:
            first = True
            for kind in ("statuses", "transitions", "outcomes"):
                for _item in space[kind]:
                    yield kind, False, (f"no test saw {a} (no answer showed one)" if first else None)
                    first = False
            continue
        for status in space["statuses"]:
            yield "statuses", status in statuses, (None if status in statuses else
                                                   f"no test saw {a} in status {status}")
        for step in space["transitions"]:
            before, _, after = step.partition(" -> ")
            yield "transitions", step in transitions, (None if step in transitions else
                                                       f"no test polled {a} from {before} to {after}")
        for outcome in space["outcomes"]:
            words = "complete" if outcome == "completed" else outcome.replace("failed", "fail", 1)
            yield "outcomes", outcome in outcomes, None if outcome in outcomes else f"no test saw {a} {words}"
    faults = observed.get("faults") or {}
    for fault in space["faults"]:
        hit = (faults.get(fault) or {}).get("answers", 0) > 0
        words = _FAULT_WORDS.get(fault) or f"no test got a {fault} from any operation"
        yield "faults", hit, None if hit else words


def report(observed: dict, space: dict) -> dict:
    """The report of ``observed`` (a recorder's snapshot, or merged ones)
    over ``space`` (:func:`universe`)::

        {"summary": {"percent": 41.2, "exercised": 21, "total": 51,
                     "by_kind": {"responses": {"exercised": 4, "total": 10}, ...}},
         "missed": ["no test got 409 from createImport", ...],
         "observed": observed, "universe": space}

    ``percent``: exercised over total, one decimal (100.0 for an empty universe)."""
    by_kind = {kind: {"exercised": 0, "total": 0} for kind in KINDS}
    missed = []
    for kind, hit, sentence in _items(observed, space):
        by_kind[kind]["total"] += 1
        by_kind[kind]["exercised"] += hit
        if sentence is not None:
            missed.append(sentence)
    exercised = sum(k["exercised"] for k in by_kind.values())
    total = sum(k["total"] for k in by_kind.values())
    percent = round(100.0 * exercised / total, 1) if total else 100.0
    return {"summary": {"percent": percent, "exercised": exercised, "total": total, "by_kind": by_kind},
            "missed": missed, "observed": observed, "universe": space}


def _add(into: dict, other: dict) -> None:
    """Add the counters of ``other`` into ``into`` (nested dicts of ints)."""
    for key, value in other.items():
        if isinstance(value, dict):
            _add(into.setdefault(key, {}), value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            into[key] = into.get(key, 0) + value


def _union(lists: Iterable[Sequence[str]]) -> list[str]:
    return list(dict.fromkeys(item for items in lists for item in items))


def merge(reports: Sequence[dict]) -> dict:
    """One report of several fakes' (``reports``: :func:`report` documents):
    the counters added up, the universes united. Raises KeyError / TypeError
    for a document of another shape."""
    observed = empty_observed()
    ops: dict[str, dict] = {}
    for one in reports:
        _add(observed, one["observed"])
        for operation_id, op in one["universe"]["operations"].items():
            mine = ops.setdefault(operation_id, {"method": op["method"], "path": op["path"], "codes": []})
            mine["codes"] = _union([mine["codes"], op["codes"]])
    space: dict = {"operations": ops}
    for key in ("job_types", "statuses", "transitions", "outcomes", "faults"):
        space[key] = _union(one["universe"][key] for one in reports)
    for section in ("operations", "statuses", "transitions", "outcomes", "faults", "scenarios"):
        observed[section] = dict(sorted(observed[section].items()))
    return report(observed, space)


def _ordered(counts: dict, order: Sequence[str]) -> dict:
    """``counts`` with the keys of ``order`` first, in that order."""
    return {**{k: counts[k] for k in order if k in counts}, **{k: v for k, v in counts.items() if k not in order}}


def _counts(pairs: dict, injected: dict | None = None) -> str:
    return ", ".join(f"{k} x{v}" + (f" ({injected[k]} injected)" if injected and injected.get(k) else "")
                     for k, v in pairs.items())


def text(document: dict) -> list[str]:
    """The report as lines for a terminal: the figure, the operations and
    their codes, the jobs seen, the faults and scenarios, then every missed
    item in plain words."""
    summary = document["summary"]
    observed = document["observed"]
    space = document["universe"]
    lines = [f"userpilot-mock coverage: {summary['exercised']} of {summary['total']} "
             f"({summary['percent']:.1f}%)",
             "  " + "   ".join(f"{kind} {v['exercised']}/{v['total']}" for kind, v in summary["by_kind"].items())]
    lines.append("operations:")
    ops = observed.get("operations") or {}
    width = max((len(op) for op in space["operations"]), default=0)
    for operation_id, op in space["operations"].items():
        seen = ops.get(operation_id) or {}
        route = f"{op['method']} {op['path']}"
        if not seen.get("calls"):
            lines.append(f"  {operation_id:<{width}}  {route}: not called")
            continue
        codes = {code: v["answers"] for code, v in seen["codes"].items()}
        injected = {code: v["injected"] for code, v in seen["codes"].items()}
        parts = [_counts(codes, injected)] if codes else []
        if seen.get("body_faults"):
            parts.append(_counts(seen["body_faults"]))
        lines.append(f"  {operation_id:<{width}}  {route}: {seen['calls']} calls: {', '.join(parts)}")
    for operation_id in ops:
        if operation_id not in space["operations"]:  # served by a fake with another spec
            lines.append(f"  {operation_id}: {ops[operation_id]['calls']} calls")
    if observed.get("unrouted"):
        lines.append(f"  (no operation): {_counts(observed['unrouted'])}")
    lines.append("jobs seen, per type:")
    types = _union([space["job_types"], list(observed.get("statuses") or {})])
    for job_type in types:
        statuses = (observed.get("statuses") or {}).get(job_type)
        if not statuses:
            lines.append(f"  {job_type}: none")
            continue
        lines.append(f"  {job_type}: statuses {_counts(_ordered(statuses, space['statuses']))}")
        transitions = (observed.get("transitions") or {}).get(job_type) or {}
        steps = _ordered({k: v for k, v in transitions.items() if k in space["transitions"]}, space["transitions"])
        jumps = {k: v for k, v in sorted(transitions.items()) if k not in space["transitions"]}
        lines.append(f"  {' ' * len(job_type)}  transitions {_counts(steps) or 'none'}"
                     + (f"; across phases between two reads: {_counts(jumps)}" if jumps else ""))
        outcomes = _ordered((observed.get("outcomes") or {}).get(job_type) or {}, space["outcomes"])
        lines.append(f"  {' ' * len(job_type)}  outcomes {_counts(outcomes) or 'none'}")
    faults = observed.get("faults") or {}
    faults = _ordered(faults, space["faults"])
    lines.append("faults: " + (_counts({k: v["answers"] for k, v in faults.items()},
                                       {k: v["injected"] for k, v in faults.items()}) or "none"))
    lines.append("scenarios: " + (_counts(observed.get("scenarios") or {}) or "none"))
    missed = document["missed"]
    lines.append(f"never exercised ({summary['total'] - summary['exercised']} of {summary['total']}):"
                 if missed else "never exercised: nothing")
    lines.extend(f"  - {sentence}" for sentence in missed)
    return lines


__all__ = ["KINDS", "OTHER_FAULTS", "empty_observed", "merge", "report", "text", "universe"]
