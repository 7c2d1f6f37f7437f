"""What a contract run found, as text for people and JUnit XML for CI.

Standard library only. The API key is masked where it stands in what the
run did not write itself (:mod:`.masking`): a finding's "seen" line and
curl are masked as the finding is added (:meth:`Report.add`), errors and
notes that quote a server or an exception by :meth:`Report.foreign`. The
kit's own words (the frame, labels, rules, the summary) are never masked,
so a short key such as ``k`` cannot garble them.
"""
from __future__ import annotations

import re
import textwrap
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from .catalogue import ASSUMED, DOCUMENTED, normalize
from .masking import MASK, KeyMask

#: The report's group of the kit's lifecycle checks (its polls and imports).
LIFECYCLE = "lifecycle"


@dataclass
class Finding:
    """One failed check on one operation.

    operation: ``listJobs (GET /v1/background_jobs)``; check: the check's
    name; tag: documented or assumed; expected / seen: one line each (seen
    may hold several); curl: a reproduction with the key masked; phase:
    examples, coverage, fuzzing, stateful (Schemathesis) or lifecycle (the
    suite's own polls); deviation: the known-deviation entry it matches, if any.
    :meth:`Report.add` masks the key in ``seen`` and ``curl``.
    """

    operation: str
    check: str
    tag: str
    expected: str
    seen: str
    curl: str | None = None
    phase: str = ""
    deviation: Any = None
    count: int = 1

    @property
    def key(self) -> tuple:
        return (self.operation, self.check, normalize(self.seen))


