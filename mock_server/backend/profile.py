"""The fake's model of the real API, as data: a *profile* (docs/evidence.md,
"The profile format").

Every timing and form the fake uses is a parameter of a section: ``jobs``
(the lifecycle: phase durations, processing rate, failures, list length,
job types, bytes per row) and ``forms`` (time format, ``end_time`` while
running, fixed header values, request id length, list order, identifier
shapes). :data:`SECTIONS` declares them once, with their assumed defaults
(docs/assumptions.md); a profile file (written by ``userpilot-mock
calibrate``) replaces some of them with measured values. Each parameter of a
file is ``{value, estimate, observations, interval, basis}``: the fake uses
``value``; the rest says where it comes from.

A profile flows in as data: ``Settings.profile`` -> ``Backend.profile`` ->
the :class:`JobModel` and :class:`Forms` the backend and the HTTP layer
read. Nothing global changes, so two fakes in one process may follow two
profiles. A family adds its own parameters by adding a section to
:data:`SECTIONS` (its :class:`ParameterSpec` values, declared in its
``models.py``) and reading ``profile.value("<section>", "<name>")``.

No HTTP here; standard library only (YAML is read through
:mod:`mock_server.yamlio`).
"""
from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..yamlio import YamlError, load_yaml, read_text

#: The ``profile:`` version this code writes and reads.
PROFILE_FORMAT = 1
#: The ``basis`` of a parameter measured from recorded answers.
MEASURED = "measured"

_CACHE_CONTROL = "max-age=0, private, must-revalidate"


class ProfileError(ValueError):
    """A profile the fake cannot use: ``source`` (file or label) and
    ``problem``; ``str()`` is ``"<source>: <problem>"``."""

    def __init__(self, source: str, problem: str):
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


@dataclass(frozen=True)
class ParameterSpec:
    """One parameter of a profile section.

    ``kind``: how its value reads (``seconds_range`` ``[low, high]`` whole
    seconds >= 0; ``rate`` a number > 0; ``share`` 0..1; ``shares`` a
    mapping name -> share of the ``choices`` (sum 1); ``count`` a whole
    number from ``bounds``; ``bytes_ranges`` extension -> ``[low, high]``
    bytes; ``choice`` one of ``choices``; ``headers`` name -> value (lower
    case names); ``shape`` a text the fake only reports). ``default``: the
    assumed value; ``min_observations``: fewer keeps the default;
    ``unit`` and ``doc`` for people; ``applied``: the fake follows it (a
    ``shape`` is measured and compared, not served).
    """

    name: str
    kind: str
    default: Any
    unit: str = ""
    min_observations: int = 3
    doc: str = ""
    choices: tuple[str, ...] = ()
    bounds: tuple[int, int] = (0, 10_000_000)
    applied: bool = True


