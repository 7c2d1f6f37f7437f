"""What a contract run keeps of what it saw, and the drift from a baseline
(docs/evidence.md, "Drift").

Every exchange of the run with the jobs operations (Schemathesis's, through
the public ``after_call`` hook, and the suite's own, through the target)
becomes an :class:`~mock_server.evidence.har.Exchange`, redacted as any
cassette (the run's key masked wherever it appears). At the end:

- ``--record DIR``: they are written to ``DIR/contract-<stamp>.har``;
- ``--save FILE``: what the run observed is saved: the shape of the answers
  (:class:`~mock_server.evidence.shapes.Shape`: fields with their types and
  formats, enumeration values, status codes per operation, header names and
  fixed values) and the timing profile (the ``jobs`` parameters
  ``userpilot-mock calibrate`` measures);
- on a fake (whose clock the run drives), a *timing probe* first: a few
  jobs made for the purpose through the control API (:data:`PROBE_ROWS`),
  each read every :data:`PROBE_STEP` seconds of the fake's clock until it
  settles, so that the timing profile has each phase of several jobs; the
  real API is only polled as the lifecycle polls it, and its timings are
  measured from what those polls saw;
- ``--baseline FILE``: the same observations are compared with a saved
  file; each difference is a :class:`Drift` in the report and in JUnit.
  Shapes: a new or vanished field, a type, format or presence change, a new
  enumeration value, a new status code, a new, vanished or changed fixed
  header. Timing: a parameter measured in both whose estimate lies outside
  the baseline's interval (widened by :data:`TIMING_MARGIN` for noise).
  Values that always vary (ids, times, request ids) are never drift.

Uses :mod:`mock_server.evidence` and the run's target, not Schemathesis.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from mock_server.evidence.calibrate import DURATION_TOLERANCE, calibrate
from mock_server.evidence.har import Exchange, write_cassette
from mock_server.evidence.observe import operation_name, operation_of
from mock_server.evidence.redact import redact
from mock_server.evidence.shapes import Shape, differences, folded
from mock_server.times import format_ms

from .options import UsageError
from .target import job_path

#: The ``baseline:`` version of a saved observation file.
BASELINE_FORMAT = 1
#: A timing estimate this share beyond its baseline interval's bounds is drift.
TIMING_MARGIN = 0.05
#: Jobs the timing probe follows on a fake (their total_rows), the clock step between
#: its reads (seconds) and the most fake time it waits for them to settle.
PROBE_ROWS = (600, 1200, 1800, 2400, 3000, 3600)
PROBE_STEP = 5.0
PROBE_MAX_SECONDS = 4 * 3600.0
#: The timing parameters compared (the ``jobs`` section's, as calibrate measures them).
TIMING = ("queued_seconds", "validating_seconds", "pending_refresh_seconds", "rows_per_minute", "failure_share")
#: Those whose interval is the range of the measurements (a share's is a confidence interval):
#: a measurement of the run outside the baseline's interval is drift, not only its estimate.
SPREAD = ("queued_seconds", "validating_seconds", "pending_refresh_seconds", "rows_per_minute")


@dataclass(frozen=True)
class Drift:
    """One difference from the baseline: ``kind`` (``shape`` or
    ``timing``), ``operation``, ``what`` (the place and what changed),
    ``baseline`` and ``seen`` (one line each)."""

    kind: str
    operation: str
    what: str
    baseline: str
    seen: str

    def line(self) -> str:
        return f"{self.operation}: {self.what}: baseline {self.baseline}; now {self.seen}"


class RunEvidence:
    """The exchanges of one run (thread-safe), and what follows from them.
    ``secrets``: masked wherever they appear (the run's key)."""

    def __init__(self, secrets: tuple[str, ...] = ()):
        self.secrets = tuple(s for s in secrets if s)
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()

    def add(self, exchange: Exchange) -> None:
        """Keep one exchange (those of the control API are left out)."""
        if exchange.decoded_path.startswith("/__admin"):
            return
        kept = redact(exchange, self.secrets)
        with self._lock:
            self.exchanges.append(kept)

    def add_response(self, response) -> None:
        """Keep a Schemathesis ``Response`` (its ``request`` is the prepared request sent)."""
        request = response.request
        parts = urlsplit(request.url or "")
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        elapsed = float(response.elapsed or 0)
        headers = tuple((k, v) for k, values in response.headers.items() for v in values)
        self.add(Exchange(method=str(request.method or "GET").upper(), url=request.url or "", path=parts.path or "/",
                          query=tuple(parse_qsl(parts.query, keep_blank_values=True)),
                          request_headers=tuple((str(k), str(v)) for k, v in (request.headers or {}).items()),
                          request_body=body if isinstance(body, bytes) else b"", status=int(response.status_code),
                          reason=response.message or "", response_headers=headers, body=response.content or b"",
                          started=time.time() - elapsed, elapsed_ms=elapsed * 1000))

    def add_answer(self, method: str, url: str, request_headers: dict, request_body: bytes, answer,
                   started: float, elapsed: float) -> None:
        """Keep one of the suite's own requests (``answer``: a
        :class:`~contract_tests.target.Answer`)."""
        parts = urlsplit(url)
        self.add(Exchange(method=method.upper(), url=url, path=parts.path or "/",
                          query=tuple(parse_qsl(parts.query, keep_blank_values=True)),
                          request_headers=tuple(request_headers.items()), request_body=request_body,
                          status=answer.status, reason="", response_headers=tuple(answer.headers.items()),
                          body=answer.body, started=started, elapsed_ms=elapsed * 1000))

    # ------------------------------------------------------------ at the end
    def write(self, folder: str | Path, label: str) -> Path:
        """The exchanges as a cassette in ``folder`` (created); returns its path.
        Raises UsageError when it cannot be written."""
        folder = Path(folder)
        path = folder / f"contract-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.har"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            write_cassette(path, sorted(self.exchanges, key=lambda e: e.started),
                           comment=f"userpilot-mock contract against {label}")
        except OSError as exc:
            raise UsageError(f"cannot write the cassette in {folder}: {exc.strerror or exc}") from None
        return path

    def observed(self, label: str) -> dict:
        """What the run observed, as a baseline file holds it."""
        ordered = sorted(self.exchanges, key=lambda e: e.started)
        jobs = [e for e in ordered if operation_of(e) is not None]
        answers = [e for e in ordered if operation_name(e) is not None]  # every family's operations
        profile = calibrate(jobs, name="contract run")
        timing = {}
        for name in TIMING:
            parameter = profile.parameter("jobs", name)
            timing[name] = {"estimate": _plain(parameter.estimate), "observations": parameter.observations,
                            "interval": list(parameter.interval) if parameter.interval is not None else None,
                            "basis": parameter.basis}
        starts = [e.started for e in answers]
        return {"baseline": BASELINE_FORMAT, "target": label,
                "recorded": [format_ms(min(starts)), format_ms(max(starts))] if starts else None,
                "exchanges": len(answers), "shape": Shape.of(answers).document(), "timing": timing}


def follow_timing(target) -> int:
    """The timing probe (see the module docstring) on a fake ``target`` (a
    :class:`~contract_tests.target.Target` whose clock is frozen); its
    requests are kept like any other of the run. Returns how many jobs it
    followed to the end."""
    made = []
    for rows in PROBE_ROWS:
        answer = target.request("POST", "/__admin/jobs", auth=False, json_body={
            "api_key": target.api_key, "type": "export", "total_rows": rows,
            "filename": f"contract-timing-probe-{rows}.csv"})
        if answer.status in (200, 201):
            made.append(answer.json()["job_id"])
    running = list(made)
    waited = 0.0
    while running and waited <= PROBE_MAX_SECONDS:
        for job_id in list(running):
            answer = target.request("GET", job_path(job_id))
            try:
                status = answer.json().get("status") if answer.status == 200 else "gone"
            except (ValueError, AttributeError):
                status = "gone"
            if status in ("completed", "failed", "gone"):
                running.remove(job_id)
        if running:
            target.advance(PROBE_STEP)
            waited += PROBE_STEP
    return len(made) - len(running)


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def save(path: str | Path, observed: dict) -> None:
    """Write ``observed`` (JSON). Raises UsageError when it cannot be written."""
    try:
        Path(path).write_text(json.dumps(observed, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write the observations {path}: {exc.strerror or exc}") from None


def load_baseline(path: str | Path) -> dict:
    """A saved observation file. Raises UsageError naming the file for one
    that cannot be read or is not one."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read the baseline {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, ValueError):
        raise UsageError(f"the baseline {path} is not JSON (written by --save)") from None
    if not isinstance(document, dict) or document.get("baseline") != BASELINE_FORMAT:
        raise UsageError(f"the baseline {path} is not a contract observation file (baseline: {BASELINE_FORMAT}, "
                         "written by userpilot-mock contract --save)")
    try:
        Shape.from_document(document["shape"])
    except (KeyError, TypeError, ValueError, AttributeError):
        raise UsageError(f"the baseline {path} has no readable shape") from None
    return document


def drift(baseline: dict, observed: dict) -> list[Drift]:
    """Every :class:`Drift` of ``observed`` from ``baseline`` (see the module docstring)."""
    out: list[Drift] = []
    reference = Shape.from_document(baseline["shape"])
    run = Shape.from_document(observed["shape"])
    found = [d for d in differences(reference, run, enums=True)
             # a status code this run did not happen to provoke is not drift; a new one is
             if not (d.kind == "status code" and d.seen.startswith("never"))]
    for d in folded(found):
        out.append(Drift("shape", d.operation, f"{d.kind} {d.where}", d.expected, d.seen))
    for name in TIMING:
        base = (baseline.get("timing") or {}).get(name) or {}
        now = (observed.get("timing") or {}).get(name) or {}
        interval, estimate = base.get("interval"), now.get("estimate")
        if base.get("basis") != "measured" or now.get("basis") != "measured" or not interval \
                or not isinstance(estimate, (int, float)):
            continue
        low, high = interval
        margin = TIMING_MARGIN * max(abs(low), abs(high))
        if name.endswith("_seconds"):  # a duration's bounds are as wide as the polls that saw it
            margin = max(margin, DURATION_TOLERANCE)
        seen = now.get("interval") if name in SPREAD else None
        outside = not low - margin <= estimate <= high + margin
        if seen and not outside:  # a duration or a rate: every measurement of the run, not only its median
            outside = seen[0] < low - margin or seen[1] > high + margin
        if outside:
            out.append(Drift("timing", "jobs", name, f"{base.get('estimate')} within [{low}, {high}] "
                                                     f"({base.get('observations')} observations)",
                             f"{estimate}" + (f" within [{seen[0]}, {seen[1]}]" if seen else "")
                             + f" ({now.get('observations')} observations)"))
    return out


def timing_notes(baseline: dict, observed: dict) -> list[str]:
    """Timing parameters that could not be compared, and why (for the report's notes)."""
    notes = []
    for name in TIMING:
        base = (baseline.get("timing") or {}).get(name) or {}
        now = (observed.get("timing") or {}).get(name) or {}
        if base.get("basis") != "measured" or now.get("basis") != "measured":
            side, which = ("the baseline", base) if base.get("basis") != "measured" else ("this run", now)
            notes.append(f"drift: timing {name} not compared ({side}: {which.get('basis', 'not measured')})")
    return notes


__all__ = ["BASELINE_FORMAT", "Drift", "PROBE_ROWS", "RunEvidence", "TIMING", "drift", "follow_timing", "load_baseline",
           "save", "timing_notes"]
