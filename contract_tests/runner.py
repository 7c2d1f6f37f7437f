"""One contract run: Schemathesis's phases with the kit's checks, then the
lifecycle polls, known deviations applied, one :class:`~.report.Report`.

Used by ``userpilot-mock contract`` and by ``pytest --pyargs contract_tests``
(the same code, the same ``schemathesis.toml``, the same known deviations).
"""
from __future__ import annotations

import random
import time
from pathlib import Path

import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

from mock_server.spec import load_spec

from . import checks, deviations, hooks
from ._compat import patch_wsgi_probe_kwargs
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

    Raises UsageError (exit 2) for bad options or a malformed known-deviations
    file, TargetError (exit 3) when the target cannot be reached or needs a key
    it was not given.
    """
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
    started = time.monotonic()
    target = open_target(opts)
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
        state = hooks.RunState(api_key=target.api_key, read_only=not writes,
                               throttle=None if target.is_fake else target.throttle)
        with hooks.active(state):
            now = target.freeze() if target.is_fake else None
            settings = checks.CheckSettings(
                strict_fake=target.is_fake, frozen=target.is_fake,
                now=(lambda _response: now) if target.is_fake else checks.date_header_now)
            with checks.configured(settings):
                if selected:
                    _run_schemathesis(opts, target, report, labels, selected, writes)
                lifecycle = Lifecycle(target, report, labels, strict=target.is_fake,
                                      poll_interval=opts.poll_interval, max_wait=opts.max_wait)
                lifecycle.now = now
                if "listJobs" in selected:
                    lifecycle.run_polls()
                if "createImport" in selected:
                    lifecycle.run_imports()
    finally:
        report.requests += target.requests_sent
        target.close()
    deviations.apply(report, known)
    report.seconds = time.monotonic() - started
    if opts.junit:
        try:
            Path(opts.junit).write_text(report.junit(), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write the JUnit report {opts.junit}: {exc.strerror or exc}") from None
    return report


def _run_schemathesis(opts: ContractOptions, target: Target, report: Report, labels: dict[str, str],
                      selected: list[str], writes: bool) -> None:
    """Schemathesis's phases (examples, coverage, fuzzing, stateful) with
    every enabled check; failures become findings of ``report``."""
    config = SchemathesisConfig.from_path(config_path())
    config.update(seed=opts.seed, max_failures=config.max_failures)
    schema = schemathesis.openapi.from_dict(load_spec(opts.spec), config=config)
    project = schema.config
    if opts.max_examples is not None:
        project.generation.update(max_examples=opts.max_examples)
    report.max_examples = project.generation.max_examples
    if target.app is not None:
        patch_wsgi_probe_kwargs()
        schema.app = target.app
        project.update(base_url=target.base_url)
    else:
        project.update(base_url=target.base_url)
        if not target.is_fake:
            project.update(rate_limit="auto")  # honours Retry-After; hooks.Throttle keeps the pace
    if not writes:  # read-only: no check or phase may send another method
        project.checks.update(excluded_check_names=list(WRITING_CHECKS))
        project.phases.coverage.unexpected_methods = set()
    wanted = set(selected)
    schema = schema.include(lambda ctx: OPERATIONS.get(
        (ctx.operation.method.upper(), ctx.operation.path)) in wanted)

    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            _collect(event, report, labels, opts.spec)
        elif isinstance(event, events.NonFatalError):
            if isinstance(event.value, hooks.ReadOnlyViolation) or \
                    isinstance(event.value.__cause__, hooks.ReadOnlyViolation):
                report.notes.append(f"read-only: a request was not sent ({event.value.__cause__ or event.value})")
                continue
            if _is_unreachable(event.value):
                raise TargetError(f"cannot reach {target.label}: {type(event.value).__name__}")
            report.errors.append(f"{event.label}: {type(event.value).__name__}: {event.value}")
        elif isinstance(event, events.FatalError):
            report.errors.append(f"{type(event.exception).__name__}: {event.exception}")


def _is_unreachable(error: BaseException) -> bool:
    import requests
    return isinstance(error, requests.ConnectionError)


def _collect(event, report: Report, labels: dict[str, str], spec: str) -> None:
    recorder = event.recorder
    report.requests += len(recorder.interactions)
    for case_id, nodes in recorder.checks.items():
        for node in nodes:
            info = node.failure_info
            if info is None:
                continue
            failure = info.failure
            case_node = recorder.cases.get(case_id)
            operation = failure.operation or (case_node.value.operation.label if case_node else "")
            name = _label(operation, labels)
            invalid_key = node.name == "ignored_auth" and "invalid" in (failure.message or "")
            for expected, seen, keyword in _describe(node.name, failure):
                report.add(Finding(operation=name, check=node.name,
                                   tag=tag_for(node.name, spec=spec, schema_keyword=keyword),
                                   expected=expected, seen=seen,
                                   curl=_mask_curl(info.code_sample, invalid_key=invalid_key),
                                   phase=event.phase.value))


def _label(operation: str, labels: dict[str, str]) -> str:
    method, _, path = operation.partition(" ")
    op = OPERATIONS.get((method.upper(), path))
    return labels.get(op, operation) if op else operation


def _describe(check: str, failure):
    """``[(expected, seen, schema keyword or None)]`` of one failure of ``check``."""
    if isinstance(failure, checks.ContractFailure):
        rule = rule_for(failure.check).rule
        return [(rule, problem, None) for problem in failure.problems]
    kind = type(failure).__name__
    message = (failure.message or "").strip()
    if kind == "UndefinedStatusCode":
        return [(f"a documented status: {', '.join(map(str, failure.defined_status_codes))}",
                 f"{failure.status_code}", None)]
    if kind == "JsonSchemaError":
        keyword = failure.schema_path[-1] if failure.schema_path else None
        keyword = keyword if isinstance(keyword, str) else None
        where = "/".join(map(str, failure.instance_path)) or "the body"
        schema = failure.schema if isinstance(failure.schema, dict) else {}
        expected = f"{keyword}: {schema.get(keyword)!r} at {where}" if keyword else f"the schema at {where}"
        validation = getattr(failure, "validation_message", "") or message.splitlines()[0]
        return [(expected, f"{validation}", keyword)]
    if kind == "ServerError":
        return [("no 5xx answer", f"{failure.status_code}", None)]
    if kind == "UndefinedContentType":
        return [(f"Content-Type one of {', '.join(failure.defined_content_types)}",
                 f"{failure.content_type}", None)]
    return [(rule_for(check).rule, f"{failure.title}: {message}" if message else failure.title, None)]


def _mask_curl(code: str | None, *, invalid_key: bool = False) -> str | None:
    """Schemathesis masks the Authorization value as ``[Filtered]``; write it
    as the environment variable instead, so the command can be run as is
    (or as an invalid key, for the ``ignored_auth`` probe that sent one)."""
    if not code:
        return None
    value = "'Authorization: Token invalid-key'" if invalid_key else '"Authorization: Token $USERPILOT_API_KEY"'
    return code.replace("'Authorization: [Filtered]'", value)


__all__ = ["run_contract", "config_path", "operation_index", "label", "ContractOptions"]
