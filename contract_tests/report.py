"""What a contract run found, as text for people and JUnit XML for CI.

Standard library only. Every text that leaves a run goes through
:meth:`Report.redact` first, so the API key never appears on screen or in a
file, whatever a server echoes back.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from .catalogue import ASSUMED, DOCUMENTED, normalize

#: What the key is replaced with in any output.
MASK = "[API key]"


@dataclass
class Finding:
    """One failed check on one operation.

    operation: ``listJobs (GET /v1/background_jobs)``; check: the check's
    name; tag: documented or assumed; expected / seen: one line each (seen
    may hold several); curl: a reproduction with the key masked; phase:
    examples, coverage, fuzzing, stateful (Schemathesis) or lifecycle (the
    suite's own polls); deviation: the known-deviation entry it matches, if any.
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
    """A whole run. ``exit_code``: 0 conforms, 1 does not."""

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
    secrets: tuple[str, ...] = field(default=(), repr=False)
    #: differences from a baseline (``--baseline``): contract_tests.evidence.Drift values
    drift: list = field(default_factory=list)

    # ------------------------------------------------------------ building
    def add(self, finding: Finding) -> None:
        """Add a finding; the same drift seen again only counts."""
        for existing in self.findings:
            if existing.key == finding.key:
                existing.count += finding.count
                return
        self.findings.append(finding)

    def redact(self, text: str) -> str:
        """``text`` with every secret of the run masked."""
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, MASK)
        return text

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
    def counted(self) -> list[Finding]:
        """Findings that make the run fail."""
        return self.failures + (self.contradicted if self.assumptions == "fail" else [])

    @property
    def exit_code(self) -> int:
        return 1 if self.counted or self.errors or self.drift else 0

    def for_operation(self, operation_id: str) -> list[Finding]:
        return [f for f in self.findings if f.operation.split(" ")[0] == operation_id]

    # ----------------------------------------------------------- writing
    def render(self) -> str:
        """The report as text (key masked)."""
        lines = [f"userpilot-mock contract: {self.target}, {self.spec} spec"
                 + (f", seed {self.seed}" if self.seed is not None else "")
                 + (f", max examples {self.max_examples}" if self.max_examples else ""),
                 f"  operations: {', '.join(self.operations) or 'none'}; "
                 f"{self.requests} requests in {self.seconds:.1f} s"]
        for note in self.notes:
            lines.append(f"  note: {note}")
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
        verdict = "PASS: the target conforms" if self.exit_code == 0 else "FAIL: the target does not conform"
        lines += ["", f"{verdict} ({len(self.failures)} failed, {len(self.contradicted)} assumption(s) "
                  f"contradicted, {len(self.known)} known deviation(s), {len(self.errors)} error(s))"]
        return self.redact("\n".join(lines)) + "\n"

    def junit(self) -> str:
        """JUnit XML: one test case per operation's conformance, per lifecycle
        check, and per known deviation (skipped). Key masked."""
        suite = ET.Element("testsuite", name="userpilot-contract")
        cases = []
        groups: dict[str, list[Finding]] = {f"conformance: {op}": [] for op in self.operations}
        for f in self.findings:
            name = f"lifecycle: {f.check}" if f.phase == "lifecycle" else f"conformance: {f.operation}"
            groups.setdefault(name, []).append(f)
        for label, findings in groups.items():
            case = ET.Element("testcase", classname="userpilot_contract", name=label)
            counted = [f for f in findings if f.deviation is None
                       and (f.tag == DOCUMENTED or self.assumptions == "fail")]
            warned = [f for f in findings if f.deviation is None and f not in counted]
            known = [f for f in findings if f.deviation is not None]
            if counted:
                failure = ET.SubElement(case, "failure", type="contract",
                                        message=f"{len(counted)} check(s) failed")
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
        if self.drift:
            case = ET.Element("testcase", classname="userpilot_contract", name="drift from the baseline")
            failure = ET.SubElement(case, "failure", type="drift", message=f"{len(self.drift)} drift finding(s)")
            failure.text = "\n".join(self._drift_lines()[2:])
            cases.append(case)
        for error in self.errors:
            case = ET.Element("testcase", classname="userpilot_contract", name="run")
            ET.SubElement(case, "error", message="run error").text = error
            cases.append(case)
        suite.extend(cases)
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
        suite.set("errors", str(sum(1 for c in cases if c.find("error") is not None)))
        suite.set("time", f"{self.seconds:.3f}")
        text = ET.tostring(suite, encoding="unicode")
        return self.redact('<?xml version="1.0" encoding="utf-8"?>\n' + text + "\n")


    def _drift_lines(self) -> list[str]:
        """The DRIFT section (``--baseline``), empty when there is none."""
        if not self.drift:
            return []
        lines = ["", "DRIFT (the target differs from the baseline: shape or timing)"]
        for i, d in enumerate(self.drift, 1):
            lines.append(f"  {i}. [{d.kind}] {d.operation}: {d.what}")
            lines.append(f"     baseline: {d.baseline}")
            lines.append(f"     now:      {d.seen}")
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
