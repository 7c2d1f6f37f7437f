"""The lifecycle checks: what no schema can express, checked by polling.

The suite lists the jobs, reads each one, lets time pass and does it again:
on a fake by advancing its (frozen) clock through the control API, on any
other server, and on a fake whose clock the run keeps as it is (``--clock
keep``), by waiting ``poll_interval`` seconds. Between the polls it
checks that no job's status moves backwards, that a terminal job never
changes, that a running job stays listed, and that each single-job answer
agrees with its list entry; every answer also gets the per-answer job
checks. When writes are allowed (always on a fake) it uploads a small valid
import and follows it to the end, and sends uploads a server must refuse.

The rules are :mod:`mock_server.invariants`'s; :mod:`.catalogue` tags them.
The checks' settings are the same as in Schemathesis's phases, from
``schemathesis.toml``: a check switched off there (``[checks.<name>]
enabled = false``) reports nothing here either, and ``[checks.
job_detail_matches_list] immutable`` names the fields compared. The steps
and samples below are the suite's own design, not a check's setting.
Every check evaluated is recorded in the report (``Report.ran``), passed or
failed, for the JUnit file and the "CHECKS RUN" list.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from mock_server.backend.lifecycle import TERMINAL
from mock_server.invariants import transition_problems

from .catalogue import rule_for
from .checks import IMMUTABLE, agreement_problems, answer_checks, body_problems, date_header_now, requested_job_problems
from .media import INVALID_UPLOADS, to_ndjson
from .report import LIFECYCLE, Finding
from .target import OTHER_APP_SUFFIX, Answer, Target, job_path

#: Clock steps (seconds) between polls of a fake: through every phase of
#: jobs of any size, and a day later.
FAKE_STEPS = (0, 5, 30, 120, 600, 3600, 86400)
#: Terminal jobs read one by one at each poll (all running ones are read).
TERMINAL_SAMPLE = 3
#: At most this many single-job reads per poll (a fake, a server that is not
#: one): enough to see every phase, bounded for apps with thousands of jobs.
MAX_SINGLE_READS = {True: 40, False: 10}
#: The import the suite uploads (valid, 10 rows). NDJSON: each row carries
#: exactly the fields its event type requires, nothing a reader must guess.
IMPORT_NAME = "userpilot-contract-check.ndjson"


class Lifecycle:
    """One lifecycle run against ``target``; findings go to ``report``.

    ``moves_clock``: advance a fake's clock between polls (None: whenever
    the target is a fake); otherwise wait ``poll_interval`` seconds of real
    time. ``now``: the instant every answer describes when it is fixed (a
    frozen fake's clock), else None."""

    def __init__(self, target: Target, report, labels: dict[str, str], *, strict: bool,
                 poll_interval: float, max_wait: float, enabled: Callable[[str], bool] = lambda check: True,
                 immutable: Sequence[str] = IMMUTABLE, moves_clock: bool | None = None):
        self.target = target
        self.report = report
        self.labels = labels          # operation id -> report label
        self.strict = strict
        self.moves_clock = target.is_fake if moves_clock is None else moves_clock
        self.enabled = enabled        # check name -> on? ([checks.<name>] enabled)
        self.immutable = tuple(immutable)  # [checks.job_detail_matches_list] immutable
        self.poll_interval = poll_interval
        self.max_wait = max_wait
        self.last: dict[str, dict] = {}       # job_id -> latest view
        self.running_listed: set[str] = set()
        self.now: float | None = None          # the fake's frozen instant

    # --------------------------------------------------------------- helpers
    def ran(self, *checks: str) -> None:
        """Record that ``checks`` were evaluated (those switched on)."""
        for check in checks:
            if self.enabled(check):
                self.report.ran_check(LIFECYCLE, check)

    def finding(self, op: str, check: str, seen: str, curl: str | None) -> None:
        """Report ``seen`` as a failure of ``check`` on ``op``, unless the
        configuration switched that check off."""
        if not self.enabled(check):
            return
        rule = rule_for(check)
        self.report.add(Finding(operation=self.labels.get(op, op), check=check, tag=rule.tag,
                                expected=rule.rule, seen=seen, curl=curl, phase="lifecycle"))

    def answer_now(self, answer: Answer) -> float | None:
        return self.now if self.target.is_fake else date_header_now(answer)

    def get(self, op: str, path: str, *, listed: bool = False):
        """GET ``path``; its JSON body when 200 (per-answer checks applied),
        None otherwise (reported). ``listed``: the job was just listed."""
        answer = self.target.request("GET", path)
        curl = self.target.curl("GET", path)
        self.ran("not_a_server_error", "job_detail_matches_list" if listed else "status_code_conformance")
        if answer.status != 200:
            if answer.status >= 500:
                check = "not_a_server_error"
            elif listed:
                check = "job_detail_matches_list"
            else:
                check = "status_code_conformance"
            if op == "getJob":
                seen = f"{answer.status} to reading a job the suite had just seen" + (
                    " in List Jobs" if listed else "")
            else:
                seen = f"{answer.status} to an authenticated List Jobs"
            self.finding(op, check, seen, curl)
            return None
        self.ran(*answer_checks(op, self.strict))
        try:
            body = answer.json()
        except ValueError:
            self.finding(op, "job_answer_shape", f"the answer is not JSON ({answer.content_type})", curl)
            return None
        for check, problem in body_problems(op, body, self.answer_now(answer), self.strict, self.target.forms):
            self.finding(op, check, problem, curl)
        return body

    def observe(self, op: str, job: dict, curl: str) -> None:
        """Compare with the job's previous view (transitions), then remember it."""
        job_id = str(job.get("job_id"))
        before = self.last.get(job_id)
        if before is not None:
            self.ran("job_status_never_backwards")
            common = [k for k in before if k in job]
            for violation in transition_problems({k: before[k] for k in common}, {k: job[k] for k in common}):
                self.finding(op, "job_status_never_backwards", f"job {job_id}: {violation.message}", curl)
        self.last[job_id] = job

    # ------------------------------------------------------------------ polls
    def poll(self) -> dict[str, dict] | None:
        """One poll: the list, then the running jobs and a few terminal ones one by one."""
        listed = self.get("listJobs", "/v1/background_jobs")
        list_curl = self.target.curl("GET", "/v1/background_jobs")
        if not isinstance(listed, list):
            return None
        jobs = {j["job_id"]: j for j in listed if isinstance(j, dict) and isinstance(j.get("job_id"), str)}
        if self.running_listed:
            self.ran("running_job_stays_listed")
        for job_id in sorted(self.running_listed - set(jobs)):
            self.finding("listJobs", "running_job_stays_listed",
                         f"job {job_id} was listed while running and is missing now", list_curl)
        for job in jobs.values():
            self.observe("listJobs", job, list_curl)
        running = [j for j in jobs if jobs[j].get("status") not in TERMINAL]
        previously_running = sorted(j for j in self.running_listed if j in jobs and j not in running)
        terminal = [j for j in jobs if j not in running and j not in previously_running][:TERMINAL_SAMPLE]
        to_read = (running + previously_running + terminal)[:MAX_SINGLE_READS[self.target.is_fake]]
        for job_id in to_read:
            path = job_path(job_id)
            single = self.get("getJob", path, listed=True)
            if not isinstance(single, dict):
                continue
            curl = self.target.curl("GET", path)
            self.ran("job_detail_is_the_requested_job", "job_detail_matches_list")
            for problem in requested_job_problems(job_id, single):
                self.finding("getJob", "job_detail_is_the_requested_job", problem, curl)
            same_instant = self.target.is_fake and self.now is not None
            for problem in agreement_problems(jobs[job_id], single, same_instant=same_instant,
                                              list_first=True, immutable=self.immutable):
                self.finding("getJob", "job_detail_matches_list", problem, curl)
            self.observe("getJob", single, curl)
        self.running_listed = set(running)
        return jobs

    def wait(self, seconds: float) -> None:
        if self.moves_clock:
            self.now = self.target.advance(seconds)
        else:
            time.sleep(seconds)

    def run_polls(self) -> None:
        """Poll through time (a fake's clock moved: FAKE_STEPS; otherwise
        twice, poll_interval apart)."""
        if self.moves_clock:
            self.now = self.target.freeze()
            self.ensure_running_job()
            steps: tuple[float, ...] = FAKE_STEPS
        else:
            if self.target.is_fake:
                self.ensure_running_job()
            steps = (0, self.poll_interval)
        jobs = None
        for step in steps:
            if step:
                self.wait(step)
            jobs = self.poll()
            if jobs is None:
                return
        if self.target.is_fake and jobs:
            self.check_isolation(jobs)

    def check_isolation(self, jobs: dict[str, dict]) -> None:
        """(Fakes) another key is another app: its list shares no job, and it
        cannot read this key's jobs. Skipped when the fake accepts one key only."""
        other = {"Authorization": f"Token {self.target.api_key}{OTHER_APP_SUFFIX}"}
        answer = self.target.request("GET", "/v1/background_jobs", auth=False, headers=other)
        if answer.status == 401:
            return
        self.ran("apps_are_isolated")
        curl = self.target.curl("GET", "/v1/background_jobs").replace(
            "$USERPILOT_API_KEY", "${USERPILOT_API_KEY}" + OTHER_APP_SUFFIX)
        try:
            theirs = {str(j.get("job_id")) for j in answer.json() if isinstance(j, dict)}
        except (ValueError, TypeError, AttributeError):
            return
        shared = sorted(theirs & set(jobs))
        if shared:
            self.finding("listJobs", "apps_are_isolated",
                         f"another API key's List Jobs shows {len(shared)} of this key's jobs, e.g. {shared[0]}",
                         curl)
        job_id = next(iter(jobs))
        path = job_path(job_id)
        answer = self.target.request("GET", path, auth=False, headers=other)
        if answer.status != 404:
            self.finding("getJob", "apps_are_isolated",
                         f"{answer.status} when another API key reads job {job_id} (expected 404)",
                         self.target.curl("GET", path).replace("$USERPILOT_API_KEY",
                                                               "${USERPILOT_API_KEY}" + OTHER_APP_SUFFIX))

    def ensure_running_job(self) -> None:
        """On a fake whose list has no running job, add one through the control API."""
        answer = self.target.request("GET", "/v1/background_jobs")
        try:
            jobs = answer.json()
        except ValueError:
            return
        if isinstance(jobs, list) and not any(isinstance(j, dict) and j.get("status") not in TERMINAL
                                               for j in jobs):
            self.target.request("POST", "/__admin/jobs", auth=False, json_body={
                "api_key": self.target.api_key, "type": "import", "filename": "contract-running.csv",
                "total_rows": 1200, "started_ago": 1})

    # ---------------------------------------------------------------- imports
    def run_imports(self) -> None:
        """Refused uploads create nothing; a valid upload runs to the end."""
        before = self.ids()
        self.ran("import_refuses_bad_upload", "not_a_server_error")
        for name, content, why in INVALID_UPLOADS:
            answer = self.upload(name, content)
            curl = self.target.curl("POST", "/v1/imports", upload=name)
            if not 400 <= answer.status < 500:
                self.finding("createImport", "not_a_server_error" if answer.status >= 500
                             else "import_refuses_bad_upload", f"{answer.status} to {why} ({name})", curl)
            elif not _is_error_shape(answer):
                self.finding("createImport", "import_refuses_bad_upload",
                             f"{answer.status} to {why} without the error shape {{\"errors\": [...]}}", curl)
        after = self.ids()
        if before is not None and after is not None and after - before:
            self.finding("createImport", "import_refuses_bad_upload",
                         f"refused uploads created job(s): {', '.join(sorted(after - before))}",
                         self.target.curl("GET", "/v1/background_jobs"))

        rows = _fixed_rows()
        content = to_ndjson(rows)
        answer = self.upload(IMPORT_NAME, content)
        curl = self.target.curl("POST", "/v1/imports", upload=IMPORT_NAME)
        self.ran("positive_data_acceptance")
        if answer.status == 409:
            self.report.notes.append("an import was already running in this app (409): the import "
                                     "lifecycle was not followed")
            return
        if answer.status != 200:
            self.finding("createImport", "not_a_server_error" if answer.status >= 500
                         else "positive_data_acceptance", f"{answer.status} to a valid {len(rows)}-row "
                         "NDJSON import", curl)
            return
        self.ran(*answer_checks("createImport", self.strict), "import_answer_matches_upload")
        try:
            job = answer.json()
        except ValueError:
            self.finding("createImport", "job_answer_shape", "the import answer is not JSON", curl)
            return
        for check, problem in body_problems("createImport", job, self.answer_now(answer), self.strict,
                                            self.target.forms):
            self.finding("createImport", check, problem, curl)
        if not isinstance(job, dict) or not isinstance(job.get("job_id"), str):
            return
        expected = {"status": "queued", "filename": IMPORT_NAME, "file_size": len(content),
                    "total_rows": len(rows)}
        for name, value in expected.items():
            if job.get(name) != value:
                self.finding("createImport", "import_answer_matches_upload",
                             f"{name} is {job.get(name)!r}, expected {value!r}", curl)
        self.second_upload(content)
        self.follow(job)

    def second_upload(self, content: bytes) -> None:
        """While the suite's import runs, another upload gets 409 and creates nothing."""
        before = self.ids()
        answer = self.upload(IMPORT_NAME, content)
        curl = self.target.curl("POST", "/v1/imports", upload=IMPORT_NAME)
        self.ran("import_one_at_a_time")
        if answer.status != 409:
            self.finding("createImport", "not_a_server_error" if answer.status >= 500 else "import_one_at_a_time",
                         f"{answer.status} to a second upload while the first import runs", curl)
        elif not _is_error_shape(answer):
            self.finding("createImport", "import_one_at_a_time",
                         "409 without the error shape {\"errors\": [...]}", curl)
        after = self.ids()
        if before is not None and after is not None and after - before:
            self.finding("createImport", "import_one_at_a_time",
                         f"the second upload created job(s): {', '.join(sorted(after - before))}", curl)

    def follow(self, job: dict) -> None:
        """Poll the new job until it ends (fake: by advancing the clock)."""
        job_id = job["job_id"]
        path = job_path(job_id)
        curl = self.target.curl("GET", path)
        self.last[job_id] = job
        self.ran("import_job_runs_to_the_end")
        if not self.moves_clock and self.target.is_fake and self.now is not None:
            self.report.notes.append(f"the suite's import {job_id} was not followed to the end: the fake's "
                                     "clock is frozen and --clock keep leaves it so")
            return
        listed = self.get("listJobs", "/v1/background_jobs")
        if isinstance(listed, list) and not any(isinstance(j, dict) and j.get("job_id") == job_id
                                                for j in listed):
            self.finding("listJobs", "import_job_runs_to_the_end",
                         f"the accepted import {job_id} is not in List Jobs", curl)
        deadline = time.monotonic() + self.max_wait
        step = 0
        while True:
            single = self.get("getJob", path)
            if not isinstance(single, dict):
                return
            self.observe("getJob", single, curl)
            if single.get("status") in TERMINAL:
                if single.get("status") != "completed" or single.get("completed_rows") != single.get("total_rows"):
                    self.finding("getJob", "import_job_runs_to_the_end",
                                 f"a valid import ended {single.get('status')} with completed_rows "
                                 f"{single.get('completed_rows')!r} of {single.get('total_rows')!r}", curl)
                return
            if self.moves_clock:
                if step >= len(FAKE_STEPS) - 1:
                    self.finding("getJob", "import_job_runs_to_the_end",
                                 f"a {job.get('total_rows')}-row import still {single.get('status')} a "
                                 "day later", curl)
                    return
                step += 1
                self.wait(FAKE_STEPS[step])
            else:
                if time.monotonic() > deadline:
                    self.report.notes.append(f"the suite's import {job_id} had not ended after "
                                             f"{self.max_wait:g} s (still {single.get('status')})")
                    return
                self.wait(self.poll_interval)

    def upload(self, name: str, content: bytes) -> Answer:
        ctype = {".csv": "text/csv", ".ndjson": "application/x-ndjson"}.get(
            name[name.rfind("."):], "application/octet-stream")
        return self.target.request("POST", "/v1/imports", files={"file": (name, content, ctype)})

    def ids(self) -> set[str] | None:
        answer = self.target.request("GET", "/v1/background_jobs")
        try:
            jobs = answer.json()
        except ValueError:
            return None
        if answer.status != 200 or not isinstance(jobs, list):
            return None
        return {str(j.get("job_id")) for j in jobs if isinstance(j, dict)}


def _is_error_shape(answer: Answer) -> bool:
    try:
        body = answer.json()
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("errors"), list) and bool(body["errors"])


def _fixed_rows() -> list[dict]:
    """Ten valid rows, one of each event type and then some (docs/domain.md, "Import files")."""
    rows = []
    for i in range(10):
        kind = ("identify_user", "identify_company", "page_view", "track")[i % 4]
        row: dict[str, object] = {"event_type": kind, "source": "backend-http-import",
               "inserted_at": f"2024-07-28 08:55:{i:02d}.874555"}
        if kind == "identify_user":
            row.update(user_id=f"user-{i}", metadata={"plan": "pro"})
        elif kind == "identify_company":
            row.update(company_id=f"company-{i}", metadata={"seats": 10})
        elif kind == "page_view":
            row.update(user_id=f"user-{i}", hostname="app.example.com", pathname="/settings")
        else:
            row.update(user_id=f"user-{i}", event_name="Clicked Upgrade")
        rows.append(row)
    return rows
