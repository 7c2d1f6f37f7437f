"""One contract run: Schemathesis's phases with the kit's checks, then the
lifecycle polls, known deviations applied, one :class:`~.report.Report`.

Used by ``userpilot-mock contract`` and by ``pytest --pyargs contract_tests``
(the same code, the same ``schemathesis.toml``, the same known deviations).
"""
from __future__ import annotations

import os
import random
import re
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import requests
import schemathesis
from hypothesis.configuration import set_hypothesis_home_dir

from mock_server.times import parse_instant

from . import _schemathesis, checks, deviations, export_checks, hooks, specs, state
from .catalogue import rule_for, tag_for
from .flows import Flows
from .lifecycle import Lifecycle
from .operations import (
    BULK_OPS,
    EXPORT_JOB_OPS,
    OPERATIONS,
    REALTIME_OPS,
    TRIGGER_OP,
    label,
    on_exports_host,
    operation_index,
)
from .options import DEFAULT_POLL_INTERVAL, KEEP_CLOCK_POLL_INTERVAL, ContractOptions, NoAnswer, TargetError, UsageError
from .progress import Progress
from .report import Finding, Report
from .target import Target, curl_of, no_answer_reason, open_target

#: Checks that send methods the spec does not list: off when the run may only read.
WRITING_CHECKS = ("unsupported_method", "allow_header_conformance")


