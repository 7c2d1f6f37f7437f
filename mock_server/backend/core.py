"""The backend of one fake: apps, jobs, the clock, fault rules and the journal,
all kept in a :class:`~.store.Store` (no HTTP here).

Each distinct API key is its own Userpilot app, named by its app token; apps
are created lazily on first use (with a seeded history) and forgotten least
recently used past ``max_apps``, so random keys cannot exhaust memory.
Building an app's history holds no lock that other apps' requests need: only
the store's short atomic steps are shared. Every compound change (a reset,
"one import at a time" then the creation) is one atomic step of the store:
concurrent requests never lose or duplicate a job.

Errors raised: :class:`BadRequest`, :class:`NotFound`, :class:`Unauthorized`
(all :class:`~.errors.ApiError`).
"""
from __future__ import annotations

import hashlib
import math
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .. import schemas
from ..config import DEFAULT_JOBS, SettingError, Settings
from ..ids import app_token_for, is_job_id, new_job_id
from ..times import format_instant, parse_instant
from . import activity, generate, jobtypes, scenarios
from .clock import Clock
from .coverage import CoverageRecorder
from .errors import JOB_NOT_FOUND, UNAUTHORIZED_MESSAGE, BadRequest, NotFound, Unauthorized
from .faults import Faults
from .journal import Journal
from .lifecycle import TERMINAL, Timeline
from .models import IMPORT_TYPE, App, Job
from .profile import DEFAULT_PROFILE, Forms, JobModel, Profile
from .store import MemoryStore, Store

#: ``links`` base when no request named one (the Python API, in-process).
DEFAULT_LINKS_BASE = "http://localhost"


