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
    """One reviewed entry: ``id``, ``spec`` (kit or vendor, or a tuple of
    both), ``check`` (a check name, or a tuple of them), ``operation``
    (an operation id, a tuple of them, or None for any), ``match`` (regular
    expression searched in what was expected and seen, or None), ``reason``
    (why it is not a failure, with evidence). In the YAML file each of
    ``spec``, ``check`` and ``operation`` is one name or a list of names."""

    id: str
    spec: str | tuple[str, ...]
    check: str | tuple[str, ...]
    reason: str
    operation: str | tuple[str, ...] | None = None
    match: str | None = None

    def for_spec(self, spec: str) -> bool:
        """Whether the entry is about findings of runs against ``spec``."""
        return spec in _names(self.spec)

    def matches(self, spec: str, finding) -> bool:
        if not self.for_spec(spec) or finding.check not in _names(self.check):
            return False
        if self.operation is not None and finding.operation.split(" ")[0] not in _names(self.operation):
            return False
        if self.match is not None:
            return re.search(self.match, f"{finding.expected}\n{finding.seen}") is not None
        return True


def _names(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else value


def _names_field(entry: dict, name: str, where: str, *, required: bool) -> str | tuple[str, ...] | None:
    """An entry's ``name`` field: one non-empty string, or a non-empty list of
    them (a tuple). Raises UsageError naming the entry."""
    value = entry.get(name)
    if value is None and not required:
        return None
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
        return tuple(value)
    if required:
        raise UsageError(f"{where} ({entry.get('id', '?')}): '{name}' is required (a reviewed "
                         "reason for every known deviation)")
    raise UsageError(f"{where} ({entry.get('id', '?')}): '{name}' must be a name or a list of names")


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
        for name in ("id", "reason"):
            if not isinstance(entry.get(name), str) or not entry[name].strip():
                raise UsageError(f"{where} ({entry.get('id', '?')}): '{name}' is required (a reviewed "
                                 "reason for every known deviation)")
        spec = _names_field(entry, "spec", where, required=True)
        check = _names_field(entry, "check", where, required=True)
        operation = _names_field(entry, "operation", where, required=False)
        if not set(_names(spec or ())) <= set(SPECS):
            raise UsageError(f"{where} ({entry['id']}): spec must be one of {', '.join(SPECS)}")
        if entry["id"] in seen:
            raise UsageError(f"{where}: id {entry['id']} appears twice")
        seen.add(entry["id"])
        if entry.get("match") is not None:
            try:
                re.compile(entry["match"])
            except re.error as exc:
                raise UsageError(f"{where} ({entry['id']}): bad 'match': {exc}") from None
        out.append(Deviation(id=entry["id"], spec=spec or (), check=check or (),
                             reason=" ".join(entry["reason"].split()), operation=operation,
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
    report.unseen_deviations = [d for d in deviations if d.for_spec(report.spec) and d.id not in used]
