"""The contract suite under pytest: ``pytest --pyargs contract_tests``.

The same run as ``userpilot-mock contract`` (:func:`contract_tests.runner.
run_contract`), once per session, configured by the same environment
variables (``USERPILOT_BASE_URL``, ``USERPILOT_ENVIRONMENT``,
``USERPILOT_API_KEY``) and the ``--userpilot-*`` options the pytest11 plugin
registers (``pytest --help``). Test items:

- ``test_conformance[<operation>]``: Schemathesis's phases with every check;
- ``test_lifecycle``: the polls (no status backwards, terminal jobs never
  change, running jobs stay listed, single answer agrees with the list,
  the suite's own import runs to the end);
- ``test_known_deviation[<id>]``: xfail when the published document's known
  defect showed up (``known_deviations.yaml``), pass when it did not;
- ``test_run_had_no_errors``.

A contradicted assumption fails its test, or only warns
(``AssumptionContradicted``) with ``--userpilot-assumptions warn``. Against
the real API (or any server that is not a fake) without a key every test is
skipped with the message saying how to provide one. Each test case records
the checks that ran (``checks_ran`` in the JUnit file's properties). The
run's progress goes to the terminal through pytest's capture, as plain
lines, unless ``--userpilot-quiet``.
"""
from __future__ import annotations

import sys
import warnings

import pytest


class AssumptionContradicted(UserWarning):
    """An assumed check failed (the kit's reading; the fake must change)."""


def _spec(config) -> str:
    try:
        return config.getoption("userpilot_contract_spec") or "kit"
    except ValueError:
        return "kit"


def pytest_generate_tests(metafunc):
    if "operation" in metafunc.fixturenames:
        from contract_tests.operations import operation_index  # deferred: collected in every run of the suite
        metafunc.parametrize("operation", list(operation_index(_spec(metafunc.config))))
    if "deviation_id" in metafunc.fixturenames:
        from contract_tests.deviations import load  # deferred: see above
        ids = [d.id for d in load() if d.for_spec(_spec(metafunc.config))]
        metafunc.parametrize("deviation_id", ids or [pytest.param(None, marks=pytest.mark.skip(
            reason="no known deviations for this spec"))])


class _Terminal:
    """A stream writing to the real stderr past pytest's capture (the
    session fixture's output is otherwise captured and shown only on a
    failure): the run's progress lines."""

    def __init__(self, config):
        self.capture = config.pluginmanager.getplugin("capturemanager")
        self.started = False

    def write(self, text: str) -> None:
        if not self.started:  # off pytest's line ("test_contract.py "), as its live logs do
            text, self.started = "\n" + text, True
        if self.capture is None:
            sys.stderr.write(text)
            return
        with self.capture.global_and_fixture_disabled():
            sys.stderr.write(text)
            sys.stderr.flush()

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False  # plain lines: a live line would overwrite pytest's own


@pytest.fixture(scope="session")
def contract_report(request):
    """The session's contract run (a :class:`contract_tests.report.Report`)."""
    # deferred: the suite loads only when a test asks for the report
    from contract_tests.options import MissingKey, TargetError, UsageError, options_from_pytest
    try:
        from contract_tests.runner import run_contract
    except ImportError as exc:  # pragma: no cover - the contract extra is missing
        pytest.skip(f"the contract suite needs pip install 'userpilot-mock[contract]' ({exc.name})")
    try:
        options = options_from_pytest(request.config)
        options.progress_stream = _Terminal(request.config)
        return run_contract(options)
    except MissingKey as exc:
        pytest.skip(str(exc))
    except TargetError as exc:
        pytest.fail(str(exc), pytrace=False)
    except UsageError as exc:
        pytest.fail(f"usage: {exc}", pytrace=False)


def _judge(report, findings, what: str) -> None:
    """Fail with the counted findings; warn with contradicted assumptions
    under ``--userpilot-assumptions warn``."""
    from contract_tests.report import _numbered  # deferred: see contract_report
    counted = [f for f in findings if f in report.counted]
    warned = [f for f in findings if f in report.contradicted and f not in counted]
    if warned:
        warnings.warn(AssumptionContradicted(
            f"{what}: assumption contradicted\n" + "\n".join(_numbered(warned))), stacklevel=1)
    if counted:
        pytest.fail(f"{what} does not conform ({report.target}, {report.spec} spec, "
                    f"seed {report.seed}):\n" + "\n".join(_numbered(counted)), pytrace=False)


def test_conformance(contract_report, operation, record_property):
    """Every Schemathesis check and the kit's per-answer checks on one operation."""
    label = next((op for op in contract_report.operations if op.split(" ")[0] == operation), None)
    findings = [f for f in contract_report.for_operation(operation) if f.phase != "lifecycle"]
    if label is None:
        # Not tested, yet a finding may name it (the target died on its first request).
        _judge(contract_report, findings, operation)
        pytest.skip(f"{operation} not tested: " + ("; ".join(contract_report.notes) or "not selected"))
    record_property("checks_ran", ", ".join(sorted(contract_report.ran.get(label, ()))))
    _judge(contract_report, findings, label)


def test_other_requests(contract_report, request):
    """Findings about a request of no operation of the spec (a target that
    died on a path the spec does not list): no operation's test claims them."""
    from contract_tests.operations import operation_index  # deferred: see pytest_generate_tests
    ids = set(operation_index(_spec(request.config)))
    findings = [f for f in contract_report.findings
                if f.phase != "lifecycle" and f.operation.split(" ")[0] not in ids]
    _judge(contract_report, findings, "requests outside the spec's operations")


def test_lifecycle(contract_report, record_property):
    """The polls across time: the lifecycle rules no schema can express."""
    from contract_tests.report import LIFECYCLE  # deferred: see contract_report
    record_property("checks_ran", ", ".join(sorted(contract_report.ran.get(LIFECYCLE, ()))))
    if contract_report.clock:
        record_property("clock", contract_report.clock)
    findings = [f for f in contract_report.findings if f.phase == "lifecycle"]
    _judge(contract_report, findings, "the job lifecycle")


def test_known_deviation(contract_report, deviation_id):
    """A known defect of the published document: xfail when it showed up."""
    seen = [f for f in contract_report.known if f.deviation.id == deviation_id]
    if seen:
        pytest.xfail(
            f"known deviation {deviation_id} ({sum(f.count for f in seen)}x, e.g. {seen[0].seen.splitlines()[0]}): "
            f"{seen[0].deviation.reason}")


def test_run_had_no_errors(contract_report):
    """Nothing kept the run from checking what it meant to."""
    if contract_report.errors:
        pytest.fail("\n".join(contract_report.errors), pytrace=False)