def config_path() -> Path:
    """``schemathesis.toml``: in the wheel next to this package, in a
    checkout at the repository root. Raises FileNotFoundError."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "schemathesis.toml", here.parent / "schemathesis.toml"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("schemathesis.toml of the contract kit not found (broken install?)")


def run_contract(options: ContractOptions) -> Report:
    """Run the whole suite as ``options`` say; returns the report (written to
    ``options.junit`` too when set).

    Writes no file unless asked to (``options.junit``; Hypothesis's storage
    only where ``HYPOTHESIS_STORAGE_DIRECTORY`` points).

    Progress goes to stderr (``options.progress_stream``) unless
    ``options.quiet``. A target that stops answering mid-run is a finding
    (``target_keeps_answering``), not an error: the report says after how
    many requests, with the last request sent.

    Raises UsageError (exit 2) for bad options or a malformed known-deviations
    file, TargetError (exit 3) when the target cannot be reached at all or
    needs a key it was not given (MissingKey).
    """
    with _no_hypothesis_files():
        return _run_contract(options)


@contextmanager
def _no_hypothesis_files():
    """Hypothesis keeps caches (constants, examples) under ``./.hypothesis``
    in the working directory; for the block, under a scratch directory that
    is removed afterwards, unless ``HYPOTHESIS_STORAGE_DIRECTORY`` names
    where to keep them."""
    if os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="userpilot-contract-") as scratch:
        set_hypothesis_home_dir(scratch)
        try:
            yield
        finally:
            set_hypothesis_home_dir(None)


class _Stopped(Exception):
    """The target stopped answering: the finding is in the report, the run ends."""


#: The engine's phases the progress line shows, as it names them (the others take no time).
PHASES = {"probing": "probing the target", "examples": "examples phase", "coverage": "coverage phase",
          "fuzzing": "fuzzing phase", "stateful": "stateful phase"}


def _run_contract(options: ContractOptions) -> Report:
    opts = options.validated()
    if opts.seed is None:  # one seed for the data and the fake, printed so a run can be repeated
        opts.seed = random.getrandbits(32)
    known = deviations.load()
    index = operation_index(opts.spec)
    labels = {op: label(op, *where) for op, where in index.items()}
    wanted = set(opts.operations) if opts.operations is not None else None
    if wanted is not None:
        unknown = wanted - set(index) - {f"{m} {p}" for m, p in index.values()}
        if unknown:
            raise UsageError(f"unknown operation(s) {', '.join(sorted(unknown))} in the {opts.spec} spec "
                             f"(known: {', '.join(index)})")
    progress = Progress(opts.progress_stream, enabled=not opts.quiet)  # type: ignore[arg-type]
    traffic = state.Traffic(listener=progress.sent)
    try:
        return _run(opts, known, index, labels, wanted, progress, traffic)
    finally:
        progress.close()


def _run(opts: ContractOptions, known, index, labels, wanted, progress: Progress, traffic: state.Traffic) -> Report:
    started = time.monotonic()
    target = open_target(opts, traffic=traffic)
    writes = target.is_fake or opts.allow_writes
    moves_clock = target.is_fake and opts.clock == "move"
    poll_interval = opts.poll_interval if opts.poll_interval is not None else (
        KEEP_CLOCK_POLL_INTERVAL if target.is_fake else DEFAULT_POLL_INTERVAL)
    selected = [op for op, (method, path) in index.items()
                if (wanted is None or op in wanted or f"{method} {path}" in wanted)
                and (writes or method == "GET")]
    report = Report(target=target.label, spec=opts.spec, seed=opts.seed, assumptions=opts.assumptions,
                    operations=[labels[op] for op in selected], secrets=target.secrets)
    if target.exports_url != target.base_url:
        report.notes.append("the exports operations (/api/v1/analytics/exports...) go to "
                            + report.foreign(target.exports_url) + " (--exports-url)")
    if not writes and len(selected) < len(labels):
        report.notes.append("read-only: " + ", ".join(op for op in labels if op not in selected)
                            + " not sent (the target is not a fake; --allow-writes sends it)")
    dying = _Dying(target, report, index, labels)
    try:
        schema, max_examples = _schema(opts, target, selected, writes)
        lifecycle = Lifecycle(target, report, labels, strict=target.is_fake, moves_clock=moves_clock,
                              poll_interval=poll_interval, max_wait=opts.max_wait,
                              enabled=lambda check: _schemathesis.check_enabled(schema, check),
                              immutable=_immutable_fields(schema))
        now, frozen = _instant(target, moves_clock)
        run = state.RunState(api_key=target.api_key, read_only=not writes,
                             throttle=None if target.is_fake else target.throttle,
                             strict_fake=target.is_fake, frozen=frozen, traffic=traffic,
                             now=(lambda _response: now) if target.is_fake else checks.date_header_now)
        with state.active(run):
            try:
                if selected:
                    report.max_examples = max_examples
                    _run_schemathesis(schema, dying, labels, opts.spec, progress)
                lifecycle.now = now
                flows = Flows(lifecycle, selected=selected, writes=writes, seed=opts.seed,
                              no_key_gets=_no_key_gets(opts.spec, index))
                for name, step, needs in (
                        ("lifecycle polls", lifecycle.run_polls, {"listJobs"}),
                        ("imports", lifecycle.run_imports, {"createImport"}),
                        ("real-time calls", flows.run_realtime, REALTIME_OPS),
                        ("bulk identify", flows.run_bulk, BULK_OPS),
                        ("exports", flows.run_exports, EXPORT_JOB_OPS | {TRIGGER_OP}),
                        ("declared authentication", flows.run_declared_auth, {op for op, _ in flows.no_key_gets})):
                    if needs & set(selected):
                        progress.phase(name)
                        try:
                            step()
                        except NoAnswer as exc:
                            dying.no_answer(exc.error, reached=exc.reached, why=exc.why, phase="lifecycle")
            except _Stopped:
                pass
    finally:
        report.requests = traffic.sent
        target.close()
        report.clock = _clock_sentence(target, opts.clock, poll_interval)
    deviations.apply(report, known)
    report.seconds = time.monotonic() - started
    if opts.junit:
        try:
            Path(opts.junit).write_text(report.junit(), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write the JUnit report {opts.junit}: {exc.strerror or exc}") from None
    return report


def _no_key_gets(spec_name: str, index: dict[str, tuple[str, str]]) -> list[tuple[str, str]]:
    """``[(operation id, path)]`` of the GET operations of the spec that declare no API key."""
    spec = specs.load(spec_name)
    return [(op, path) for op, (method, path) in index.items()
            if method == "GET" and specs.declares_no_key(spec, path, method)]


def _instant(target: Target, moves_clock: bool) -> tuple[float | None, bool]:
    """``(the instant every answer describes or None, is it fixed)``: a fake
    whose clock the run moves is frozen now; a fake kept as it is has a
    fixed instant only when its clock is frozen already; any other server
    has none (each answer's Date header says)."""
    if moves_clock:
        return target.freeze(), True
    if target.is_fake:
        clock = target.clock()
        if clock.get("frozen"):
            return float(int(parse_instant(clock["now"]))), True
    return None, False


def _clock_sentence(target: Target, clock: str, poll_interval: float) -> str | None:
    """What the report says about a running fake's clock (None in-process:
    a fresh fake, thrown away; None for a server that is not a fake)."""
    if target.kind != "fake":
        return None
    if clock == "keep":
        return (f"the fake's clock was not moved (--clock keep): the lifecycle checks polled in real time, "
                f"{poll_interval:g} s apart")
    if target.clock_move is not None:
        return target.clock_move.describe()
    return None


def _schema(opts: ContractOptions, target: Target, selected: list[str], writes: bool):
    """``(schema, max examples)``: the spec ``opts`` names as a Schemathesis
    schema, configured by ``schemathesis.toml`` and for this run's target,
    limited to the ``selected`` operations; examples per operation and phase."""
    config = _schemathesis.load_config(config_path(), seed=opts.seed)
    spec = specs.load(opts.spec)
    base_url: str | None = target.base_url
    if target.app is None and target.exports_url != target.base_url:
        # the exports live on their own host: path-level servers, which Schemathesis honours only when no base
        # URL is configured, so the document's own servers say where the rest goes
        specs.with_exports_host(spec, target.exports_url, on_exports_host)
        spec["servers"], base_url = [{"url": target.base_url}], None
    schema = schemathesis.openapi.from_dict(spec, config=config)
    max_examples = _schemathesis.configure(
        schema, base_url=base_url, app=target.app, max_examples=opts.max_examples,
        # not a fake: Schemathesis honours Retry-After; the run's Throttle keeps the pace
        adaptive_rate_limit=target.app is None and not target.is_fake,
        # read-only: no check or phase may send another method
        excluded_checks=() if writes else WRITING_CHECKS, unexpected_methods=writes)
    wanted = set(selected)
    # exclude, not include: with [[operations]] tables in schemathesis.toml (4.32.5) the configuration's own
    # include filter already selects every operation, and includes are OR-ed, so an include selects nothing less
    return schema.exclude(lambda ctx: OPERATIONS.get((ctx.operation.method.upper(), ctx.operation.path),
                                                     f"{ctx.operation.method.upper()} {ctx.operation.path}")
                          not in wanted), max_examples


def _immutable_fields(schema) -> tuple[str, ...]:
    """``[checks.job_detail_matches_list] immutable`` of the schema's
    configuration, read as Schemathesis reads it (the check's keyword
    arguments). Raises UsageError for options the check refuses."""
    options = _schemathesis.check_options(schema, "job_detail_matches_list")
    try:
        return checks.job_detail_matches_list(**options).immutable
    except (TypeError, ValueError) as exc:
        raise UsageError(f"schemathesis.toml: [checks.job_detail_matches_list]: {exc}") from None


def _run_schemathesis(schema, dying: _Dying, labels: dict[str, str], spec: str, progress: Progress) -> None:
    """Schemathesis's phases (examples, coverage, fuzzing, stateful) with
    every enabled check; failures become findings of the report, and so
    does a target that stops answering (:class:`_Dying`)."""
    report = dying.report
    phase = ""
    for event in _schemathesis.execute(schema):
        if isinstance(event, _schemathesis.PhaseChange):
            phase = event.name
            if phase in PHASES:
                progress.phase(PHASES[phase])
        elif isinstance(event, _schemathesis.ScenarioResult):
            _collect(event, report, labels, spec)
        elif event.fatal:
            report.errors.append(f"{type(event.error).__name__}: {report.foreign(event.error)}")
        elif event.outage:
            dying.no_answer(None, reached=False, why=dying.target.traffic.last_failure or "no answer",
                            phase=phase, dead=True)
        else:
            error = event.error
            if isinstance(error, hooks.ReadOnlyViolation) or isinstance(error.__cause__, hooks.ReadOnlyViolation):
                report.notes.append(f"read-only: a request was not sent ({report.foreign(error.__cause__ or error)})")
                continue
            if _is_unreachable(error):
                reached, why = no_answer_reason(error)
                dying.no_answer(error, reached=reached, why=why, phase=phase)
                continue
            report.errors.append(f"{event.label}: {type(error).__name__}: {report.foreign(error)}")


def _is_unreachable(error: BaseException) -> bool:
    return isinstance(error, (requests.ConnectionError, requests.Timeout))


class _Dying:
    """What to do when a request gets no answer (:meth:`no_answer`)."""

    def __init__(self, target: Target, report: Report, index: dict[str, tuple[str, str]],
                 labels: dict[str, str]):
        self.target = target
        self.report = report
        self.index = index
        self.labels = labels

    def no_answer(self, error: BaseException | None, *, reached: bool, why: str, phase: str,
                  dead: bool | None = None) -> None:
        """A request got no answer (``error``: the client's exception, whose
        ``request`` is what was sent; ``reached``: it got to the target).

        Nothing answered yet: TargetError (exit 3, cannot reach). The target
        still accepts connections (tried, unless ``dead`` says): a finding
        for that request when it reached the target, else an error; the run
        goes on. Nothing listens any more: a ``target_keeps_answering``
        finding saying after how many requests, with the curl of the last
        request sent, and :class:`_Stopped`.
        """
        target, report, traffic = self.target, self.report, self.target.traffic
        if not traffic.answered:
            raise TargetError(f"cannot reach {target.label}: {why}")
        if dead is None:
            dead = not target.accepts_connections()
        rule = rule_for("target_keeps_answering")
        if not dead:
            request = getattr(error, "request", None)
            if reached and request is not None:
                report.add(Finding(operation=self.operation_of(request), check="target_keeps_answering",
                                   tag=rule.tag, expected=rule.rule,
                                   seen=f"no answer to this request: {why}; the target still accepts "
                                        "connections, and the run went on",
                                   curl=curl_of(request, api_key=target.api_key), phase=phase))
            else:
                report.errors.append(f"a request could not reach {target.label} ({why}); it accepted "
                                     "connections again right after")
            return
        last = traffic.last_sent
        where = report.foreign(_origin(target.base_url))
        if last is None:
            told = "no request sent is known"
        elif traffic.last_sent_answered:
            told = "the last request sent (below) was answered, and the next one found nothing listening"
        else:
            told = "the last request sent (below) got no answer"
        report.add(Finding(operation=self.operation_of(last) if last is not None else target.label,
                           check="target_keeps_answering", tag=rule.tag, expected=rule.rule,
                           seen=f"the target stopped answering after {traffic.answered} requests ({why}): "
                                f"nothing accepts connections at {where} any more; {told}",
                           curl=curl_of(last, api_key=target.api_key), phase=phase))
        report.notes.append(f"the run stopped after {traffic.sent} requests: the target stopped answering "
                            f"after {traffic.answered}")
        raise _Stopped

    def operation_of(self, request) -> str:
        """The report label of the operation a request sent (by method and
        path), else ``METHOD /path``."""
        method = str(getattr(request, "method", "") or "").upper()
        path = urlsplit(str(getattr(request, "url", "") or "")).path
        base = urlsplit(self.target.base_url).path.rstrip("/")
        if base and path.startswith(base):
            path = path[len(base):]
        for op, (op_method, template) in self.index.items():
            pattern = re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(template))
            if op_method == method and re.fullmatch(pattern, path):
                return self.labels[op]
        return self.report.foreign(f"{method} {path}")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _collect(scenario: _schemathesis.ScenarioResult, report: Report, labels: dict[str, str], spec: str) -> None:
    strict = state.current().strict_fake
    for operation, check in scenario.ran:
        method, _, path = operation.partition(" ")
        op = OPERATIONS.get((method.upper(), path))
        if checks.applies(check, op, strict=strict) and export_checks.applies(check, op, strict=strict):
            report.ran_check(_label(operation, labels), check)
    for failed in scenario.failed:
        name = _label(failed.operation, labels)
        method, _, path = failed.operation.partition(" ")
        op = OPERATIONS.get((method.upper(), path))
        invalid_key = failed.check == "ignored_auth" and "invalid" in failed.message
        for expected, seen, keyword in _describe(failed.check, failed.failure, report.mask.text):
            report.add(Finding(operation=name, check=failed.check,
                               tag=tag_for(failed.check, spec=spec, schema_keyword=keyword, operation=op),
                               expected=expected, seen=seen,
                               curl=_mask_curl(failed.curl, invalid_key=invalid_key),
                               phase=scenario.phase))


def _label(operation: str, labels: dict[str, str]) -> str:
    method, _, path = operation.partition(" ")
    op = OPERATIONS.get((method.upper(), path))
    return labels.get(op, operation) if op else operation


def _describe(check: str, failure, mask):
    """``[(expected, seen, schema keyword or None)]`` of one failure of
    ``check``; ``mask`` masks what the target chose in ``expected``."""
    if isinstance(failure, _schemathesis.ContractFailure):
        rule = rule_for(failure.check).rule
        return [(rule, problem, None) for problem in failure.problems]
    return _schemathesis.describe_failure(failure, expected=rule_for(check).rule, mask=mask)


def _mask_curl(code: str | None, *, invalid_key: bool = False) -> str | None:
    """Schemathesis masks the Authorization value as ``[Filtered]``; write it
    as the environment variable instead, so the command can be run as is
    (or as an invalid key, for the ``ignored_auth`` probe that sent one)."""
    if not code:
        return None
    value = "'Authorization: Token invalid-key'" if invalid_key else '"Authorization: Token $USERPILOT_API_KEY"'
    return code.replace("'Authorization: [Filtered]'", value)


__all__ = ["run_contract", "config_path", "operation_index", "label", "ContractOptions"]
