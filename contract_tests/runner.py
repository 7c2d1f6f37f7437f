"""One contract run: Schemathesis's phases with the kit's checks, then the
lifecycle polls, known deviations applied, one :class:`~.report.Report`.

Used by ``userpilot-mock contract`` and by ``pytest --pyargs contract_tests``
(the same code, the same ``schemathesis.toml``, the same known deviations).
"""
from __future__ import annotations

import os
import random
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import requests
import schemathesis
from hypothesis.configuration import set_hypothesis_home_dir

from mock_server.spec import load_spec

from . import _schemathesis, checks, deviations, evidence, hooks, state
from .catalogue import rule_for, tag_for
from .lifecycle import Lifecycle
from .operations import OPERATIONS, label, operation_index
from .options import ContractOptions, TargetError, UsageError
from .report import Finding, Report
from .target import Target, open_target

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

    Raises UsageError (exit 2) for bad options or a malformed known-deviations
    file, TargetError (exit 3) when the target cannot be reached or needs a key
    it was not given.
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
    baseline = evidence.load_baseline(opts.baseline) if opts.baseline else None
    started = time.monotonic()
    target = open_target(opts)
    kept = evidence.RunEvidence((target.api_key,)) if opts.record or opts.save or baseline else None
    target.evidence = kept
    writes = target.is_fake or opts.allow_writes
    selected = [op for op, (method, path) in index.items()
                if (wanted is None or op in wanted or f"{method} {path}" in wanted)
                and (writes or method == "GET")]
    report = Report(target=target.label, spec=opts.spec, seed=opts.seed, assumptions=opts.assumptions,
                    operations=[labels[op] for op in selected], secrets=(target.api_key,))
    if not writes and len(selected) < len(labels):
        report.notes.append("read-only: " + ", ".join(op for op in labels if op not in selected)
                            + " not sent (the target is not a fake; --allow-writes sends it)")
    try:
        schema, max_examples = _schema(opts, target, selected, writes)
        lifecycle = Lifecycle(target, report, labels, strict=target.is_fake,
                              poll_interval=opts.poll_interval, max_wait=opts.max_wait,
                              enabled=lambda check: _schemathesis.check_enabled(schema, check),
                              immutable=_immutable_fields(schema))
        now = target.freeze() if target.is_fake else None
        run = state.RunState(api_key=target.api_key, read_only=not writes,
                             throttle=None if target.is_fake else target.throttle,
                             strict_fake=target.is_fake, frozen=target.is_fake,
                             now=(lambda _response: now) if target.is_fake else checks.date_header_now,
                             evidence=kept)
        with state.active(run):
            if selected:
                report.max_examples = max_examples
                _run_schemathesis(schema, target, report, labels, opts.spec)
            lifecycle.now = now
            if "listJobs" in selected:
                lifecycle.run_polls()
            if "createImport" in selected:
                lifecycle.run_imports()
    finally:
        report.requests += target.requests_sent
        target.close()
    deviations.apply(report, known)
    if kept is not None:
        _keep_evidence(opts, kept, report, baseline, target.label)
    report.seconds = time.monotonic() - started
    if opts.junit:
        try:
            Path(opts.junit).write_text(report.junit(), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write the JUnit report {opts.junit}: {exc.strerror or exc}") from None
    return report


def _keep_evidence(opts: ContractOptions, kept: evidence.RunEvidence, report: Report, baseline: dict | None,
                   label: str) -> None:
    """``--record``, ``--save``, ``--baseline`` (contract_tests.evidence): the
    cassette, the observations, the drift in the report. Raises UsageError
    for a file that cannot be written."""
    if opts.record:
        report.notes.append(f"recorded: {len(kept.exchanges)} exchange(s) to {kept.write(opts.record, label)}")
    observed = kept.observed(label)
    if opts.save:
        evidence.save(opts.save, observed)
        report.notes.append(f"saved: the run's observations to {opts.save}")
    if baseline is not None:
        report.drift.extend(evidence.drift(baseline, observed))
        report.notes.extend(evidence.timing_notes(baseline, observed))
        report.notes.append(f"baseline: {opts.baseline} ({baseline.get('target')}), "
                            f"{len(report.drift)} drift finding(s)")


def _schema(opts: ContractOptions, target: Target, selected: list[str], writes: bool):
    """``(schema, max examples)``: the spec ``opts`` names as a Schemathesis
    schema, configured by ``schemathesis.toml`` and for this run's target,
    limited to the ``selected`` operations; examples per operation and phase."""
    config = _schemathesis.load_config(config_path(), seed=opts.seed)
    schema = schemathesis.openapi.from_dict(load_spec(opts.spec), config=config)
    max_examples = _schemathesis.configure(
        schema, base_url=target.base_url, app=target.app, max_examples=opts.max_examples,
        # not a fake: Schemathesis honours Retry-After; the run's Throttle keeps the pace
        adaptive_rate_limit=target.app is None and not target.is_fake,
        # read-only: no check or phase may send another method
        excluded_checks=() if writes else WRITING_CHECKS, unexpected_methods=writes)
    wanted = set(selected)
    return schema.include(lambda ctx: OPERATIONS.get((ctx.operation.method.upper(), ctx.operation.path))
                          in wanted), max_examples


def _immutable_fields(schema) -> tuple[str, ...]:
    """``[checks.job_detail_matches_list] immutable`` of the schema's
    configuration, read as Schemathesis reads it (the check's keyword
    arguments). Raises UsageError for options the check refuses."""
    options = _schemathesis.check_options(schema, "job_detail_matches_list")
    try:
        return checks.job_detail_matches_list(**options).immutable
    except (TypeError, ValueError) as exc:
        raise UsageError(f"schemathesis.toml: [checks.job_detail_matches_list]: {exc}") from None


def _run_schemathesis(schema, target: Target, report: Report, labels: dict[str, str], spec: str) -> None:
    """Schemathesis's phases (examples, coverage, fuzzing, stateful) with
    every enabled check; failures become findings of ``report``."""
    for event in _schemathesis.execute(schema):
        if isinstance(event, _schemathesis.ScenarioResult):
            _collect(event, report, labels, spec)
        elif event.fatal:
            report.errors.append(f"{type(event.error).__name__}: {event.error}")
        else:
            error = event.error
            if isinstance(error, hooks.ReadOnlyViolation) or isinstance(error.__cause__, hooks.ReadOnlyViolation):
                report.notes.append(f"read-only: a request was not sent ({error.__cause__ or error})")
                continue
            if _is_unreachable(error):
                raise TargetError(f"cannot reach {target.label}: {type(error).__name__}")
            report.errors.append(f"{event.label}: {type(error).__name__}: {error}")


def _is_unreachable(error: BaseException) -> bool:
    return isinstance(error, requests.ConnectionError)


def _collect(scenario: _schemathesis.ScenarioResult, report: Report, labels: dict[str, str], spec: str) -> None:
    report.requests += scenario.requests
    for failed in scenario.failed:
        name = _label(failed.operation, labels)
        invalid_key = failed.check == "ignored_auth" and "invalid" in failed.message
        for expected, seen, keyword in _describe(failed.check, failed.failure):
            report.add(Finding(operation=name, check=failed.check,
                               tag=tag_for(failed.check, spec=spec, schema_keyword=keyword),
                               expected=expected, seen=seen,
                               curl=_mask_curl(failed.curl, invalid_key=invalid_key),
                               phase=scenario.phase))


def _label(operation: str, labels: dict[str, str]) -> str:
    method, _, path = operation.partition(" ")
    op = OPERATIONS.get((method.upper(), path))
    return labels.get(op, operation) if op else operation


def _describe(check: str, failure):
    """``[(expected, seen, schema keyword or None)]`` of one failure of ``check``."""
    if isinstance(failure, _schemathesis.ContractFailure):
        rule = rule_for(failure.check).rule
        return [(rule, problem, None) for problem in failure.problems]
    return _schemathesis.describe_failure(failure, expected=rule_for(check).rule)


def _mask_curl(code: str | None, *, invalid_key: bool = False) -> str | None:
    """Schemathesis masks the Authorization value as ``[Filtered]``; write it
    as the environment variable instead, so the command can be run as is
    (or as an invalid key, for the ``ignored_auth`` probe that sent one)."""
    if not code:
        return None
    value = "'Authorization: Token invalid-key'" if invalid_key else '"Authorization: Token $USERPILOT_API_KEY"'
    return code.replace("'Authorization: [Filtered]'", value)


__all__ = ["run_contract", "config_path", "operation_index", "label", "ContractOptions"]