@dataclass
class Report:
    """A whole run. ``exit_code``: 0 conforms, 1 does not.

    ``ran``: every check that ran, passed or failed, by group: an
    operation's label for Schemathesis's phases, :data:`LIFECYCLE` for the
    kit's polls and imports. ``clock``: what the run did to a running fake's
    clock, one sentence (None: nothing to say). ``secrets``: the run's keys,
    masked where they stand in foreign text (``mask``)."""

    target: str
    spec: str
    seed: int | None = None
    max_examples: int | None = None
    assumptions: str = "fail"
    operations: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unseen_deviations: list = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0
    ran: dict[str, set[str]] = field(default_factory=dict)
    clock: str | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)
    mask: KeyMask = field(init=False, repr=False)
    #: differences from a baseline (``--baseline``): contract_tests.evidence.Drift values
    drift: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.mask = KeyMask(self.secrets)

    # ------------------------------------------------------------ building
    def add(self, finding: Finding) -> None:
        """Add a finding, its ``seen`` and ``curl`` masked (they quote the
        target); the same drift seen again only counts."""
        finding.seen = self.mask.text(finding.seen)
        finding.curl = self.mask.curl(finding.curl)
        self.ran_check(LIFECYCLE if finding.phase == "lifecycle" else finding.operation, finding.check)
        for existing in self.findings:
            if existing.key == finding.key:
                existing.count += finding.count
                return
        self.findings.append(finding)

    def ran_check(self, group: str, check: str) -> None:
        """Record that ``check`` ran in ``group`` (an operation's label, or
        :data:`LIFECYCLE`)."""
        self.ran.setdefault(group, set()).add(check)

    def foreign(self, text: object) -> str:
        """``text`` (a server's words, an exception) with the key masked
        where it stands: for errors and notes that quote one."""
        return self.mask.text(str(text))

    # ----------------------------------------------------------- reading
    @property
    def failures(self) -> list[Finding]:
        """Documented checks that failed (not known deviations)."""
        return [f for f in self.findings if f.deviation is None and f.tag == DOCUMENTED]

    @property
    def contradicted(self) -> list[Finding]:
        """Assumed checks that failed (not known deviations)."""
        return [f for f in self.findings if f.deviation is None and f.tag == ASSUMED]

    @property
    def known(self) -> list[Finding]:
        return [f for f in self.findings if f.deviation is not None]

    @property
    def known_deviations(self) -> list[str]:
        """The ids of the known deviations seen (each once, however many findings it matched)."""
        return list(dict.fromkeys(f.deviation.id for f in self.known))

    @property
    def counted(self) -> list[Finding]:
        """Findings that make the run fail."""
        return self.failures + (self.contradicted if self.assumptions == "fail" else [])

    @property
    def exit_code(self) -> int:
        return 1 if self.counted or self.errors or self.drift else 0

    def for_operation(self, operation_id: str) -> list[Finding]:
        return [f for f in self.findings if f.operation.split(" ")[0] == operation_id]

    def checks_ran(self) -> list[tuple[str, list[str]]]:
        """``[(group, sorted check names)]``: the operations in report
        order, then any other group, the lifecycle last."""
        order = [op for op in self.operations if op in self.ran]
        order += sorted(g for g in self.ran if g not in order and g != LIFECYCLE)
        if LIFECYCLE in self.ran:
            order.append(LIFECYCLE)
        return [(group, sorted(self.ran[group])) for group in order]

    # ----------------------------------------------------------- writing
    def render(self) -> str:
        """The report as text."""
        lines = [f"userpilot-mock contract: {self.target}, {self.spec} spec"
                 + (f", seed {self.seed}" if self.seed is not None else "")
                 + (f", max examples {self.max_examples}" if self.max_examples else ""),
                 f"  operations: {', '.join(self.operations) or 'none'}; "
                 f"{self.requests} requests in {self.seconds:.1f} s"]
        for note in self.notes:
            lines.append(f"  note: {note}")
        if self.clock:
            lines.append(f"  clock: {self.clock}")
        if self.failures:
            lines += ["", "FAILURES (documented: the vendor says so)"]
            lines += _numbered(self.failures)
        if self.contradicted:
            warn = " (warnings only: --assumptions warn)" if self.assumptions == "warn" else ""
            lines += ["", "ASSUMPTION CONTRADICTED (the kit's reading, docs/domain.md; against the real API "
                      f"the fake must change){warn}"]
            lines += _numbered(self.contradicted)
        if self.known:
            lines += ["", "KNOWN DEVIATIONS (known_deviations.yaml: the published document is wrong "
                      "here; not failures)"]
            by_id: dict[str, list[Finding]] = {}
            for f in self.known:
                by_id.setdefault(f.deviation.id, []).append(f)
            for deviation_id, found in by_id.items():
                times = sum(f.count for f in found)
                lines.append(f"  - {deviation_id} ({found[0].operation}, {found[0].check}; seen {times}x): "
                             f"{_first_line(found[0].seen)}")
                lines.append(f"      reason: {found[0].deviation.reason}")
        if self.unseen_deviations:
            lines.append("  known deviations not seen this run: "
                         + ", ".join(d.id for d in self.unseen_deviations))
        if self.errors:
            lines += ["", "ERRORS (the run could not check everything)"]
            lines += [f"  - {e}" for e in self.errors]
        lines += self._drift_lines()
        ran = self.checks_ran()
        if ran:
            total = sum(len(checks) for _, checks in ran)
            lines += ["", f"CHECKS RUN ({total}; each passed unless listed above)"]
            for group, checks in ran:
                lines += textwrap.wrap(f"{group}: {', '.join(checks)}", width=110, initial_indent="  ",
                                       subsequent_indent="      ", break_on_hyphens=False)
        verdict = "PASS: the target conforms" if self.exit_code == 0 else "FAIL: the target does not conform"
        lines += ["", f"{verdict} ({len(self.failures)} failed, {len(self.contradicted)} assumption(s) "
                  f"contradicted, {len(self.known_deviations)} known deviation(s), {len(self.errors)} error(s)"
                  + (f", {len(self.drift)} drift finding(s))" if self.drift else ")")]
        return "\n".join(lines) + "\n"

    def junit(self) -> str:
        """JUnit XML: one test case per check that ran, passed or failed
        (class ``userpilot_contract.conformance``, named ``<operation>:
        <check>``; class ``userpilot_contract.lifecycle``, named ``lifecycle:
        <check>``), known deviations and contradicted assumptions under
        ``--assumptions warn`` as their output, one ``run`` case per error;
        the target, spec, seed and clock as properties, the notes as output."""
        suite = ET.Element("testsuite", name="userpilot-contract")
        properties = ET.SubElement(suite, "properties")
        for name, value in (("target", self.target), ("spec", self.spec), ("seed", self.seed),
                            ("max_examples", self.max_examples), ("requests", self.requests),
                            ("clock", self.clock)):
            if value is not None:
                ET.SubElement(properties, "property", name=name, value=str(value))
        by_case: dict[tuple[str, str], list[Finding]] = {}
        for group, checks in self.checks_ran():
            for check in checks:
                by_case[(group, check)] = []
        for f in self.findings:
            by_case.setdefault((LIFECYCLE if f.phase == "lifecycle" else f.operation, f.check), []).append(f)
        cases = []
        for (group, check), findings in by_case.items():
            if group == LIFECYCLE:
                case = ET.Element("testcase", classname="userpilot_contract.lifecycle", name=f"lifecycle: {check}")
            else:
                case = ET.Element("testcase", classname="userpilot_contract.conformance", name=f"{group}: {check}")
            counted = [f for f in findings if f.deviation is None
                       and (f.tag == DOCUMENTED or self.assumptions == "fail")]
            warned = [f for f in findings if f.deviation is None and f not in counted]
            known = [f for f in findings if f.deviation is not None]
            if counted:
                failure = ET.SubElement(case, "failure", type="contract",
                                        message=f"{check} failed ({sum(f.count for f in counted)}x)")
                failure.text = "\n".join(_numbered(counted))
            out = []
            if warned:
                out.append("ASSUMPTION CONTRADICTED (warning):\n" + "\n".join(_numbered(warned)))
            if known:
                first: dict[str, Finding] = {}
                for f in known:
                    first.setdefault(f.deviation.id, f)
                out.append("KNOWN DEVIATIONS:\n" + "\n".join(
                    f"  - {d}: {f.check}: {_first_line(f.seen)} (reason: {f.deviation.reason})"
                    for d, f in first.items()))
            if out:
                ET.SubElement(case, "system-out").text = "\n\n".join(out)
            cases.append(case)
        for op in self.operations:
            if op not in self.ran:
                case = ET.Element("testcase", classname="userpilot_contract.conformance", name=f"{op}: no check ran")
                ET.SubElement(case, "skipped", message="no check ran on this operation")
                cases.append(case)
        for d in self.drift:  # one case per drift finding (--baseline)
            case = ET.Element("testcase", classname="userpilot_contract.drift",
                              name=self.foreign(f"drift: [{d.kind}] {d.operation}: {d.what}"))
            failure = ET.SubElement(case, "failure", type="drift", message="differs from the baseline")
            failure.text = self.foreign(f"baseline: {d.baseline}\nnow:      {d.seen}")
            cases.append(case)
        for error in self.errors:
            case = ET.Element("testcase", classname="userpilot_contract", name="run")
            ET.SubElement(case, "error", message="run error").text = error
            cases.append(case)
        suite.extend(cases)
        if self.notes:
            ET.SubElement(suite, "system-out").text = "\n".join(f"note: {n}" for n in self.notes)
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
        suite.set("errors", str(sum(1 for c in cases if c.find("error") is not None)))
        suite.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
        suite.set("time", f"{self.seconds:.3f}")
        return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"

    def _drift_lines(self) -> list[str]:
        """The DRIFT section (``--baseline``), empty when there is none; the
        target's values masked (a header value may quote anything)."""
        if not self.drift:
            return []
        lines = ["", "DRIFT (the target differs from the baseline: shape or timing)"]
        for i, d in enumerate(self.drift, 1):
            lines.append(self.foreign(f"  {i}. [{d.kind}] {d.operation}: {d.what}"))
            lines.append(self.foreign(f"     baseline: {d.baseline}"))
            lines.append(self.foreign(f"     now:      {d.seen}"))
        return lines


def _first_line(text: str) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def _numbered(findings: list[Finding]) -> list[str]:
    lines = []
    for i, f in enumerate(findings, 1):
        times = f" (x{f.count})" if f.count > 1 else ""
        lines.append(f"  {i}. {f.operation}: {f.check} [{f.tag}]{times}")
        lines.append(f"     expected: {f.expected}")
        seen = (f.seen or "").strip().splitlines() or [""]
        lines.append(f"     seen:     {seen[0]}")
        lines += [f"               {line}" for line in seen[1:8]]
        if len(seen) > 8:
            lines.append(f"               ... {len(seen) - 8} more")
        if f.curl:
            lines.append(f"     reproduce: {_one_line(f.curl)}")
    return lines


def _one_line(curl: str) -> str:
    return re.sub(r"\s*\\\n\s*", " ", curl.strip())


__all__ = ["Finding", "Report", "MASK", "LIFECYCLE"]
