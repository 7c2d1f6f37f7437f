"""Known deviations: where a spec and a correct server are known to disagree.

Read from ``known_deviations.yaml`` (next to this module) by the runner, so
both ``userpilot-mock contract`` and ``pytest --pyargs contract_tests`` use
it; Schemathesis's own ``--baseline`` exists only in its CLI. A finding that
matches an entry is reported as a known deviation with the entry's reason,
not as a failure; any other finding of the same operation is still reported.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mock_server.yamlio import YamlError, read_yaml

from .options import SPECS, UsageError

PATH = Path(__file__).with_name("known_deviations.yaml")
_FIELDS = {"id", "spec", "operation", "check", "match", "reason"}


@dataclass(frozen=True)
class Deviation:
    """One reviewed entry: ``id``, ``spec`` (kit or vendor), ``check`` (a
    check name), ``operation`` (operation id, or None for any), ``match``
    (regular expression searched in what was expected and seen, or None),
    ``reason`` (why it is not a failure, with evidence)."""

    id: str
    spec: str
    check: str
    reason: str
    operation: str | None = None
    match: str | None = None

    def matches(self, spec: str, finding) -> bool:
        if spec != self.spec or finding.check != self.check:
            return False
        if self.operation is not None and finding.operation.split(" ")[0] != self.operation:
            return False
        if self.match is not None:
            return re.search(self.match, f"{finding.expected}\n{finding.seen}") is not None
        return True


def load(path: Path | str = PATH) -> list[Deviation]:
    """Parse and check the file. Raises UsageError naming the entry for a
    missing ``reason``/``id``/``check``, an unknown field or spec, or a bad
    regular expression."""
    try:
        document = read_yaml(path) or {}
    except YamlError as exc:
        raise UsageError(f"known deviations: {exc}") from None
    entries = document.get("deviations") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise UsageError(f"{path}: expected a top-level 'deviations' list")
    out, seen = [], set()
    for i, entry in enumerate(entries, 1):
        where = f"{path}: deviation {i}"
        if not isinstance(entry, dict):
            raise UsageError(f"{where} is not a mapping")
        unknown = set(entry) - _FIELDS
        if unknown:
            raise UsageError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        for name in ("id", "spec", "check", "reason"):
            if not isinstance(entry.get(name), str) or not entry[name].strip():
                raise UsageError(f"{where} ({entry.get('id', '?')}): '{name}' is required (a reviewed "
                                 "reason for every known deviation)")
        if entry["spec"] not in SPECS:
            raise UsageError(f"{where} ({entry['id']}): spec must be one of {', '.join(SPECS)}")
        if entry["id"] in seen:
            raise UsageError(f"{where}: id {entry['id']} appears twice")
        seen.add(entry["id"])
        if entry.get("match") is not None:
            try:
                re.compile(entry["match"])
            except re.error as exc:
                raise UsageError(f"{where} ({entry['id']}): bad 'match': {exc}") from None
        out.append(Deviation(id=entry["id"], spec=entry["spec"], check=entry["check"],
                             reason=" ".join(entry["reason"].split()), operation=entry.get("operation"),
                             match=entry.get("match")))
    return out


def apply(report, deviations: list[Deviation]) -> None:
    """Mark each finding of ``report`` that matches an entry for its spec;
    list the entries for this spec that matched nothing."""
    used = set()
    for finding in report.findings:
        for deviation in deviations:
            if deviation.matches(report.spec, finding):
                finding.deviation = deviation
                used.add(deviation.id)
                break
    report.unseen_deviations = [d for d in deviations if d.spec == report.spec and d.id not in used]
