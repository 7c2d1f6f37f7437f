"""Apps, jobs and the backend that holds them (no HTTP here).

Each distinct API key is its own Userpilot app, named by its app token; apps
are created lazily on first use and forgotten least-recently-used past
``max_apps`` so that random keys cannot exhaust memory. One lock guards all
state: concurrent requests never lose or duplicate a job.
"""
from __future__ import annotations

import math
import random
import threading
from collections import OrderedDict

from ..config import Settings
from . import generate, scenarios
from .clock import Clock, parse_instant
from .errors import BadRequest, NotFound, Unauthorized, check_fields
from .lifecycle import FAILABLE, PHASES, TERMINAL, Timeline, processing_seconds

JOB_SPEC_FIELDS = frozenset({"api_key", "app_token", "type", "filename", "total_rows", "file_size",
                             "outcome", "fail_at", "durations", "started_ago"})
RESET_FIELDS = frozenset({"seed", "jobs", "now", "frozen", "speed", "scenario"})
MAX_ROWS = 100_000_000
MAX_SECONDS = 10 * 366 * 24 * 3600
MAX_JOBS_PER_APP = 1_000_000


class Job:
    """One background job. Immutable once created but for ``cache`` (free
    for the HTTP layer to keep rendered forms in).

    ``start`` and every instant in ``timeline`` are whole UTC epoch seconds;
    ``file_size`` is bytes; ``seq`` orders jobs created at the same instant.
    """

    __slots__ = ("job_id", "app_token", "type", "filename", "file_size", "total_rows",
                 "timeline", "seq", "links", "cache", "extra")

    def __init__(self, job_id, app_token, type, filename, file_size, total_rows, timeline, seq, links):
        self.job_id = job_id
        self.app_token = app_token
        self.type = type
        self.filename = filename
        self.file_size = file_size
        self.total_rows = total_rows
        self.timeline = timeline
        self.seq = seq
        self.links = links
        self.cache = None
        self.extra = None

    def view(self, t: int, detail: bool = False) -> dict:
        """The job as the API shows it at instant ``t``: keys sorted as the
        real API's encoder sorts them; times as whole-second ISO 8601 ``Z``;
        ``completed_rows`` only in the single-job form (``detail``)."""
        from .clock import format_instant
        tl = self.timeline
        end = tl.end_time(t)
        out = {}
        if detail:
            out["completed_rows"] = tl.completed_rows(t)
        out.update({
            "elapsed_time": tl.elapsed(t),
            "end_time": format_instant(end) if end is not None else None,
            "file_size": self.file_size,
            "filename": self.filename,
            "job_id": self.job_id,
            "links": self.links,
            "start_time": format_instant(tl.start),
            "status": tl.status(t),
            "total_rows": self.total_rows,
            "type": self.type,
        })
        return out


class App:
    """One Userpilot app: its token and its jobs.

    ``version`` grows on every change of the job set; ``settled_at`` is the
    instant after which no job of the app changes (the latest job end).
    ``cache`` is free for the HTTP layer (rendered answers).
    """

    __slots__ = ("app_token", "jobs", "by_id", "version", "settled_at", "first_seen", "cache",
                 "_sorted")

    def __init__(self, app_token: str, first_seen: int):
        self.app_token = app_token
        self.jobs: list[Job] = []
        self.by_id: dict[str, Job] = {}
        self.version = 0
        self.settled_at = first_seen
        self.first_seen = first_seen
        self.cache = None
        self._sorted = None

    def add(self, job: Job) -> None:
        self.jobs.append(job)
        self.by_id[job.job_id] = job
        self.version += 1
        self.settled_at = max(self.settled_at, job.timeline.end)
        self._sorted = None

    def newest_first(self) -> list[Job]:
        """Jobs, newest start first (ties: the later created first)."""
        if self._sorted is None:
            self._sorted = sorted(self.jobs, key=lambda j: (j.timeline.start, j.seq), reverse=True)
        return self._sorted

    def has_running_import(self, t: int) -> bool:
        return any(j.type == generate.IMPORT_TYPE and not j.timeline.is_terminal(t) for j in self.jobs)


