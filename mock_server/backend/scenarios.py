"""Scenarios: named datasets of jobs, in YAML, under ``fixtures/scenarios/``.

A scenario document (schema: ``fixtures/scenario.schema.json``; docs/scenarios.md,
"Scenarios") is ``{"description", "history", "jobs": [job spec | repeat
entry, ...]}``. It replaces the generated history of every application: an
application created while a scenario is in use gets ``history`` seeded jobs
(default 0) plus the scenario's jobs, laid out relative to its first use
(``started_ago`` counts back from then, as the generated history does). Jobs
that name an ``api_key`` or ``app_token`` go to that application only; the
others to every application. Job ids, and fields a job leaves out, come from
``random.Random(f"{seed}:{app token}:scenario")``, so the same seed and key
always see the same jobs.

Loading never touches Flask. The control API may load a bundled scenario by
name or an inline document, never a path (it has no authentication); paths
are for the CLI and the Python API (``allow_path=True``).
"""
from __future__ import annotations

import json
import random
from functools import cache, lru_cache
from pathlib import Path

from .. import schemas
from ..ids import is_scenario_name
from ..resources import data_root
from ..yamlio import YamlError, load_yaml, read_text
from . import jobtypes
from .errors import BadRequest, NotFound

_APP_FIELDS = ("api_key", "app_token")
#: Errors listed in one message before "... and N more".
_MAX_LISTED = 5
#: The most jobs a scenario may give one application: its listed jobs (each
#: ``repeat`` counted in full) plus ``history``. With ``--max-apps`` it bounds
#: the memory a scenario can take (assumption: a limit of ours, not the API's).
MAX_SCENARIO_JOBS = schemas.limit("ScenarioDocument", "history", "maximum")


class ScenarioError(BadRequest):
    """A malformed scenario: 400, ``error_code`` ``invalid_scenario``.

    ``source`` names the file (or "inline document"), ``job_index`` the
    offending entry of ``jobs`` (0-based, None when the problem is elsewhere)
    and ``field`` the field (None when the entry itself is wrong). The message
    reads ``<source>: jobs[3].total_rows: <what is wrong>``.
    """

    error_code = "invalid_scenario"

    def __init__(self, source: str, problems: list[tuple[list, str]]):
        path, _what = problems[0]
        self.source = source
        self.job_index = path[1] if len(path) > 1 and path[0] == "jobs" else None
        fields = [p for p in path[2:] if isinstance(p, str) and p != "job"]
        self.field = fields[-1] if fields else None
        self.problems = [f"{schemas.where(p) or '(document)'}: {m}" for p, m in problems]
        more = len(problems) - _MAX_LISTED
        details = "; ".join(self.problems[:_MAX_LISTED]) + (f"; and {more} more" if more > 0 else "")
        super().__init__(f"{source}: {self.problems[0]}", f"{source}: {details}")


class Scenario:
    """A checked scenario, ready to populate applications.

    ``name``: the label used in messages and ``GET /__admin/scenario``;
    ``description``; ``history``: generated jobs per application (int);
    ``entries``: tuple of ``(job spec, count, every)`` (a plain job is
    ``count`` 1); ``job_count``: jobs each application gets from it (jobs
    naming another application included); ``reference``: how a store keeps
    it, ``{"bundled": name}`` or ``{"document": the checked document}``.
    """

    __slots__ = ("name", "description", "history", "entries", "job_count", "reference")

    def __init__(self, name: str, description: str, history: int, entries: tuple, document: dict | None = None):
        self.name = name
        self.description = description
        self.history = history
        self.entries = entries
        self.job_count = sum(count for _spec, count, _every in entries)
        self.reference: dict = {"document": document}

    def summary(self) -> dict:
        """``{"name", "description", "history", "jobs"}`` (jobs: listed jobs)."""
        return {"name": self.name, "description": self.description, "history": self.history,
                "jobs": self.job_count}

    def populate(self, backend, app) -> None:
        """Add this scenario's jobs to ``app`` (being built, not yet in the
        store), relative to ``app.first_seen``."""
        rng = random.Random(f"{backend.seed}:{app.app_token}:scenario")
        for spec, count, every in self.entries:
            if spec.get("api_key") is not None and backend.token_for(spec["api_key"]) != app.app_token:
                continue
            if spec.get("app_token") is not None and spec["app_token"] != app.app_token:
                continue
            base = {k: v for k, v in spec.items() if k not in _APP_FIELDS}
            ago = base.get("started_ago", 0)
            name = base.get("filename")
            numbered = isinstance(name, str) and "{n}" in name
            for i in range(count):
                job = dict(base)
                if every:
                    job["started_ago"] = ago + i * every
                if numbered:
                    job["filename"] = str(name).replace("{n}", str(i + 1))
                app.add(backend.job_from_spec(app, job, rng, app.first_seen))