class Backend:
    """All state of one fake, behind its ``store`` (default: in memory).

    ``settings``: :class:`~mock_server.config.Settings` (already checked);
    ``operations``: operationId -> ``(METHOD, path template)`` of the
    operations served (fault rules name them); ``operation_limits``:
    operationId -> ``(bucket, requests, seconds)``, the rate limits
    operations declare (applied while rate limiting is on). A store that already holds a
    generation (a restarted fake) is resumed as it is: its seed, history
    size, scenario, clock, apps, fault rules and journal.

    ``profile``: the :class:`~.profile.Profile` in force (``settings.profile``,
    or the defaults), read as ``model`` (:class:`~.profile.JobModel`: how new
    apps' histories and new jobs are made) and ``forms``
    (:class:`~.profile.Forms`: how answers look). A profile is a setting of
    the server, not of its state: a restart on a state file uses the
    profile it is given.
    """

    def __init__(self, settings: Settings | None = None, *, store: Store | None = None,
                 operations: dict[str, tuple[str, str]] | None = None,
                 operation_limits: dict[str, tuple[str, int, float]] | None = None):
        self.settings = settings = settings or Settings().checked()
        self.profile: Profile = settings.profile if isinstance(settings.profile, Profile) else DEFAULT_PROFILE
        self.model = JobModel.of(self.profile)
        self.forms = Forms.of(self.profile)
        self.store = store if store is not None else MemoryStore(settings.max_apps, settings.max_jobs)
        self.store.rebuild = self._rebuild
        #: The scenario every reset falls back to (``Settings.scenario``: a
        #: bundled name, a path or a document, read once here).
        self.default_scenario = scenarios.resolve(settings.scenario, allow_path=True)
        if self.default_scenario is not None:
            try:
                self._check_fits(self.default_scenario.history, self.default_scenario)
            except BadRequest as exc:
                raise SettingError("scenario", exc.message) from None
        self._builds: dict[str, threading.Lock] = {}
        self._builds_lock = threading.Lock()
        saved = self.store.generation()
        if saved is None:
            jobs = self._default_jobs() if self.default_scenario is None else self.default_scenario.history
            self._begin(settings.seed, jobs, self.default_scenario, 1)
            self._new_clock(settings.now, settings.frozen, settings.speed)
        else:
            self._use(saved)
            snapshot = self.store.clock()
            if snapshot is None:
                self._new_clock(settings.now, settings.frozen, settings.speed)
            else:
                self.clock = Clock.restore(snapshot, on_change=self.store.save_clock)
        self.faults = Faults(self, operations or {}, latency=settings.latency, error_rate=settings.error_rate,
                             rate_limit=settings.rate_limit, operation_limits=operation_limits)
        self.journal = Journal(self.store, settings.journal_size, settings.journal_bytes)
        #: What clients got, for the coverage of their tests: in memory, apart
        #: from the store, and kept across resets (``DELETE /__admin/coverage`` clears it).
        self.coverage = CoverageRecorder()

    # -- generation ----------------------------------------------------------
    def _begin(self, seed: int, jobs: int, scenario: scenarios.Scenario | None, number: int,
               *, apps_only: bool = False) -> None:
        generation = {"seed": int(seed), "jobs": int(jobs), "number": number,
                      "scenario": scenario.reference if scenario is not None else None}
        self.store.begin(generation, apps_only=apps_only)
        self._use(generation, scenario)

    def _use(self, generation: dict, scenario: scenarios.Scenario | None = None) -> None:
        """Serve ``generation`` (a store's record; ``scenario`` its compiled
        scenario when the caller has it)."""
        if scenario is None and generation.get("scenario") is not None:
            ref = generation["scenario"]
            scenario = scenarios.resolve(ref["bundled"] if "bundled" in ref else ref["document"])
        self.seed: int = generation["seed"]
        self.jobs_per_app: int = generation["jobs"]
        self.generation: int = generation["number"]
        self.scenario = scenario

    def _default_jobs(self) -> int:
        """Jobs per new app when a reset names none: the settings' (checked
        settings always say; else the profile's list length)."""
        jobs = self.settings.jobs
        return jobs if jobs is not None else int(self.profile.value("jobs", "list_length") or DEFAULT_JOBS)

    def _new_clock(self, now, frozen: bool, speed: float) -> None:
        self.clock = Clock(now=now, frozen=frozen, speed=speed, on_change=self.store.save_clock)
        self.store.save_clock(self.clock.snapshot())

    def reset(self, body: dict | None = None) -> None:
        """Back to a seeded start. ``body``: admin.yaml ``ResetRequest``
        (``seed``, ``jobs``, ``now``, ``frozen``, ``speed``, ``scenario``: a
        bundled name, an inline document, or null for none); what it leaves
        out comes from the settings. With a scenario, ``jobs`` defaults to
        its ``history``. Forgets every app, job, fault rule and journal
        entry. Raises BadRequest / NotFound and changes nothing then."""
        body = {} if body is None else body
        if isinstance(body, dict) and "scenario" in body:  # the scenario's own errors name its jobs and fields
            schemas.check("ResetRequest", {k: v for k, v in body.items() if k != "scenario"}, "reset body")
            scenario = scenarios.resolve(body["scenario"])
        else:
            schemas.check("ResetRequest", body, "reset body")
            scenario = self.default_scenario
        s = self.settings
        jobs = body.get("jobs", self._default_jobs() if scenario is None else scenario.history)
        self._check_fits(jobs, scenario)
        now = parse_instant(body["now"]) if "now" in body else s.now
        with self.store.atomic():
            self._begin(body.get("seed", s.seed), jobs, scenario, self.generation + 1)
            self._new_clock(now, body.get("frozen", s.frozen), body.get("speed", s.speed))
            self.faults.reset()
        self.coverage.scenario(scenario.name if scenario is not None else None)

    def use_scenario(self, ref) -> scenarios.Scenario:
        """Replace every app and job with ``ref``'s (a bundled name or an
        inline document; never a path): apps are recreated on first use with
        the scenario's jobs and ``history`` generated ones. The clock, seed,
        journal and faults stay. Raises BadRequest / NotFound (nothing
        changes then)."""
        scenario = scenarios.resolve(ref)
        if scenario is None:
            raise BadRequest('name a scenario: {"name": ...} or an inline document')
        self._check_fits(scenario.history, scenario)
        with self.store.atomic():
            self._begin(self.seed, scenario.history, scenario, self.generation + 1, apps_only=True)
        self.coverage.scenario(scenario.name)
        return scenario

    def _check_fits(self, history: int, scenario: scenarios.Scenario | None) -> None:
        """Raise BadRequest (``too_many_jobs``) when one app would start with
        more jobs (``history`` generated ones plus ``scenario``'s) than the
        whole fake holds (``max_jobs``)."""
        count = history + (scenario.job_count if scenario is not None else 0)
        limit = self.store.max_jobs
        if count > limit:
            what = f"{history} generated" + (f" + {scenario.job_count} of scenario {scenario.name}"
                                              if scenario is not None else "")
            raise BadRequest(f"each app would start with {count} jobs ({what}), more than the {limit} the "
                             f"fake holds in all (max_jobs, --max-jobs)",
                             "ask for fewer jobs, or start the fake with a larger --max-jobs",
                             error_code="too_many_jobs")

    def set_clock(self, change: dict) -> dict:
        """Apply admin.yaml ``ClockUpdate`` ``change`` to the clock; returns
        its state. Raises BadRequest (nothing changes then)."""
        self.clock.set(**schemas.check("ClockUpdate", change, "clock change"))
        return self.clock.state()

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """A block no other change interleaves with (the store's)."""
        with self.store.atomic():
            yield

    def now(self) -> int:
        """The clock's current instant, floored to whole UTC epoch seconds."""
        return math.floor(self.clock.now())

    # -- apps ------------------------------------------------------------------
    def token_for(self, api_key: str) -> str:
        """The app token of ``api_key`` under the seed in force."""
        return app_token_for(api_key, self.seed)

    def links_base(self, requested: str | None = None) -> str:
        """Base URL of new jobs' ``links``: ``--public-url`` when set, else
        ``requested`` (the URL the client reached), else ``http://localhost``;
        no trailing slash."""
        return (self.settings.public_url or requested or DEFAULT_LINKS_BASE).rstrip("/")

    @property
    def apps(self) -> dict[str, App]:
        """The apps held now, by token (a snapshot)."""
        return {app.app_token: app for app in self.store.apps()}

    def app_summaries(self, limit: int | None = None) -> list[dict]:
        """Every app held now, as admin.yaml ``AppSummary``: ``app_token``,
        ``jobs``, ``in_flight`` (jobs not terminal), ``statuses`` (status ->
        jobs), ``first_seen`` (ISO 8601) and ``last_request`` (its newest
        journal entry, or None). The most recently requested first, then the
        most recently created; at most ``limit`` of them."""
        t = self.now()
        last = self.journal.last_by_app()
        out: list[dict] = []
        for app in self.store.apps():
            statuses = app.status_counts(t)
            out.append({"app_token": app.app_token, "jobs": len(app),
                        "in_flight": sum(n for status, n in statuses.items() if status not in TERMINAL),
                        "statuses": statuses, "first_seen": format_instant(app.first_seen),
                        "last_request": last.get(app.app_token)})
        out.sort(key=lambda a: (a["last_request"]["received_at"] if a["last_request"] else "", a["first_seen"],
                                a["app_token"]),
                 reverse=True)
        return out if limit is None else out[:limit]

    def authenticate(self, api_key: str | None, links_base: str | None = None) -> App:
        """The app of ``api_key``, created on first use (its jobs' ``links``
        on ``links_base``). Raises Unauthorized for a missing key or one
        outside ``--api-key`` when set."""
        if not api_key:
            raise Unauthorized(UNAUTHORIZED_MESSAGE,
                               "missing API key: send the header 'Authorization: Token <API key>'")
        if self.settings.api_keys and api_key not in self.settings.api_keys:
            raise Unauthorized(UNAUTHORIZED_MESSAGE, "this API key is not accepted by this server")
        return self.app_for_token(self.token_for(api_key), create=True, links_base=links_base)

    def app_for_token(self, app_token: str, *, create: bool = False, links_base: str | None = None) -> App:
        """The app named ``app_token``; with ``create``, made (with its seeded
        history) when first seen. Raises NotFound otherwise. Building one
        app's history never holds up another app's requests."""
        app = self.store.app(app_token)
        if app is not None:
            return app
        if not create:
            raise NotFound(f"no app with token {app_token!r}", "apps exist once a client has used their API key",
                           error_code="app_not_found")
        with self._build_lock(app_token):
            while True:
                app = self.store.app(app_token)
                if app is not None:
                    return app
                generation = self.generation
                built = self._new_app(app_token, self.now(), self.links_base(links_base))
                with self.store.atomic():
                    if generation == self.generation:  # else a reset came meanwhile: build anew
                        return self.store.add_app(built)

    @contextmanager
    def _build_lock(self, app_token: str) -> Iterator[None]:
        """One build of ``app_token``'s app at a time (others wait for it)."""
        with self._builds_lock:
            lock = self._builds.setdefault(app_token, threading.Lock())
        with lock:
            yield
        with self._builds_lock:
            if not lock.locked():
                self._builds.pop(app_token, None)

    def app_for(self, api_key: str | None = None, app_token: str | None = None,
                links_base: str | None = None) -> App:
        """The app the control API names: by ``api_key`` (as a client would:
        created on first use) or ``app_token`` (must exist). Raises
        BadRequest for both or neither, NotFound for an unknown token."""
        if api_key is not None and app_token is not None:
            raise BadRequest("give api_key or app_token, not both")
        if api_key is not None:
            return self.app_for_token(self.token_for(api_key), create=True, links_base=links_base)
        if app_token is None:
            raise BadRequest("name the app: api_key or app_token")
        return self.app_for_token(app_token)

    def _new_app(self, app_token: str, first_seen: int, links_base: str) -> App:
        """A new app with its seeded history and the scenario's jobs, laid
        out before ``first_seen`` (not yet in the store)."""
        app = App(app_token, first_seen, links_base)
        rng = random.Random(f"{self.seed}:{app_token}")
        for plan in generate.history_plan(self.jobs_per_app, first_seen, rng, self.model):
            app.add(self._job(app, rng, plan["type"], None, plan["total_rows"], None, plan["start"],
                              plan["durations"], plan["outcome"], plan["fail_at"]))
        if self.scenario is not None:
            self.scenario.populate(self, app)
        return app

    def _rebuild(self, app_token: str, first_seen: int, links_base: str, made: list[dict]) -> App:
        """The app a store knows by its records: the seeded history (as
        :meth:`_new_app` made it) plus the jobs made later (``Job.to_record``
        dicts, in order)."""
        app = self._new_app(app_token, first_seen, links_base)
        for record in made:
            app.add(Job.from_record(app_token, record))
            app.created += 1
        return app

    # -- jobs --------------------------------------------------------------------
    def _job(self, app: App, rng: random.Random, job_type: str, filename: str | None, total_rows: int,
             file_size: int | None, start: int, durations: dict[str, int], outcome: str,
             fail_at: str | None, extra: dict | None = None) -> Job:
        model = self.model
        if filename is None:
            filename = generate.make_filename(job_type, start, rng, model)
        if file_size is None:
            file_size = generate.plausible_file_size(total_rows, filename, rng, model)
        job_id = new_job_id(app.app_token, rng.getrandbits(128))
        while job_id in app.by_id:  # vanishingly rare
            job_id = new_job_id(app.app_token, rng.getrandbits(128))
        return Job(job_id, app.app_token, job_type, filename, file_size, total_rows,
                   Timeline.build(start, durations, outcome, fail_at, total_rows, self.rows_per_minute(job_type)),
                   len(app.jobs) + 1,
                   f"{app.links_base}/v1/background_jobs/{job_id}", extra)

    def rows_per_minute(self, job_type: str) -> float:
        """The processing throughput of a new job of ``job_type`` (rows per
        minute): the profile's ``jobs.rows_per_minute`` for the types whose
        rate is assumed, the documented rate for the others (:mod:`.jobtypes`)."""
        return jobtypes.rows_per_minute(job_type, self.model.rows_per_minute)

    def _made_rng(self, app: App) -> random.Random:
        """The generator of the next job made in ``app`` (an import, the
        control API): from the seed, the app and how many it made before, so
        the same calls of one key make the same jobs whatever other keys do."""
        return random.Random(f"{self.seed}:{app.app_token}:made:{app.created}")

    def _add_made(self, app: App, job: Job) -> Job:
        """Keep ``job``, made now in ``app`` (under :meth:`atomic`),
        forgetting least recently used apps when the fake holds
        ``max_jobs``. Raises BadRequest (``too_many_jobs``) when ``app``
        alone holds them all."""
        if not self.store.make_room(app, 1):
            limit = self.store.max_jobs
            raise BadRequest(f"this app holds {len(app)} jobs, the most the fake holds in all (max_jobs "
                             f"{limit}, --max-jobs): no job can be added", "reset the fake, or start it with "
                             "a larger --max-jobs", error_code="too_many_jobs")
        app.created += 1
        self.store.add_job(app, job, made=True)
        return job

    def job_from_spec(self, app: App, spec: dict, rng: random.Random, now: float) -> Job:
        """The job a checked job spec (admin.yaml ``JobFields``) describes, in
        ``app`` (not added to it), its random parts drawn from ``rng``,
        ``started_ago`` counted back from ``now`` (UTC epoch seconds).

        Defaults: type import, outcome completed, a realistic size and name,
        durations from the lifecycle, starting at ``now``. ``fail_at`` alone
        implies failed; ``failed`` alone fails at validating."""
        outcome = spec.get("outcome")
        fail_at = spec.get("fail_at")
        if fail_at is not None:
            outcome = "failed"
        outcome = outcome or "completed"
        if outcome == "failed" and fail_at is None:
            fail_at = "validating"
        total_rows = spec.get("total_rows")
        if total_rows is None:
            total_rows = generate.generated_rows(rng)
        job_type = spec.get("type", IMPORT_TYPE)
        rate = self.rows_per_minute(job_type)
        durations = generate.default_durations(total_rows, rng, self.model, rate)
        if outcome == "failed" and fail_at == "processing":
            durations["processing"] = generate.failing_processing_seconds(total_rows, rng, self.model, rate)
        for phase, seconds in (spec.get("durations") or {}).items():
            durations[phase] = round(seconds)
        start = math.floor(now - (spec.get("started_ago") or 0))
        filename = spec.get("filename")
        if filename is None:
            filename = generate.make_filename(job_type, start, rng)
            if spec.get("format"):  # the drawn name, with the extension of the format asked for
                filename = filename.rsplit(".", 1)[0] + jobtypes.EXPORT_FORMATS[spec["format"]]
        extra = jobtypes.spec_extra(spec, filename)
        return self._job(app, rng, job_type, filename, total_rows, spec.get("file_size"), start, durations,
                         outcome, fail_at, extra)

    def add_job(self, spec: dict, *, links_base: str | None = None) -> Job:
        """Create a job from a **job spec** (admin.yaml ``JobSpec``, docs/control-api.md),
        starting now: ``{"api_key"|"app_token", "type", "filename",
        "total_rows", "file_size", "outcome", "fail_at", "durations",
        "started_ago"}``. Raises BadRequest for a spec the schema refuses,
        NotFound for an unknown app token."""
        schemas.check("JobSpec", spec, "job spec")
        app = self.app_for(spec.get("api_key"), spec.get("app_token"), links_base)
        with self.store.atomic():
            job = self.job_from_spec(app, spec, self._made_rng(app), self.clock.now())
            return self._add_made(app, job)

    def add_import(self, app: App, filename: str, file_size: int, total_rows: int, *,
                   outcome: str = "completed", fail_at: str | None = None, extra: dict | None = None) -> Job:
        """Create an import job starting now (the createImport operation);
        ``extra``: what the control API shows besides (validation errors).
        The caller checks "one import at a time" inside :meth:`atomic`."""
        return self.add_made_job(app, IMPORT_TYPE, filename, file_size, total_rows, outcome=outcome,
                                 fail_at=fail_at, extra=extra)

    def add_made_job(self, app: App, job_type: str, filename: str, file_size: int, total_rows: int, *,
                     outcome: str = "completed", fail_at: str | None = None, extra: dict | None = None,
                     durations: dict | None = None) -> Job:
        """Create a job of ``job_type`` starting now, made by a client call
        (an import, an export, a bulk identify): its phases last what
        :func:`~.generate.default_durations` draws at the type's throughput
        (:mod:`.jobtypes`), each replaced by ``durations`` (phase -> whole
        seconds) when given. A job failing while processing fails part-way.
        ``extra``: what the family keeps besides (JSON-able, see
        :class:`~.models.Job`). The caller checks its one-at-a-time rule
        inside :meth:`atomic`."""
        with self.store.atomic():
            rng = self._made_rng(app)
            rate = self.rows_per_minute(job_type)
            drawn = generate.default_durations(total_rows, rng, self.model, rate)
            if outcome == "failed" and fail_at == "processing":
                drawn["processing"] = generate.failing_processing_seconds(total_rows, rng, self.model, rate)
            drawn.update(durations or {})
            job = self._job(app, rng, job_type, filename, total_rows, file_size, self.now(), drawn,
                            outcome, fail_at, extra)
            return self._add_made(app, job)

    # -- events clients sent -----------------------------------------------------
    def feed(self, app: App, records: list[dict]) -> None:
        """Keep ``records`` (:func:`~.activity.record_of` dicts) as events sent
        to ``app``: exports made once they are visible include them. At most
        :data:`~.activity.MAX_APP_EVENTS` events (and
        :data:`~.activity.MAX_APP_EVENT_BYTES` bytes) are kept per app, the
        oldest dropped first."""
        if records:
            self.store.add_events(app.app_token, records, max_events=activity.MAX_APP_EVENTS,
                                  max_bytes=activity.MAX_APP_EVENT_BYTES)

    def sent_records(self, app: App) -> list[dict]:
        """The events kept for ``app`` (the store's records, oldest first)."""
        return self.store.events(app.app_token)

    @property
    def signing_key(self) -> bytes:
        """The secret of the fake's presigned download URLs (from the seed in force)."""
        return hashlib.sha256(f"userpilot-mock:{self.seed}:presigned-urls".encode()).digest()

    def find_job(self, app: App, job_id: str) -> Job:
        """The job ``job_id`` of ``app``; NotFound for another app's job too."""
        job = app.by_id.get(job_id)
        if job is None:
            raise NotFound("Job not found", f"no job {job_id!r} for this API key", error_code=JOB_NOT_FOUND)
        return job

    def find_job_anywhere(self, job_id: str) -> Job:
        """A job of any app held now (control API). Raises NotFound."""
        if is_job_id(job_id):  # its app is the one its id names: no need to read (or rebuild) every app
            app = self.store.app(job_id.split(":")[2])
            job = app.by_id.get(job_id) if app is not None else None
            if job is not None:
                return job
            raise NotFound("Job not found", f"no job {job_id!r}", error_code=JOB_NOT_FOUND)
        for app in self.store.apps():
            job = app.by_id.get(job_id)
            if job is not None:
                return job
        raise NotFound("Job not found", f"no job {job_id!r}", error_code=JOB_NOT_FOUND)


__all__ = ["DEFAULT_LINKS_BASE", "Backend"]