JOBS = (
    ParameterSpec("queued_seconds", "seconds_range", (2, 45), "s", 3,
                  "seconds a job stays queued, drawn uniformly from [low, high]"),
    ParameterSpec("validating_seconds", "seconds_range", (3, 20), "s", 3,
                  "seconds a job stays validating, drawn from [low, high], plus 1 s per 2,000 rows "
                  "(that term is assumed and not fitted)"),
    ParameterSpec("pending_refresh_seconds", "seconds_range", (15, 180), "s", 3,
                  "seconds a job stays pending_refresh, drawn uniformly from [low, high]"),
    ParameterSpec("rows_per_minute", "rate", 1200, "rows/min", 2,
                  "processing throughput: processing lasts total_rows / rate; completed_rows grows "
                  "linearly (documented for bulk identify, assumed for the rest)"),
    ParameterSpec("failure_share", "share", 0.1, "", 10,
                  "share of a generated history's settled jobs that failed"),
    ParameterSpec("fail_at", "shares", {"validating": 0.5, "processing": 0.5}, "", 3,
                  "the phase a failed job failed in", choices=("validating", "processing")),
    ParameterSpec("list_length", "count", 25, "jobs", 1,
                  "jobs in a new app's generated history (serve --jobs wins)", bounds=(0, 100_000)),
    ParameterSpec("job_types", "shares", {"import": 0.5, "export": 0.5}, "", 10,
                  "the type of a settled job of the generated history"),
    ParameterSpec("row_bytes", "bytes_ranges", {".csv": (90, 220), ".ndjson": (150, 320)}, "bytes/row", 3,
                  "file_size per row by file format, drawn uniformly from [low, high] for each file "
                  "(a CSV also has a 64-byte header line)"),
)
FORMS = (
    ParameterSpec("time_fraction_digits", "count", 0, "digits", 3,
                  "digits of fractional seconds in start_time and end_time (0: whole seconds)", bounds=(0, 9)),
    ParameterSpec("time_zone", "choice", "Z", "", 3, "how a time names UTC", choices=("Z", "+00:00")),
    ParameterSpec("end_time_while_running", "choice", "null", "", 3,
                  "end_time of a job that is not terminal: null, or the field absent", choices=("null", "absent")),
    ParameterSpec("headers", "headers", {"cache-control": _CACHE_CONTROL, "server": "Cowboy"}, "", 3,
                  "headers of a fixed value on every API answer (x-request-id, date and the "
                  "content headers are not fixed)"),
    ParameterSpec("request_id_length", "count", 20, "characters", 3, "length of x-request-id", bounds=(1, 200)),
    ParameterSpec("list_order", "choice", "newest_first", "", 3, "order of List Jobs",
                  choices=("newest_first", "oldest_first")),
    ParameterSpec("job_id_shape", "shape", "bulk:jobs:{app_token}:{uuid4}", "", 3,
                  "shape of job_id (measured and compared; the fake's ids are mock_server/ids.py's)",
                  applied=False),
    ParameterSpec("app_token_shape", "shape", "NX-{hex8}", "", 1,
                  "shape of the app token inside job ids (measured and compared, not served)", applied=False),
)
#: Every section of a profile: name -> its parameters. A family adds its own here.
SECTIONS: dict[str, tuple[ParameterSpec, ...]] = {"jobs": JOBS, "forms": FORMS}


def spec_of(section: str, name: str) -> ParameterSpec:
    """The :class:`ParameterSpec` ``section.name``. Raises KeyError."""
    return next(p for p in SECTIONS[section] if p.name == name)


@dataclass(frozen=True)
class Parameter:
    """One parameter as a profile holds it: ``value`` (what the fake uses),
    ``estimate`` (what was measured, None when nothing was), ``observations``
    (how many), ``interval`` (``[low, high]`` of the measurements, None when
    none), ``basis`` (``measured``, or why the default is kept)."""

    value: Any
    estimate: Any = None
    observations: int = 0
    interval: tuple[float, float] | None = None
    basis: str = "default (assumed)"

    def document(self) -> dict:
        """The parameter as a profile file writes it."""
        return {"value": _plain(self.value), "estimate": _plain(self.estimate), "observations": self.observations,
                "interval": list(self.interval) if self.interval is not None else None, "basis": self.basis}