def compile_document(document, source: str = "inline document") -> Scenario:
    """Check ``document`` (a parsed scenario) against the schema and return a
    :class:`Scenario`. Raises :class:`ScenarioError` naming ``source`` (an
    inline document's own ``name`` when it has one), the
    job and the field, or the total when the scenario gives an application
    more than :data:`MAX_SCENARIO_JOBS` jobs (``history`` included)."""
    if not isinstance(document, dict):
        raise ScenarioError(source, [([], "a scenario must be a mapping with a 'jobs' list, "
                                          f"got {type(document).__name__}")])
    if source == "inline document" and isinstance(document.get("name"), str) and document["name"]:
        source = document["name"][:200]  # e.g. the path the pytest plugin read it from
    problems = schemas.problems("ScenarioDocument", document)
    if problems:
        raise ScenarioError(source, problems)
    label = document.get("name") or source
    entries = []
    limit = schemas.limit("Seconds", "maximum")
    for index, item in enumerate(document["jobs"]):
        if "repeat" in item:
            spec, count, every = item["job"], int(item["repeat"]), float(item.get("every", 0) or 0)
            last = spec.get("started_ago", 0) + (count - 1) * every
            if last > limit:
                raise ScenarioError(label, [(["jobs", index, "every"],
                                             f"the last copy would start {last:g} seconds ago, "
                                             f"more than the {limit} allowed")])
        else:
            spec, count, every = item, 1, 0.0
        entries.append((spec, count, every))
    for index, (spec, _count, _every) in enumerate(entries):
        if spec.get("type") == jobtypes.EXPORT_TYPE:  # the format is writable and agrees with the file name
            try:
                jobtypes.spec_extra(spec, spec.get("filename") or "")
            except BadRequest as exc:
                raise ScenarioError(label, [(["jobs", index, "format"], exc.message.removeprefix("job spec: "))]) \
                    from None
    history = int(document.get("history", 0))
    listed = sum(count for _spec, count, _every in entries)
    if history + listed > MAX_SCENARIO_JOBS:
        raise ScenarioError(label, [([], f"the scenario gives each application {history + listed} jobs "
                                         f"({listed} listed, repeats counted, + history {history}), "
                                         f"more than the {MAX_SCENARIO_JOBS} allowed")])
    return Scenario(label, document.get("description", ""), history, tuple(entries), document)


def parse_text(text: str, source: str) -> Scenario:
    """Parse YAML (or JSON) ``text`` and compile it. Raises ScenarioError."""
    try:
        document = load_yaml(text, source)
    except YamlError as exc:
        raise ScenarioError(source, [([], exc.reason)]) from None
    return compile_document(document, source)


def bundled_names() -> list[str]:
    """Names of the scenarios shipped in ``fixtures/scenarios/``, sorted."""
    folder = data_root("fixtures") / "scenarios"
    return sorted(p.stem for p in folder.glob("*.yaml") if is_scenario_name(p.stem))


@cache
def load_bundled(name: str) -> Scenario:
    """A shipped scenario by name (parsed and checked once, then cached).
    Raises NotFound (``scenario_not_found``) for an unknown name."""
    if not isinstance(name, str) or not is_scenario_name(name) or name not in bundled_names():
        raise NotFound(f"no bundled scenario named {name!r}",
                       f"bundled scenarios: {', '.join(bundled_names())}", error_code="scenario_not_found")
    path = data_root("fixtures") / "scenarios" / f"{name}.yaml"
    scenario = parse_text(path.read_text(encoding="utf-8"), f"fixtures/scenarios/{name}.yaml")
    scenario.name = name
    scenario.reference = {"bundled": name}
    return scenario


def load_file(path: str | Path) -> Scenario:
    """A scenario from a YAML file on this machine (CLI, Python API; never
    the control API). Raises ScenarioError, or BadRequest when unreadable."""
    try:
        text = read_text(path)
    except YamlError as exc:
        raise BadRequest(f"cannot read scenario file {str(path)!r}: {exc.problem}",
                         error_code="invalid_scenario") from None
    return parse_text(text, str(path))


@lru_cache(maxsize=32)
def _compile_inline(canonical: str) -> Scenario:
    return compile_document(json.loads(canonical))


def resolve(ref, *, allow_path: bool = False) -> Scenario | None:
    """Turn a scenario reference into a :class:`Scenario`.

    ``ref``: None (no scenario), a Scenario, a parsed document (dict), a
    bundled name, or, with ``allow_path``, a path to a YAML file. Without
    ``allow_path`` a string that is not a bundled name is NotFound. Raises
    ScenarioError / BadRequest / NotFound.
    """
    if ref is None or isinstance(ref, Scenario):
        return ref
    if isinstance(ref, dict):
        try:
            canonical = json.dumps(ref, sort_keys=True)
        except (TypeError, ValueError):
            return compile_document(ref)
        return _compile_inline(canonical)
    if isinstance(ref, Path):
        if not allow_path:
            raise BadRequest("a scenario path is not accepted here", "name a bundled scenario or "
                             "send the document itself", error_code="invalid_scenario")
        return load_file(ref)
    if not isinstance(ref, str) or not ref:
        raise BadRequest(f"scenario must be a bundled name or a document, got {repr(ref)[:80]}",
                         error_code="invalid_scenario")
    if is_scenario_name(ref) and ref in bundled_names():
        return load_bundled(ref)
    if allow_path and (Path(ref).suffix.lower() in (".yaml", ".yml", ".json") or Path(ref).exists()):
        return load_file(ref)
    if not allow_path and not is_scenario_name(ref):
        shown = ref if len(ref) <= 80 else ref[:77] + "..."
        raise BadRequest(f"scenario {shown!r} is not a bundled scenario name",
                         "the control API never reads files: send the document itself "
                         f"(bundled: {', '.join(bundled_names())})", error_code="invalid_scenario")
    return load_bundled(ref)  # raises NotFound naming the bundled ones


__all__ = ["MAX_SCENARIO_JOBS", "Scenario", "ScenarioError", "bundled_names", "compile_document", "load_bundled",
           "load_file", "parse_text", "resolve"]
