"""The lifecycle checks of the other job families: exports (the appex host),
bulk identify and the real-time calls, which no schema can express.

Run after the jobs polls and the imports (:mod:`.lifecycle`), with the same
helpers: findings go to the report tagged by :mod:`.catalogue`, every check
evaluated is recorded, a check switched off in ``schemathesis.toml`` reports
nothing. What they send is a write: they run against a fake, or with
``--allow-writes``; against anything else only the reads below run.

- **Real-time calls**: a valid identify, identify company and track are
  accepted (202), one without its id or event name is a 400 naming it, one
  without a key a 401.
- **Bulk identify**: rows a server must refuse create no job; a users job
  and a companies job are accepted, listed in List Jobs, followed on Check
  job status to the end, never faster than the documented rate (1,200 user
  rows, 1,800 company rows a minute); a second bulk job meanwhile gets 409.
- **Exports**: malformed filters are refused; an export is triggered with
  filters, a second trigger meanwhile gets 409, the export is followed on
  the clock with every read held to :mod:`mock_server.export_invariants`
  (progress monotone, completed_chunks within all_chunks, URLs exactly when
  completed, times ordered) and compared with its List Jobs entry; its files
  are downloaded and every event checked against the export event schema
  and the trigger's filters, and (on a fake) holds what the suite sent
  before; on a fake whose clock the run moves, the URLs expire at 2 days and
  the job is gone at 3. Without writes the app's existing exports are read
  twice, ``--poll-interval`` apart (their files are not downloaded).
- **Declared authentication**: a GET operation whose spec declares no key is
  asked once without one (``--spec vendor``: the two export job GETs).

On a fake whose clock the run moves, time passes through the control API;
otherwise the suite waits in real time, up to ``--max-wait`` for what it
follows, and says in a note what it did not see end.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterable
from urllib.parse import quote

from mock_server.export_invariants import export_transition_problems, views_agree
from mock_server.handle import parse_export_file
from mock_server.invariants import parse_time
from mock_server.times import format_instant

from .checks import answer_checks as job_answer_checks
from .checks import body_problems, requested_job_problems
from .events import event_problems, filter_problems, metadata_of
from .export_checks import answer_checks as export_answer_checks
from .export_checks import export_answer_problems, requested_export_problems, trigger_answer_problems
from .lifecycle import Lifecycle, _is_error_shape
from .operations import BULK_OPS, EXPORTS_PATH_PREFIX, REALTIME_OPS, TRIGGER_OP
from .target import Answer, job_path

TRIGGER = EXPORTS_PATH_PREFIX
EXPORT_JOBS = EXPORTS_PATH_PREFIX + "/jobs/"
BULK_PATHS = {"bulkIdentifyUsers": "/v1/users/bulk_identify", "bulkIdentifyCompanies": "/v1/companies/bulk_identify"}
BULK_KEYS = {"bulkIdentifyUsers": "users", "bulkIdentifyCompanies": "companies"}
BULK_TYPES = {"bulkIdentifyUsers": "bulk_identify_users", "bulkIdentifyCompanies": "bulk_identify_companies"}
#: The documented processing rates, rows a minute (the kit's reading of the vendor's pages, stated here and
#: not read from the fake: real-time/bulk-identify-update 1,200 rows; bulk-updates/companies 1,800 companies).
BULK_RATES = {"bulkIdentifyUsers": 1200, "bulkIdentifyCompanies": 1800}
#: Rows of the suite's bulk jobs on a fake: 30 s of processing each at the documented rates.
BULK_ROWS = {"bulkIdentifyUsers": 600, "bulkIdentifyCompanies": 900}
#: ... and on any other server (--allow-writes: they land in a real account): 3 s each.
BULK_ROWS_REAL = {"bulkIdentifyUsers": 60, "bulkIdentifyCompanies": 90}
REALTIME_PATHS = {"identifyUser": "/v1/identify", "identifyCompany": "/v1/companies/identify",
                  "trackEvent": "/v1/track"}
#: The documented X-API-Version of identify and track (real-time pages, article 195).
API_VERSION = {"X-API-Version": "2020-09-22"}
#: Clock steps (seconds) while following a job the suite made on a fake: fine enough to read a 30 s
#: processing phase several times, then through a day.
FOLLOW_STEPS = (5, 5, 10, 10, 20, 30, 60, 120, 300, 600, 3600, 86400)
#: Exports the read-only polls read one by one.
MAX_EXPORT_READS = 10
#: The event types the suite's export asks for (its other filters: the last two days, NDJSON).
EXPORT_EVENT_TYPES = ["identify_user", "track", "page_view"]
#: Trigger bodies a server must refuse: (body, the filter the error must name, what is wrong).
BAD_TRIGGERS = (
    ({"from": "2026-11-20T00:00:00Z", "to": "2026-11-10T00:00:00Z"}, "from", "from after to"),
    ({"event_type": ["no_such_event_type"]}, "event_type", "an unknown event type"),
    ({"no_such_filter": True}, "no_such_filter", "an unknown filter"),
)
DAY = 86_400
#: Seconds of clock skew allowed between this machine and a server that is not a fake (the rate check).
CLOCK_SKEW = 5.0


def export_path(job_id: str) -> str:
    """Show Job by Job ID's path for ``job_id`` (percent-encoded, ``:`` kept)."""
    return EXPORT_JOBS + quote(job_id, safe=":")