def _plain(value):
    """Tuples as lists, for YAML and JSON."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Profile:
    """A whole profile: ``name`` (None for the defaults), ``sections``
    (section -> parameter name -> :class:`Parameter`, every parameter of
    :data:`SECTIONS` present), ``source`` (what it was calibrated from, as
    the file says). Read with :meth:`value`; make with :func:`load_profile`."""

    name: str | None
    sections: Mapping[str, Mapping[str, Parameter]]
    source: Mapping[str, Any] = field(default_factory=dict)

    def value(self, section: str, name: str):
        """The value the fake uses for ``section.name``."""
        return self.sections[section][name].value

    def parameter(self, section: str, name: str) -> Parameter:
        return self.sections[section][name]

    @property
    def measured(self) -> list[str]:
        """``section.name`` of every parameter the profile measured."""
        return [f"{s}.{n}" for s, params in self.sections.items() for n, p in params.items() if p.basis == MEASURED]

    @property
    def not_applied(self) -> list[str]:
        """Measured parameters that differ from the default but that the fake does not follow."""
        return [f"{s}.{spec.name}" for s, specs in SECTIONS.items() for spec in specs
                if not spec.applied and self.sections[s][spec.name].value != spec.default]

    def document(self) -> dict:
        """The profile as a file holds it (see docs/evidence.md)."""
        out: dict[str, Any] = {"profile": PROFILE_FORMAT, "name": self.name, "source": dict(self.source)}
        for section, params in self.sections.items():
            out[section] = {name: p.document() for name, p in params.items()}
        return out


def default_profile() -> Profile:
    """Every parameter at its assumed default."""
    return Profile(None, {section: {spec.name: Parameter(check_value(spec, spec.default, "defaults"))
                                    for spec in specs}
                          for section, specs in SECTIONS.items()})


def check_value(spec: ParameterSpec, value, where: str):
    """``value`` in its canonical form (tuples for ranges), or ProfileError."""
    def bad(expected: str):
        raise ProfileError(where, f"{spec.name}: expected {expected}, got {value!r}")

    def number(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    def pair(v, low_bound: float = 0) -> tuple:
        if not (isinstance(v, (list, tuple)) and len(v) == 2 and all(number(x) for x in v)
                and low_bound <= v[0] <= v[1]):
            bad(f"[low, high] with {low_bound:g} <= low <= high")
        return (v[0], v[1])

    kind = spec.kind
    if kind == "seconds_range":
        low, high = pair(value)
        if high > 30 * 86400:
            bad("at most 30 days")
        return (low, high)
    if kind == "rate":
        if not number(value) or not 0 < value <= 10_000_000:
            bad("a number above 0")
        return value
    if kind == "share":
        if not number(value) or not 0 <= value <= 1:
            bad("a share from 0 to 1")
        return value
    if kind == "count":
        low, high = spec.bounds
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            bad(f"a whole number from {low} to {high}")
        return value
    if kind == "shares":
        if not isinstance(value, dict) or not value or not all(isinstance(k, str) and number(v) and v >= 0
                                                                 for k, v in value.items()):
            bad("a mapping name -> share")
        if spec.choices and set(value) - set(spec.choices):
            bad(f"names among {', '.join(spec.choices)}")
        if abs(sum(value.values()) - 1) > 0.01:
            bad("shares adding up to 1")
        return dict(value)
    if kind == "bytes_ranges":
        if not isinstance(value, dict) or not value or not all(k in (".csv", ".ndjson") for k in value):
            bad("a mapping .csv / .ndjson -> [low, high]")
        out = {k: pair(v, 1) for k, v in value.items()}
        return {k: (math.floor(low), math.ceil(high)) for k, (low, high) in out.items()}
    if kind == "choice":
        if value not in spec.choices:
            bad(f"one of {', '.join(spec.choices)}")
        return value
    if kind == "headers":
        if not isinstance(value, dict) or not all(isinstance(k, str) and k and isinstance(v, str)
                                                  and "\n" not in v and "\r" not in v for k, v in value.items()):
            bad("a mapping header name -> value (one line each)")
        return {k.lower(): v for k, v in value.items()}
    if kind == "shape":
        if not isinstance(value, str) or not value or len(value) > 200:
            bad("a text")
        return value
    raise AssertionError(f"unknown parameter kind {kind}")  # pragma: no cover - SECTIONS is ours


def profile_from_document(document, source: str = "profile") -> Profile:
    """The :class:`Profile` a parsed profile document describes; parameters
    it leaves out keep their defaults. Raises :class:`ProfileError` naming
    ``source`` and the parameter for an unknown section or parameter, a
    value of the wrong kind, or another format version."""
    if not isinstance(document, dict):
        raise ProfileError(source, "a profile is a mapping (written by userpilot-mock calibrate)")
    version = document.get("profile")
    if version != PROFILE_FORMAT:
        raise ProfileError(source, f"profile: must be {PROFILE_FORMAT} (the format version), got {version!r}")
    unknown = set(document) - {"profile", "name", "source", *SECTIONS}
    if unknown:
        raise ProfileError(source, f"unknown section(s) {', '.join(sorted(map(str, unknown)))}; "
                                   f"sections: {', '.join(SECTIONS)}")
    name = document.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > 200):
        raise ProfileError(source, f"name: expected a text of at most 200 characters, got {name!r}")
    origin = document.get("source") or {}
    if not isinstance(origin, dict):
        raise ProfileError(source, "source: expected a mapping")
    defaults = default_profile()
    sections: dict[str, dict[str, Parameter]] = {}
    for section, specs in SECTIONS.items():
        given = document.get(section) or {}
        if not isinstance(given, dict):
            raise ProfileError(source, f"{section}: expected a mapping of parameters")
        names = {spec.name for spec in specs}
        extra = set(given) - names
        if extra:
            raise ProfileError(source, f"{section}: unknown parameter(s) {', '.join(sorted(map(str, extra)))}; "
                                       f"known: {', '.join(sorted(names))}")
        sections[section] = dict(defaults.sections[section])
        for spec in specs:
            if spec.name in given:
                sections[section][spec.name] = _parameter(spec, given[spec.name], f"{source}: {section}")
    return Profile(name if name is not None else Path(source).stem, sections, origin)


def _parameter(spec: ParameterSpec, entry, where: str) -> Parameter:
    if not isinstance(entry, dict) or "value" not in entry:
        raise ProfileError(where, f"{spec.name}: expected a mapping with a 'value'")
    observations = entry.get("observations", 0)
    if isinstance(observations, bool) or not isinstance(observations, int) or observations < 0:
        raise ProfileError(where, f"{spec.name}.observations: expected a whole number >= 0")
    interval = entry.get("interval")
    if interval is not None and not (isinstance(interval, list) and len(interval) == 2):
        raise ProfileError(where, f"{spec.name}.interval: expected [low, high] or null")
    basis = entry.get("basis", MEASURED)
    if not isinstance(basis, str):
        raise ProfileError(where, f"{spec.name}.basis: expected a text")
    return Parameter(check_value(spec, entry["value"], where), entry.get("estimate"), observations,
                     tuple(interval) if interval is not None else None, basis)


def load_profile(ref) -> Profile | None:
    """A profile from ``ref``: None (the defaults: returns None), a
    :class:`Profile`, a parsed document (dict) or a path to a YAML file.
    Raises :class:`ProfileError` (also for a file that cannot be read)."""
    if ref is None or isinstance(ref, Profile):
        return ref
    if isinstance(ref, dict):
        return profile_from_document(ref, str(ref.get("name") or "profile"))
    if not isinstance(ref, (str, Path)):
        raise ProfileError("profile", f"expected a path, a document or a Profile, got {type(ref).__name__}")
    try:
        document = load_yaml(read_text(ref), str(ref))
    except YamlError as exc:
        raise ProfileError(str(ref), exc.reason) from None
    return profile_from_document(document, str(ref))


# ------------------------------------------------------------ the fake's reading

@dataclass(frozen=True)
class JobModel:
    """The ``jobs`` section as the generator reads it (see :data:`JOBS`):
    phase ranges in whole seconds, ``rows_per_minute``, shares as
    ``(names, weights)``, ``row_bytes`` extension -> ``(low, high)``."""

    queued: tuple[int, int]
    validating: tuple[int, int]
    pending_refresh: tuple[int, int]
    rows_per_minute: float
    failure_share: float
    fail_at: tuple[tuple[str, ...], tuple[float, ...]]
    list_length: int
    job_types: tuple[tuple[str, ...], tuple[float, ...]]
    row_bytes: Mapping[str, tuple[int, int]]

    @classmethod
    def of(cls, profile: Profile) -> JobModel:
        def seconds(name):
            low, high = profile.value("jobs", name)
            return (math.floor(low), math.ceil(high))

        def shares(name):
            value = profile.value("jobs", name)
            return tuple(value), tuple(float(v) for v in value.values())

        return cls(seconds("queued_seconds"), seconds("validating_seconds"), seconds("pending_refresh_seconds"),
                   profile.value("jobs", "rows_per_minute"), profile.value("jobs", "failure_share"),
                   shares("fail_at"), profile.value("jobs", "list_length"), shares("job_types"),
                   dict(profile.value("jobs", "row_bytes")))


def pick(rng: random.Random, names: tuple[str, ...], weights: tuple[float, ...]) -> str:
    """One of ``names`` by ``weights``; equal weights draw as ``rng.choice``
    does (so the defaults draw what they always drew)."""
    if len(set(weights)) <= 1:
        return rng.choice(names)
    return rng.choices(names, weights=weights)[0]


@dataclass(frozen=True)
class Forms:
    """The ``forms`` section as the HTTP layer and :meth:`Job.view` read it:
    ``fraction_digits`` and ``zone`` of times, ``end_time_absent`` (running
    jobs leave ``end_time`` out), ``headers`` (fixed ``(name, value)``
    pairs, ``server`` included when present), ``request_id_length``,
    ``oldest_first`` (List Jobs order)."""

    fraction_digits: int
    zone: str
    end_time_absent: bool
    headers: tuple[tuple[str, str], ...]
    request_id_length: int
    oldest_first: bool

    @classmethod
    def of(cls, profile: Profile) -> Forms:
        value = profile.value
        return cls(value("forms", "time_fraction_digits"), value("forms", "time_zone"),
                   value("forms", "end_time_while_running") == "absent",
                   tuple(value("forms", "headers").items()), value("forms", "request_id_length"),
                   value("forms", "list_order") == "oldest_first")

    @property
    def server(self) -> str | None:
        """The ``server`` header value, None when the profile sends none."""
        return next((v for k, v in self.headers if k == "server"), None)

    def body_forms(self) -> dict:
        """The forms of the answers' bodies as the ``forms`` parameters name
        them (:data:`BODY_FORMS`: what a job's invariants depend on), for
        ``GET /__admin/health``: a client checking a fake reads them there."""
        return {"time_fraction_digits": self.fraction_digits, "time_zone": self.zone,
                "end_time_while_running": "absent" if self.end_time_absent else "null",
                "list_order": "oldest_first" if self.oldest_first else "newest_first"}

    @classmethod
    def of_body_forms(cls, document) -> Forms:
        """The Forms a :meth:`body_forms` document describes (the rest at
        the defaults). Raises :class:`ProfileError` for a value that is not one."""
        if not isinstance(document, dict) or set(document) - set(BODY_FORMS):
            raise ProfileError("forms", f"expected a mapping of {', '.join(BODY_FORMS)}")
        return cls.of(profile_from_document({"profile": PROFILE_FORMAT, "forms": {
            name: {"value": value} for name, value in document.items()}}, "forms"))


#: The ``forms`` parameters a job's invariants depend on (:meth:`Forms.body_forms`).
BODY_FORMS = ("time_fraction_digits", "time_zone", "end_time_while_running", "list_order")


DEFAULT_PROFILE = default_profile()
DEFAULT_MODEL = JobModel.of(DEFAULT_PROFILE)
DEFAULT_FORMS = Forms.of(DEFAULT_PROFILE)


__all__ = ["BODY_FORMS", "DEFAULT_FORMS", "DEFAULT_MODEL", "DEFAULT_PROFILE", "FORMS", "Forms", "JOBS", "JobModel",
           "MEASURED", "PROFILE_FORMAT", "Parameter", "ParameterSpec", "Profile", "ProfileError", "SECTIONS",
           "check_value", "default_profile", "load_profile", "pick", "profile_from_document", "spec_of"]