def check_filename(filename) -> str:
    """A job's file name: 1 to 255 characters, no control characters, ending
    in a format extension (``.csv``, ``.ndjson``, ``.jsonl``), as every job
    the fake shows does. Raises BadRequest."""
    if not isinstance(filename, str) or not filename.strip() or len(filename) > 255:
        raise BadRequest("filename must be a non-empty string of at most 255 characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in filename):
        raise BadRequest("filename must not contain control characters")
    if not filename.lower().endswith(generate.FILENAME_EXTENSIONS):
        raise BadRequest(f"filename must end in {', '.join(generate.FILENAME_EXTENSIONS)}, got {filename!r}")
    return filename


def _number(spec: dict, name: str, low: float, high: float, integer: bool = False):
    value = spec.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) \
            or (integer and not float(value).is_integer()):
        kind = "an integer" if integer else "a number"
        raise BadRequest(f"job spec field {name!r} must be {kind}, got {value!r}")
    if not low <= value <= high:
        raise BadRequest(f"job spec field {name!r} must be between {low:g} and {high:g}, got {value!r}")
    return int(value) if integer else float(value)


class Backend:
    """All state of one fake: settings, clock, apps.

    Errors raised: :class:`BadRequest`, :class:`NotFound`,
    :class:`Unauthorized` (all :class:`~.errors.ApiError`).
    """

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings()
        self.lock = threading.RLock()
        #: Callables run after every reset (journal, faults... register here).
        self.reset_hooks: list = []
        #: The scenario every reset falls back to (``Settings.scenario``: a
        #: bundled name, a path or a document, read once here).
        self.default_scenario = scenarios.resolve(self.settings.scenario, allow_path=True)
        self.scenario = self.default_scenario
        jobs = self.settings.jobs if self.scenario is None else self.scenario.history
        self._start(self.settings.seed, jobs, self.settings.now,
                    self.settings.frozen, self.settings.speed)

    # -- state -------------------------------------------------------------
    def _start(self, seed, jobs, now, frozen, speed) -> None:
        self.seed = int(seed)
        self.jobs_per_app = int(jobs)
        self.clock = Clock(now=now, frozen=frozen, speed=speed)
        self.apps: OrderedDict[str, App] = OrderedDict()
        self.rng = random.Random(f"{self.seed}:control")
        self.seq = 0
        self.generation = getattr(self, "generation", 0) + 1

    def reset(self, body: dict | None = None) -> None:
        """Back to a seeded start: ``body`` may give ``seed``, ``jobs``,
        ``now`` (ISO 8601), ``frozen``, ``speed``, ``scenario`` (a bundled
        name, an inline document, or null for none); the rest come from the
        settings. With a scenario, ``jobs`` defaults to its ``history``.
        Unknown fields or bad values raise BadRequest and change nothing."""
        body = check_fields({} if body is None else body, RESET_FIELDS, "reset body")
        s = self.settings
        seed = _number(body, "seed", -2**63, 2**63 - 1, integer=True)
        jobs = _number(body, "jobs", 0, MAX_JOBS_PER_APP, integer=True)
        now = parse_instant(body["now"]) if body.get("now") is not None else s.now
        frozen = body.get("frozen", s.frozen)
        if not isinstance(frozen, bool):
            raise BadRequest(f"frozen must be true or false, got {frozen!r}")
        speed = body.get("speed", s.speed)
        from .clock import check_speed
        check_speed(speed)
        scenario = scenarios.resolve(body["scenario"]) if "scenario" in body else self.default_scenario
        if jobs is None:
            jobs = s.jobs if scenario is None else scenario.history
        with self.lock:
            self.scenario = scenario
            self._start(s.seed if seed is None else seed, jobs, now, frozen, speed)
            for hook in self.reset_hooks:
                hook()

    def now(self) -> int:
        """The clock's current instant, floored to whole UTC epoch seconds."""
        return math.floor(self.clock.now())

    # -- apps --------------------------------------------------------------
    def token_for(self, api_key: str) -> str:
        return generate.app_token_for(api_key, self.seed)

    def authenticate(self, api_key: str | None) -> App:
        """The app of ``api_key``, created on first use. Raises Unauthorized
        for a missing/empty key or one outside ``--api-key`` when set."""
        if not api_key:
            raise Unauthorized("Invalid API key or insufficient permissions",
                               "missing API key: send the header 'Authorization: Token <API key>'")
        if self.settings.api_keys and api_key not in self.settings.api_keys:
            raise Unauthorized("Invalid API key or insufficient permissions",
                               "this API key is not accepted by this server")
        return self.app_for_token(self.token_for(api_key), create=True)

    def app_for_token(self, app_token: str, create: bool = False) -> App:
        """The app named ``app_token``; with ``create``, made (with its seeded
        history) when first seen. Raises NotFound otherwise."""
        with self.lock:
            app = self.apps.get(app_token)
            if app is not None:
                self.apps.move_to_end(app_token)
                return app
            if not create:
                raise NotFound(f"no app with token {app_token!r}",
                               "apps exist once a client has used their API key", error_code="app_not_found")
            app = self._new_app(app_token)
            self.apps[app_token] = app
            while len(self.apps) > max(1, self.settings.max_apps):
                self.apps.popitem(last=False)
            return app

    def app_for(self, api_key: str | None = None, app_token: str | None = None) -> App:
        """The app addressed by the control API: by ``api_key`` (as a client
        would, created on first use) or ``app_token`` (must exist). Raises
        BadRequest for an ``app_token`` not of the ``NX-`` + 8 lowercase hex
        shape, NotFound for an unknown one."""
        if api_key is not None and app_token is not None:
            raise BadRequest("give api_key or app_token, not both")
        if api_key is not None:
            if not isinstance(api_key, str) or not api_key:
                raise BadRequest("api_key must be a non-empty string")
            return self.app_for_token(self.token_for(api_key), create=True)
        if app_token is not None:
            if not generate.is_app_token(app_token):
                raise BadRequest(f"app_token must look like NX-ac54070e (NX- and 8 lowercase hex "
                                 f"characters), got {str(app_token)[:40]!r}")
            return self.app_for_token(app_token)
        raise BadRequest("name the app: api_key or app_token")

    def _new_app(self, app_token: str) -> App:
        first_seen = self.now()
        app = App(app_token, first_seen)
        rng = random.Random(f"{self.seed}:{app_token}")
        for plan in generate.history_plan(self.jobs_per_app, first_seen, rng):
            self._make_job(app, rng, plan["type"], None, plan["total_rows"], None, plan["start"],
                           plan["durations"], plan["outcome"], plan["fail_at"])
        if self.scenario is not None:
            self.scenario.populate(self, app)
        return app

    def use_scenario(self, ref) -> "scenarios.Scenario":
        """Replace every application and job with ``ref``'s (a bundled name
        or an inline document; never a path): applications are recreated on
        first use with the scenario's jobs and ``history`` generated ones. The
        clock, seed, journal and faults are left as they are. Raises
        BadRequest / NotFound (nothing changes then)."""
        scenario = scenarios.resolve(ref)
        if scenario is None:
            raise BadRequest("name a scenario: {\"name\": ...} or an inline document")
        with self.lock:
            self.scenario = scenario
            self.jobs_per_app = scenario.history
            self.apps = OrderedDict()
            self.generation += 1
        return scenario

    def _make_job(self, app, rng, job_type, filename, total_rows, file_size, start, durations,
                  outcome, fail_at) -> Job:
        if filename is None:
            filename = generate.make_filename(job_type, start, rng)
        if file_size is None:
            file_size = generate.plausible_file_size(total_rows, filename, rng)
        job_id = generate.new_job_id(app.app_token, rng)
        while job_id in app.by_id:  # vanishingly rare
            job_id = generate.new_job_id(app.app_token, rng)
        self.seq += 1
        links = f"{self.links_base()}/v1/background_jobs/{job_id}"
        job = Job(job_id, app.app_token, job_type, filename, file_size, total_rows,
                  Timeline.build(start, durations, outcome, fail_at, total_rows), self.seq, links)
        app.add(job)
        return job

    def links_base(self) -> str:
        """Base URL of ``links``: ``--public-url`` (trailing slash dropped)."""
        return (self.settings.public_url or "http://127.0.0.1:8080").rstrip("/")

    # -- jobs --------------------------------------------------------------
    def find_job(self, app: App, job_id: str) -> Job:
        """The job ``job_id`` of ``app``; NotFound for another app's job too."""
        job = app.by_id.get(job_id)
        if job is None:
            raise NotFound("Job not found", f"no job {job_id!r} for this API key", error_code="job_not_found")
        return job

    def find_job_anywhere(self, job_id: str) -> Job:
        """A job of any app known now (control API). Raises NotFound."""
        with self.lock:
            for app in self.apps.values():
                job = app.by_id.get(job_id)
                if job is not None:
                    return job
        raise NotFound("Job not found", f"no job {job_id!r}", error_code="job_not_found")

    def add_job(self, spec: dict, *, app: App | None = None, rng: random.Random | None = None,
                now: float | None = None) -> Job:
        """Create a job from a **job spec** (docs/control-api.md, "Job specs"):
        ``{"api_key"|"app_token", "type", "filename", "total_rows",
        "file_size", "outcome", "fail_at", "durations", "started_ago"}``.

        Defaults: type import, outcome completed, a realistic size and
        name, durations from the lifecycle, starting now. ``fail_at`` alone
        implies failed; ``failed`` alone fails at validating. Raises
        BadRequest for unknown fields and impossible combinations, NotFound
        for an unknown app token.

        Scenarios pass ``app`` (instead of naming it in the spec), their own
        ``rng`` and ``now``, the instant ``started_ago`` counts back from
        (default: the clock's now).
        """
        check_fields(spec, JOB_SPEC_FIELDS, "job spec")
        job_type = spec.get("type", generate.IMPORT_TYPE)
        if job_type not in generate.JOB_TYPES:
            raise BadRequest(f"unknown job type {job_type!r}", f"one of: {', '.join(generate.JOB_TYPES)}")
        outcome = spec.get("outcome")
        fail_at = spec.get("fail_at")
        if outcome is not None and outcome not in TERMINAL:
            raise BadRequest(f"outcome must be 'completed' or 'failed', got {outcome!r}")
        if fail_at is not None and fail_at not in FAILABLE:
            raise BadRequest(f"fail_at must be 'validating' or 'processing', got {fail_at!r}")
        if outcome == "completed" and fail_at is not None:
            raise BadRequest("a completed job cannot have fail_at", "drop fail_at or set outcome 'failed'")
        if fail_at is not None:
            outcome = "failed"
        outcome = outcome or "completed"
        if outcome == "failed" and fail_at is None:
            fail_at = "validating"
        filename = spec.get("filename")
        if filename is not None:
            check_filename(filename)
        total_rows = _number(spec, "total_rows", 0, MAX_ROWS, integer=True)
        file_size = _number(spec, "file_size", 0, 2**53, integer=True)
        started_ago = _number(spec, "started_ago", 0, MAX_SECONDS) or 0.0
        durations_in = spec.get("durations") or {}
        if not isinstance(durations_in, dict):
            raise BadRequest("durations must be an object of phase -> seconds")
        bad = set(durations_in) - set(PHASES)
        if bad:
            raise BadRequest(f"unknown phase(s) in durations: {', '.join(sorted(map(str, bad)))}",
                             f"phases: {', '.join(PHASES)}")
        durations_given = {p: _number(durations_in, p, 0, MAX_SECONDS) for p in durations_in}
        with self.lock:
            if app is None:
                app = self.app_for(spec.get("api_key"), spec.get("app_token"))
            rng = rng or self.rng
            if total_rows is None:
                total_rows = generate.generated_rows(rng)
            durations = generate.default_durations(total_rows, rng)
            if outcome == "failed" and fail_at == "processing":
                durations["processing"] = generate.failing_processing_seconds(total_rows, rng)
            for phase, seconds in durations_given.items():
                durations[phase] = int(round(seconds))
            start = math.floor((self.clock.now() if now is None else now) - started_ago)
            return self._make_job(app, rng, job_type, filename, total_rows, file_size, start,
                                  durations, outcome, fail_at)

    def add_import(self, app: App, filename: str, file_size: int, total_rows: int,
                   durations: dict[str, int] | None = None, outcome: str = "completed",
                   fail_at: str | None = None) -> Job:
        """Create an import job starting now (the createImport operation).
        The caller checks "one import at a time" under :attr:`lock`."""
        with self.lock:
            d = generate.default_durations(total_rows, self.rng)
            d.update(durations or {})
            return self._make_job(app, self.rng, generate.IMPORT_TYPE, filename, total_rows, file_size,
                                  self.now(), d, outcome, fail_at)


__all__ = ["App", "Backend", "Job", "processing_seconds"]