def _names(answer: Answer, name: str) -> bool:
    """Whether an error answer's text names ``name``."""
    return name.lower() in answer.body.decode("utf-8", "replace").lower()


def _json(answer: Answer):
    try:
        return answer.json()
    except ValueError:
        return None


class Flows:
    """The lifecycle checks of exports, bulk identify and the real-time calls,
    on the :class:`~.lifecycle.Lifecycle` ``life`` (its target, report, clock
    and helpers). ``selected``: the operation ids the run tests; ``writes``:
    the run may send writes; ``seed``: names the suite's users and companies;
    ``no_key_gets``: ``[(operation id, path)]`` of the GET operations whose
    spec declares no API key."""

    def __init__(self, life: Lifecycle, *, selected: Iterable[str], writes: bool, seed: int | None,
                 no_key_gets: Iterable[tuple[str, str]] = ()):
        self.life = life
        self.target = life.target
        self.selected = set(selected)
        self.writes = writes
        self.tag = f"{seed if seed is not None else 0:x}"
        self.no_key_gets = list(no_key_gets)
        self.sent_users: dict[str, dict] = {}      # user_id -> metadata the suite sent (completed jobs, calls)
        self.sent_tracks: list[tuple[str, str]] = []
        self.export_ids: list[str] = []
        self.files_read = 0

    # ------------------------------------------------------------ helpers
    def ran(self, *checks: str) -> None:
        """Record that ``checks`` were evaluated (:meth:`Lifecycle.ran`)."""
        self.life.ran(*checks)

    def finding(self, op: str, check: str, seen: str, curl: str | None) -> None:
        """Report ``seen`` as a failure of ``check`` on the operation id ``op`` (:meth:`Lifecycle.finding`)."""
        self.life.finding(op, check, seen, curl)

    def note(self, text: str) -> None:
        """A note of the report: something the suite did not check, and why."""
        self.life.report.notes.append(text)

    def curl(self, method: str, path: str, body=None, *, auth: bool = True, headers: dict | None = None) -> str:
        """The reproduction of a request with JSON ``body`` (:meth:`Target.curl`)."""
        return self.target.curl(method, path, auth=auth, json_body=body, headers=headers)

    def now(self) -> float:
        """The instant the target is at (UTC epoch s): the fake's frozen clock,
        a running fake's clock, any other server's wall-clock time."""
        if self.life.now is not None:
            return self.life.now
        if self.target.is_fake:
            return float(int(parse_time(self.target.clock()["now"]) or time.time()))
        return time.time()

    def step_through(self):
        """Yield before each further read of something the suite follows;
        moves a fake's clock (``FOLLOW_STEPS``) or waits ``--poll-interval``
        in real time, up to ``--max-wait``. Ends when time is up."""
        if self.life.moves_clock:
            for step in FOLLOW_STEPS:
                self.life.wait(step)
                yield
            return
        deadline = time.monotonic() + self.life.max_wait
        while time.monotonic() + self.life.poll_interval <= deadline:
            time.sleep(self.life.poll_interval)
            yield

    def send(self, method: str, path: str, body=None, *, auth: bool = True, headers: dict | None = None) -> Answer:
        """Send a request with JSON ``body`` (None: none); raises NoAnswer when none comes."""
        return self.target.request(method, path, json_body=body, auth=auth, headers=headers)

    def refused(self, op: str, check: str, answer: Answer, curl: str, why: str, *, names: str | None = None) -> bool:
        """Hold a request the server must refuse: a 4xx in the error shape
        (naming ``names`` when given). Returns whether it was refused so."""
        if answer.status >= 500:
            self.finding(op, "not_a_server_error", f"{answer.status} to {why}", curl)
        elif not 400 <= answer.status < 500:
            self.finding(op, check, f"{answer.status} to {why} (expected a 4xx)", curl)
        elif not _is_error_shape(answer):
            self.finding(op, check, f"{answer.status} to {why} without the error shape {{\"errors\": [...]}}", curl)
        elif names is not None and not _names(answer, names):
            self.finding(op, check, f"{answer.status} to {why}, but the error does not name {names}", curl)
        else:
            return True
        return False

    def read_job(self, job_id: str) -> dict | None:
        """Check job status (analytex) on a job the suite made; the job checks
        and transitions applied (:meth:`Lifecycle.get`, :meth:`Lifecycle.observe`)."""
        path = job_path(job_id)
        single = self.life.get("getJob", path)
        if not isinstance(single, dict):
            return None
        curl = self.target.curl("GET", path)
        self.ran("job_detail_is_the_requested_job")
        for problem in requested_job_problems(job_id, single):
            self.finding("getJob", "job_detail_is_the_requested_job", problem, curl)
        self.life.observe("getJob", single, curl)
        return single

    # ------------------------------------------------------ real-time calls
    def run_realtime(self) -> None:
        """Each selected real-time call: accepted when valid, 400 naming what
        is missing, 401 without a key."""
        user, company = f"contract-check-user-{self.tag}", f"contract-check-company-{self.tag}"
        calls: dict[str, tuple[dict, dict, list[tuple[dict, str]]]] = {
            # operation: (a valid body, its headers, [(a body without a field, the field)])
            "identifyUser": ({"user_id": user, "metadata": {"plan": "contract-check", "seats": 3},
                              "company": {"company_id": company}}, API_VERSION,
                             [({"metadata": {"plan": "x"}}, "user_id")]),
            "identifyCompany": ({"company_id": company, "metadata": {"plan": "contract-check"}}, {},
                                [({"metadata": {"plan": "x"}}, "company_id")]),
            "trackEvent": ({"user_id": user, "event_name": "Contract Check", "metadata": {"step": 1}}, API_VERSION,
                           [({"user_id": user}, "event_name"), ({"event_name": "Contract Check"}, "user_id")]),
        }
        for op in sorted(REALTIME_OPS & self.selected):
            body, headers, missing = calls[op]
            path = REALTIME_PATHS[op]
            self.ran("realtime_accepts_valid_call", "realtime_names_missing_field", "realtime_requires_key",
                     "not_a_server_error")
            answer = self.send("POST", path, body, headers=headers)
            curl = self.curl("POST", path, body, headers=headers)
            accepted = (200, 202) if op == "identifyCompany" else (202,)
            if answer.status >= 500:
                self.finding(op, "not_a_server_error", f"{answer.status} to a valid call", curl)
            elif answer.status not in accepted:
                self.finding(op, "realtime_accepts_valid_call",
                             f"{answer.status} to a valid call (expected {' or '.join(map(str, accepted))})", curl)
            elif op == "identifyUser":
                self.sent_users[user] = dict(body["metadata"])
            elif op == "trackEvent":
                self.sent_tracks.append((user, str(body["event_name"])))
            for broken, name in missing:
                answer = self.send("POST", path, broken, headers=headers)
                self.refused(op, "realtime_names_missing_field", answer,
                             self.curl("POST", path, broken, headers=headers), f"a call without {name}", names=name)
            answer = self.send("POST", path, body, auth=False, headers=headers)
            curl = self.curl("POST", path, body, auth=False, headers=headers)
            if answer.status != 401:
                self.finding(op, "not_a_server_error" if answer.status >= 500 else "realtime_requires_key",
                             f"{answer.status} to a call without an API key (expected 401)", curl)

    # ------------------------------------------------------- bulk identify
    def settle(self, running) -> None:
        """On a fake whose clock the run moves: when ``running()`` says a job
        of the family still runs (Schemathesis's phases made it, on the
        frozen clock), a day passes first, so the suite's own is accepted."""
        if self.life.moves_clock and running():
            self.life.wait(DAY)

    def bulk_running(self) -> bool:
        """Whether List Jobs shows a bulk identify job that is not finished."""
        answer = self.target.request("GET", "/v1/background_jobs")
        jobs = _json(answer)
        return answer.status == 200 and isinstance(jobs, list) and any(
            isinstance(j, dict) and str(j.get("type", "")).startswith("bulk_identify")
            and j.get("status") not in ("completed", "failed") for j in jobs)

    def export_running(self) -> bool:
        """Whether Show Jobs shows an export that is not finished."""
        answer = self.target.request("GET", EXPORT_JOBS)
        jobs = _json(answer)
        return answer.status == 200 and isinstance(jobs, list) and any(
            isinstance(j, dict) and j.get("status") not in ("completed", "failed") for j in jobs)

    def bulk_rows(self, op: str, count: int, *, start: int = 0) -> list[dict]:
        """``count`` valid rows for ``op`` (users with a company and metadata, or
        companies with metadata), numbered from ``start``, named after the run."""
        if op == "bulkIdentifyUsers":
            return [{"user_id": f"contract-check-bulk-user-{self.tag}-{i}",
                     "company_id": f"contract-check-company-{self.tag}",
                     "metadata": {"plan": "contract-check", "row": i}} for i in range(start, start + count)]
        return [{"company_id": f"contract-check-bulk-company-{self.tag}-{i}",
                 "metadata": {"plan": "contract-check", "row": i}} for i in range(start, start + count)]

    def run_bulk(self) -> None:
        """Bad rows refused; a users job, then a companies job (as selected),
        each refused a second job meanwhile and followed to the end at the
        documented rate."""
        ops = [op for op in ("bulkIdentifyUsers", "bulkIdentifyCompanies") if op in self.selected]
        if not ops:
            return
        self.settle(self.bulk_running)
        first = ops[0]
        key, path = BULK_KEYS[first], BULK_PATHS[first]
        bad = {key: [{"metadata": {"plan": "contract-check"}}]}
        before = self.life.ids()
        self.ran("bulk_refuses_bad_rows", "not_a_server_error")
        answer = self.send("POST", path, bad)
        if answer.status == 409:
            self.note(f"a bulk identify job was already running in this app (409): {first}'s bad rows were not "
                      "tried")
        else:
            self.refused(first, "bulk_refuses_bad_rows", answer, self.curl("POST", path, bad),
                         f"a row without its {'user_id' if first == 'bulkIdentifyUsers' else 'company_id'}")
            after = self.life.ids()
            if before is not None and after is not None and after - before:
                self.finding(first, "bulk_refuses_bad_rows", f"refused rows created job(s): "
                             f"{', '.join(sorted(after - before))}", self.curl("POST", path, bad))
        for op in ops:
            other = next((o for o in BULK_OPS if o != op), op)
            self.bulk_job(op, other)

    def bulk_job(self, op: str, other: str) -> None:
        """One bulk job of ``op``: accepted, its 202 checked, a job of ``other``
        refused meanwhile, followed to the end; its users remembered once it
        completed (they must come back out in the export)."""
        key, path = BULK_KEYS[op], BULK_PATHS[op]
        rows = self.bulk_rows(op, (BULK_ROWS if self.target.is_fake else BULK_ROWS_REAL)[op])
        body = {key: rows}
        answer = self.send("POST", path, body)
        curl = self.curl("POST", path, body)
        self.ran("positive_data_acceptance")
        if answer.status == 409:
            self.note(f"a bulk identify job was already running in this app (409): {op}'s job was not followed")
            return
        if answer.status != 202:
            self.finding(op, "not_a_server_error" if answer.status >= 500 else "positive_data_acceptance",
                         f"{answer.status} to a valid {len(rows)}-row bulk identify (documented: 202)", curl)
            return
        self.ran(*job_answer_checks(op, self.life.strict), "bulk_answer_matches_request")
        job = _json(answer)
        for check, problem in body_problems(op, job, self.life.answer_now(answer), self.life.strict,
                                              self.life.target.forms):
            self.finding(op, check, problem, curl)
        if not isinstance(job, dict) or not isinstance(job.get("job_id"), str):
            self.finding(op, "job_answer_shape", "the 202 answer is not a job with a job_id", curl)
            return
        for name, value in (("total_rows", len(rows)), ("type", BULK_TYPES[op])):
            if job.get(name) != value:
                self.finding(op, "bulk_answer_matches_request", f"{name} is {job.get(name)!r}, expected {value!r}",
                             curl)
        frozen = self.life.now is not None  # at a frozen instant a fresh job is queued; on a running clock it may
        if (job.get("status") != "queued") if frozen else (job.get("status") == "failed"):  # have moved on already
            self.finding(op, "bulk_answer_matches_request", f"status is {job.get('status')!r} in the 202 answer"
                         + (", expected 'queued'" if frozen else ""), curl)
        self.second_bulk(other, op)
        if self.follow_bulk(op, job) and op == "bulkIdentifyUsers":
            self.sent_users.update({row["user_id"]: row["metadata"] for row in rows})

    def second_bulk(self, op: str, running: str) -> None:
        """While ``running``'s job is not finished, a bulk job of ``op`` gets 409 and creates nothing."""
        key, path = BULK_KEYS[op], BULK_PATHS[op]
        body = {key: self.bulk_rows(op, 2, start=10_000)}
        before = self.life.ids()
        answer = self.send("POST", path, body)
        curl = self.curl("POST", path, body)
        self.ran("bulk_one_at_a_time")
        if answer.status != 409:
            self.finding(op, "not_a_server_error" if answer.status >= 500 else "bulk_one_at_a_time",
                         f"{answer.status} to a bulk identify while the {running} job runs (expected 409)", curl)
        elif not _is_error_shape(answer):
            self.finding(op, "bulk_one_at_a_time", "409 without the error shape {\"errors\": [...]}", curl)
        after = self.life.ids()
        if before is not None and after is not None and after - before:
            self.finding(op, "bulk_one_at_a_time", f"the second bulk identify created job(s): "
                         f"{', '.join(sorted(after - before))}", curl)

    def rate_problems(self, op: str, job: dict, at: float | None) -> list[str]:
        """Problems of one read of a bulk job against the documented rate."""
        rate = BULK_RATES[op] / 60.0
        start = parse_time(job.get("start_time"))
        if start is None:
            return []
        problems = []
        done, total = job.get("completed_rows"), job.get("total_rows")
        if at is not None and at < start - CLOCK_SKEW:
            at = None  # the server's clock and its start_time disagree: only its own times can be compared
        slack = 1 if self.life.moves_clock else rate * CLOCK_SKEW  # a fake's instant is exact, a Date header's not
        if at is not None and isinstance(done, int) and done > rate * max(0.0, at - start) + slack:
            problems.append(f"{done} rows done {at - start:.0f} s after start_time: more than "
                            f"{BULK_RATES[op]:,} a minute")
        end = parse_time(job.get("end_time"))
        if job.get("status") == "completed" and end is not None and isinstance(total, int) \
                and end - start < total / rate - 1:
            problems.append(f"{total} rows completed in {end - start:.0f} s: more than {BULK_RATES[op]:,} a minute "
                            f"(at least {total / rate:.0f} s)")
        return problems

    def follow_bulk(self, op: str, job: dict) -> bool:
        """Follow the suite's bulk job to the end; whether it completed."""
        job_id = job["job_id"]
        curl = self.target.curl("GET", job_path(job_id))
        self.life.last[job_id] = job
        self.ran("bulk_job_runs_to_the_end", "bulk_rate_documented")
        if not self.life.moves_clock and self.target.is_fake and self.life.now is not None:
            self.note(f"the suite's {op} job {job_id} was not followed to the end: the fake's clock is frozen and "
                      "--clock keep leaves it so")
            return False
        listed = self.life.get("listJobs", "/v1/background_jobs")
        if isinstance(listed, list) and not any(isinstance(j, dict) and j.get("job_id") == job_id for j in listed):
            self.finding("listJobs", "bulk_job_runs_to_the_end", f"the accepted {op} job {job_id} is not in List Jobs",
                         curl)
        steps = self.step_through()
        while True:
            read_at = self.life.now if self.life.moves_clock else None
            single = self.read_job(job_id)
            if not isinstance(single, dict):
                return False
            at = read_at if read_at is not None else (None if self.target.is_fake else time.time())
            for problem in self.rate_problems(op, single, at):
                self.finding("getJob", "bulk_rate_documented", f"job {job_id}: {problem}", curl)
            if single.get("status") in ("completed", "failed"):
                if single.get("status") != "completed" or single.get("completed_rows") != single.get("total_rows"):
                    self.finding("getJob", "bulk_job_runs_to_the_end",
                                 f"a valid {op} job ended {single.get('status')} with completed_rows "
                                 f"{single.get('completed_rows')!r} of {single.get('total_rows')!r}", curl)
                    return False
                return True
            if next(steps, "end") == "end":
                if self.life.moves_clock:
                    self.finding("getJob", "bulk_job_runs_to_the_end",
                                 f"a {single.get('total_rows')}-row {op} job still {single.get('status')} a day "
                                 "later", curl)
                else:
                    self.note(f"the suite's {op} job {job_id} had not ended after {self.life.max_wait:g} s (still "
                              f"{single.get('status')})")
                return False

    # -------------------------------------------------------------- exports
    def get_export(self, op: str, path: str):
        """GET an exports API answer; its JSON when 200 (export checks
        applied), None otherwise (reported)."""
        answer = self.target.request("GET", path)
        curl = self.target.curl("GET", path)
        self.ran("not_a_server_error", "status_code_conformance")
        if answer.status != 200:
            check = "not_a_server_error" if answer.status >= 500 else "status_code_conformance"
            what = "an export the suite made" if op == "getExportJob" else "Show Jobs"
            self.finding(op, check, f"{answer.status} to reading {what}", curl)
            return None
        self.ran(*export_answer_checks(op, self.life.strict))
        body = _json(answer)
        if body is None:
            self.finding(op, "export_job_shape", f"the answer is not JSON ({answer.content_type})", curl)
            return None
        for check, problem in export_answer_problems(op, body, self.life.answer_now(answer), self.life.strict):
            self.finding(op, check, problem, curl)
        return body

    def observe_export(self, op: str, job: dict, curl: str, last: dict[str, dict]) -> None:
        """Compare an export with its previous read in ``last`` (job_id -> job), then remember it."""
        job_id = str(job.get("job_id"))
        before = last.get(job_id)
        if before is not None:
            self.ran("export_progress_never_backwards")
            for problem in export_transition_problems(before, job):
                self.finding(op, "export_progress_never_backwards", f"export {job_id}: {problem}", curl)
        last[job_id] = job

    def export_ids_now(self) -> set[str] | None:
        """The job_ids Show Jobs lists now (None: no readable answer)."""
        answer = self.target.request("GET", EXPORT_JOBS)
        body = _json(answer)
        if answer.status != 200 or not isinstance(body, list):
            return None
        return {str(j.get("job_id")) for j in body if isinstance(j, dict)}

    def run_exports(self) -> None:
        """Writes allowed: refused triggers, an export followed to the end and
        its files; otherwise the app's exports read twice."""
        if self.writes and TRIGGER_OP in self.selected:
            self.settle(self.export_running)
            self.bad_triggers()
            self.export()
        elif "listExportJobs" in self.selected or "getExportJob" in self.selected:
            self.read_exports()

    def bad_triggers(self) -> None:
        """Triggers with a malformed filter: refused naming it, no export made."""
        before = self.export_ids_now()
        self.ran("export_trigger_refuses_bad_filter", "not_a_server_error")
        for body, name, why in BAD_TRIGGERS:
            answer = self.send("POST", TRIGGER, body)
            if answer.status == 409:
                self.note("an export was already running in this app (409): the malformed filters were not tried")
                return
            self.refused(TRIGGER_OP, "export_trigger_refuses_bad_filter", answer, self.curl("POST", TRIGGER, body),
                         f"a trigger with {why}", names=name)
        after = self.export_ids_now()
        if before is not None and after is not None and after - before:
            self.finding(TRIGGER_OP, "export_trigger_refuses_bad_filter",
                         f"refused triggers created export(s): {', '.join(sorted(after - before))}",
                         self.target.curl("GET", EXPORT_JOBS))

    def export(self) -> None:
        """Trigger the suite's export (the last two days, three event types,
        NDJSON), refuse a second, follow it, check its files and (a fake whose
        clock the run moves) its expiry."""
        now = self.now()
        start = float(int(now)) - 2 * DAY
        filters: dict = {"from": format_instant(start), "event_type": EXPORT_EVENT_TYPES, "format": "ndjson"}
        if not self.target.is_fake:  # a real account: only what the suite sent, not the app's own data
            filters["user_id"] = sorted(self.sent_users)[:50] or [f"contract-check-user-{self.tag}"]
        answer = self.send("POST", TRIGGER, filters)
        curl = self.curl("POST", TRIGGER, filters)
        self.ran("positive_data_acceptance", "export_trigger_answer")
        if answer.status == 409:
            self.note("an export was already running in this app (409): the export lifecycle was not followed")
            return
        if answer.status != 201:
            self.finding(TRIGGER_OP, "not_a_server_error" if answer.status >= 500 else "positive_data_acceptance",
                         f"{answer.status} to a valid trigger (documented: 201)", curl)
            return
        created = _json(answer)
        for problem in trigger_answer_problems(created):
            self.finding(TRIGGER_OP, "export_trigger_answer", problem, curl)
        if not isinstance(created, dict) or not isinstance(created.get("job_id"), str):
            return
        job_id = created["job_id"]
        self.export_ids.append(job_id)
        self.second_trigger(job_id)
        job = self.follow_export(job_id)
        if job is None or job.get("status") != "completed":
            return
        end = min(parse_time(created.get("start_time")) or now, now)
        self.check_files(job, filters, start=start, end=end + 1)
        if self.life.moves_clock:
            self.expiry(job)

    def second_trigger(self, job_id: str) -> None:
        """While export ``job_id`` runs, another trigger gets 409 and creates nothing."""
        before = self.export_ids_now()
        body = {"event_type": ["track"]}
        answer = self.send("POST", TRIGGER, body)
        curl = self.curl("POST", TRIGGER, body)
        self.ran("export_one_at_a_time")
        if answer.status != 409:
            self.finding(TRIGGER_OP, "not_a_server_error" if answer.status >= 500 else "export_one_at_a_time",
                         f"{answer.status} to a second trigger while export {job_id} runs (expected 409)", curl)
        elif not _is_error_shape(answer):
            self.finding(TRIGGER_OP, "export_one_at_a_time", "409 without the error shape {\"errors\": [...]}", curl)
        after = self.export_ids_now()
        if before is not None and after is not None and after - before:
            self.finding(TRIGGER_OP, "export_one_at_a_time",
                         f"the second trigger created export(s): {', '.join(sorted(after - before))}", curl)

    def read_views(self, job_id: str, last: dict[str, dict]) -> dict | None:
        """One read of the suite's export: Show Job by Job ID, Show Jobs and,
        on a frozen fake, its List Jobs entry (the same instant)."""
        path = export_path(job_id)
        curl = self.target.curl("GET", path)
        single = self.get_export("getExportJob", path)
        if not isinstance(single, dict):
            return None
        self.ran("export_detail_is_the_requested_job")
        for problem in requested_export_problems(job_id, single):
            self.finding("getExportJob", "export_detail_is_the_requested_job", problem, curl)
        self.observe_export("getExportJob", single, curl, last)
        listed = self.get_export("listExportJobs", EXPORT_JOBS)
        list_curl = self.target.curl("GET", EXPORT_JOBS)
        if isinstance(listed, list):
            entry = next((j for j in listed if isinstance(j, dict) and j.get("job_id") == job_id), None)
            self.ran("export_job_runs_to_the_end")
            if entry is None:
                self.finding("listExportJobs", "export_job_runs_to_the_end",
                             f"the suite's export {job_id} is not in Show Jobs", list_curl)
            else:
                self.observe_export("listExportJobs", entry, list_curl, last)
        if self.target.is_fake and self.life.now is not None:
            jobs = self.life.get("listJobs", "/v1/background_jobs")
            if isinstance(jobs, list):
                entry = next((j for j in jobs if isinstance(j, dict) and j.get("job_id") == job_id), None)
                self.ran("export_views_agree")
                if entry is None:
                    self.finding("listJobs", "export_views_agree", f"the export {job_id} is not in List Jobs",
                                 self.target.curl("GET", "/v1/background_jobs"))
                else:
                    for problem in views_agree(single, entry):
                        self.finding("getExportJob", "export_views_agree", f"export {job_id}: {problem}", curl)
        return single

    def follow_export(self, job_id: str) -> dict | None:
        """Read the suite's export until it ends; the last read."""
        self.ran("export_job_runs_to_the_end")
        curl = self.target.curl("GET", export_path(job_id))
        if not self.life.moves_clock and self.target.is_fake and self.life.now is not None:
            self.note(f"the suite's export {job_id} was not followed to the end: the fake's clock is frozen and "
                      "--clock keep leaves it so")
            return None
        last: dict[str, dict] = {}
        steps = self.step_through()
        while True:
            job = self.read_views(job_id, last)
            if job is None:
                return None
            if job.get("status") in ("completed", "failed"):
                if job.get("status") != "completed":
                    self.finding("getExportJob", "export_job_runs_to_the_end", f"the export ended {job.get('status')}",
                                 curl)
                return job
            if next(steps, "end") == "end":
                if self.life.moves_clock:
                    self.finding("getExportJob", "export_job_runs_to_the_end",
                                 f"the export is still {job.get('status')} a day later", curl)
                else:
                    self.note(f"the suite's export {job_id} had not ended after {self.life.max_wait:g} s (still "
                              f"{job.get('status')}): its files were not checked")
                return None

    def check_files(self, job: dict, filters: dict, *, start: float, end: float) -> None:
        """Download every file of the completed export; each event against
        the export event schema and the trigger's filters; on a fake, what the
        suite sent is there."""
        self.ran("export_files_download", "export_events_schema", "export_events_match_filters")
        events: list[dict] = []
        self.files_read = 0
        for item in job.get("presigned_urls") or []:
            if not isinstance(item, dict) or not isinstance(item.get("url"), str):
                continue
            name, url = str(item.get("filename")), item["url"]
            curl = f"curl -s {json.dumps(url)}"
            answer = self.target.download(url)
            if answer.status != 200:
                self.finding("getExportJob", "export_files_download", f"{answer.status} to downloading {name}", curl)
                continue
            try:
                events += parse_export_file(name, answer.body)
                self.files_read += 1
            except ImportError as exc:
                self.note(f"the export file {name} was not read: {exc.name} is not installed")
            except (ValueError, UnicodeDecodeError) as exc:
                self.finding("getExportJob", "export_files_download",
                             f"{name} is not a file of its format: {type(exc).__name__}: {exc}"[:300], curl)
        schema_seen, filter_seen = 0, 0
        for event in events:
            problems = event_problems(event, job.get("app_token") if isinstance(job.get("app_token"), str) else None)
            if problems and schema_seen < 5:
                schema_seen += 1
                for problem in problems:
                    self.finding("getExportJob", "export_events_schema", problem, None)
            wrong = filter_problems(event, filters, start=start, end=end)
            if wrong and filter_seen < 5:
                filter_seen += 1
                for problem in wrong:
                    self.finding("getExportJob", "export_events_match_filters", f"{event.get('event_type')} event: "
                                 f"{problem}", None)
        if self.life.strict and self.files_read == len(job.get("presigned_urls") or []):  # every file read
            self.holds_sent_data(events)

    def holds_sent_data(self, events: list[dict]) -> None:
        """(Fakes) the users and the tracked event the suite sent are among ``events``, with their metadata."""
        if not self.sent_users and not self.sent_tracks:
            return
        self.ran("export_holds_sent_data")
        identified = {e.get("user_id"): e for e in events if e.get("event_type") == "identify_user"}
        missing = [user for user in self.sent_users if user not in identified]
        if missing:
            self.finding("getExportJob", "export_holds_sent_data",
                         f"{len(missing)} of the {len(self.sent_users)} users the suite identified have no "
                         f"identify_user event, e.g. {missing[0]}", None)
        for user, metadata in self.sent_users.items():
            got = metadata_of(identified[user]) if user in identified else None
            if got is not None and any(got.get(k) != v for k, v in metadata.items()):
                self.finding("getExportJob", "export_holds_sent_data",
                             f"user {user}'s metadata is {got!r}, the suite sent {metadata!r}", None)
                break
        tracked = {(e.get("user_id"), e.get("event_name")) for e in events if e.get("event_type") == "track"}
        for user, name in self.sent_tracks:
            if (user, name) not in tracked:
                self.finding("getExportJob", "export_holds_sent_data",
                             f"the track event {name!r} the suite sent for {user} is not in the export", None)

    def expiry(self, job: dict) -> None:
        """(A fake whose clock the run moves.) 2 days after its creation the
        URLs give no file, the job is still readable; 3 days after, 404."""
        start = parse_time(job.get("start_time"))
        urls = [u["url"] for u in job.get("presigned_urls") or []
                if isinstance(u, dict) and isinstance(u.get("url"), str)]
        if start is None or self.life.now is None:
            return
        job_id = str(job.get("job_id"))
        path = export_path(job_id)
        curl = self.target.curl("GET", path)
        self.ran("export_urls_expire", "export_job_retention")
        self.life.wait(max(0.0, start + 2 * DAY + 1 - self.life.now))
        answer = self.target.request("GET", path)
        if answer.status != 200:
            self.finding("getExportJob", "export_job_retention",
                         f"{answer.status} to reading the export 2 days after its creation", curl)
        for url in urls[:1]:
            answer = self.target.download(url)
            if answer.status == 200 or answer.status >= 500:
                self.finding("getExportJob", "export_urls_expire" if answer.status == 200 else "not_a_server_error",
                             f"{answer.status} to a download URL 2 days after the export's creation "
                             "(expected a 4xx)", f"curl -s {json.dumps(url)}")
        self.life.wait(max(0.0, start + 3 * DAY + 1 - self.life.now))
        answer = self.target.request("GET", path)
        if answer.status != 404:
            self.finding("getExportJob", "export_job_retention",
                         f"{answer.status} to reading the export 3 days after its creation (the fake: 404 "
                         "\"Export job not found\")", curl)

    def read_exports(self) -> None:
        """Without writes: Show Jobs and a few exports, twice, ``--poll-interval``
        apart (a fake: its clock moved as by the polls)."""
        last: dict[str, dict] = {}
        for poll in range(2):
            if poll:
                if self.life.moves_clock:
                    self.life.wait(60)
                else:
                    time.sleep(self.life.poll_interval)
            listed = self.get_export("listExportJobs", EXPORT_JOBS)
            if not isinstance(listed, list):
                return
            list_curl = self.target.curl("GET", EXPORT_JOBS)
            jobs = [j for j in listed if isinstance(j, dict) and isinstance(j.get("job_id"), str)]
            for job in jobs:
                self.observe_export("listExportJobs", job, list_curl, last)
            if "getExportJob" not in self.selected:
                continue
            for job in jobs[:MAX_EXPORT_READS]:
                path = export_path(job["job_id"])
                single = self.get_export("getExportJob", path)
                if isinstance(single, dict):
                    self.ran("export_detail_is_the_requested_job")
                    for problem in requested_export_problems(job["job_id"], single):
                        self.finding("getExportJob", "export_detail_is_the_requested_job", problem,
                                     self.target.curl("GET", path))
                    self.observe_export("getExportJob", single, self.target.curl("GET", path), last)
        if not last:
            self.note("the app has no exports: the export job checks read nothing (--allow-writes triggers one)")

    # ------------------------------------------------- declared authentication
    def run_declared_auth(self) -> None:
        """Each GET operation whose spec declares no key, once without one."""
        for op, template in self.no_key_gets:
            if op not in self.selected:
                continue
            path = template.replace("{job_id}", quote(self.export_ids[0], safe=":") if self.export_ids
                                    else "contract-check-no-such-job")
            self.ran("auth_requirement_declared")
            answer = self.target.request("GET", path, auth=False)
            if answer.status == 401:
                self.finding(op, "auth_requirement_declared",
                             "401 to a request without an API key, which the spec does not declare",
                             self.target.curl("GET", path, auth=False))
