"""``userpilot-mock diff CASSETTE``: the recorded requests sent to the fake,
and where its answers differ in shape from the recorded ones.

Each distinct recorded request of an operation of the kit spec (every
family: jobs, imports, exports and lookups, bulk identify, real-time calls)
is sent once, to a fresh fake in-process (frozen, with ``--profile`` when
given) or to the fake at ``--base-url``, with a key of its own (a request
recorded without a key is sent without one). A job the cassette saw is a
job the fake does not have: each recorded job id in a path (``getJob``,
``getExportJob``) is replaced by one of the fake's jobs of the same status
(running or settled) where it has one; for exports, the diff first gives
its app a running and a settled export through the control API. A lookup's
page cursor becomes the fake's cursor of the same page (the one the fake
gave where the recording gave it), or is left out when the fake has none. Then the recorded answers' shape and
the fake's are compared (:func:`~.shapes.differences`): status codes,
fields, types, formats, headers; values that always vary (ids, times,
request ids, dates) never count.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from ..backend.lifecycle import TERMINAL
from .har import Exchange
from .observe import jobs_in, operation_name
from .replay import request_key
from .shapes import Difference, Shape, differences, folded

#: The key the diff's requests carry (an app of its own in the fake).
DIFF_KEY = "userpilot-mock-diff"
#: The exports API's list of jobs (and, with an id after it, one job).
EXPORT_JOB_PATH = "/api/v1/analytics/exports/jobs/"
#: When the in-process fake's clock stands (any instant works: only shapes are compared).
DIFF_NOW = "2026-11-29T12:00:00Z"


@dataclass
class DiffReport:
    """What a diff found: ``differences``, ``sent`` (requests sent),
    ``recorded`` (exchanges read), ``target`` (what was asked), ``notes``."""

    differences: list[Difference]
    sent: int
    recorded: int
    target: str
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.differences else 0

    def render(self) -> str:
        lines = [f"userpilot-mock diff: {self.recorded} recorded exchange(s), {self.sent} distinct request(s) "
                 f"sent to {self.target}"]
        lines += [f"  note: {note}" for note in self.notes]
        if not self.differences:
            lines.append("\nNO DIFFERENCE: the fake's answers have the recorded shape")
        else:
            shown = folded(self.differences)  # the same difference on several operations: one line
            lines.append(f"\nDIFFERENCES ({len(self.differences)}, {len(shown)} distinct): expected = recorded, "
                         "seen = the fake")
            for i, d in enumerate(shown, 1):
                lines.append(f"  {i}. {d.operation}: {d.kind} {d.where}")
                lines.append(f"     recorded: {d.expected}")
                lines.append(f"     fake:     {d.seen}")
        return "\n".join(lines) + "\n"


class _InProcess:
    def __init__(self, app):
        from werkzeug.test import Client  # deferred: only an in-process diff needs werkzeug's client

        self.client = Client(app)

    def send(self, method: str, path: str, query, headers: dict, body: bytes):
        answer = self.client.open(path, method=method, query_string=urlencode(list(query)), headers=headers,
                                  data=body or None)
        return answer.status_code, answer.status.partition(" ")[2], list(answer.headers.items()), answer.get_data()


class _OverHttp:
    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")

    def send(self, method: str, path: str, query, headers: dict, body: bytes):
        url = self.base_url + quote(path, safe="/:@!$&'()*+,;=-._~%") + (f"?{urlencode(list(query))}" if query else "")
        request = urllib.request.Request(url, data=body or None, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, answer.reason, list(answer.headers.items()), answer.read()
        except urllib.error.HTTPError as answer:
            return answer.code, answer.reason, list(answer.headers.items()), answer.read()


def _fake_jobs(target, key: str, list_path: str = "/v1/background_jobs") -> tuple[list[str], list[str]]:
    """(running, settled) job ids of the diff key's app in the fake (List
    Jobs, or ``list_path``: the exports API's list)."""
    status, _reason, _headers, body = target.send("GET", list_path, (), {"Authorization": f"Token {key}"}, b"")
    try:
        jobs = json.loads(body) if status == 200 else []
    except ValueError:
        jobs = []
    jobs = jobs if isinstance(jobs, list) else []
    running = [j["job_id"] for j in jobs if isinstance(j, dict) and j.get("status") not in TERMINAL]
    settled = [j["job_id"] for j in jobs if isinstance(j, dict) and j.get("status") in TERMINAL]
    return running, settled


def _make_exports(target, key: str) -> None:
    """Give the diff key's app one running and one settled export (through
    the control API: no clock moves), so that recorded export jobs have
    fake ones of their status to be compared with."""
    for spec in ({"total_rows": 600_000}, {"total_rows": 1200, "started_ago": 86_400}):
        body = json.dumps({"api_key": key, "type": "export", **spec}).encode("utf-8")
        target.send("POST", "/__admin/jobs", (), {"Content-Type": "application/json"}, body)


class _Ids:
    """Recorded job ids -> the fake's jobs of the same status (running or
    settled), one pool per kind of job (``jobs``: List Jobs, ``exports``:
    the exports API's list)."""

    def __init__(self, seen_running: dict[str, bool]):
        self.seen_running = seen_running
        self.pools: dict[str, tuple[list[str], list[str]]] = {}
        self.mapping: dict[str, str] = {}
        self.counters: dict[tuple[str, bool], int] = {}

    def fake_id(self, kind: str, recorded: str) -> str:
        if recorded not in self.mapping:
            was_running = self.seen_running.get(recorded)
            running, settled = self.pools.get(kind, ([], []))
            pool = (running if was_running else settled) or running or settled
            if was_running is None or not pool:
                self.mapping[recorded] = recorded  # an id no answer showed: sent as it is
            else:
                at = self.counters.get((kind, bool(was_running)), 0)
                self.mapping[recorded] = pool[at % len(pool)]
                self.counters[(kind, bool(was_running))] = at + 1
        return self.mapping[recorded]


#: Operations whose path names a job, and the pool its fake id comes from.
_JOB_IN_PATH = {"getJob": ("jobs", "/v1/background_jobs/"), "getExportJob": ("exports", EXPORT_JOB_PATH)}
#: Query parameters that only mean something to the server that gave them (a lookup's page cursor):
#: a recorded one is replaced by the fake's cursor of the same page, or left out when there is none.
FOREIGN_PARAMETERS = frozenset({"after_cursor"})


def _page_cursors(body) -> dict[str, str]:
    """``{"after": ..., "before": ...}`` of a lookup page's ``metadata.cursor`` (the strings only)."""
    metadata = body.get("metadata") if isinstance(body, dict) else None
    cursor = metadata.get("cursor") if isinstance(metadata, dict) else None
    if not isinstance(cursor, dict):
        return {}
    return {k: v for k, v in cursor.items() if k in ("after", "before") and isinstance(v, str)}


def run_diff(exchanges: Sequence[Exchange], *, app=None, base_url: str | None = None, profile=None,
             key: str = DIFF_KEY) -> DiffReport:
    """Send the recorded requests of ``exchanges`` (those of an operation
    of the kit spec, every family's) to a fake (``app``, a WSGI app; else
    the server at ``base_url``; else a fresh in-process fake with
    ``profile``) and compare shapes. Recorded job ids in paths become the
    fake's jobs of the same status; a lookup's recorded page cursor the
    fake's cursor of the same page. Raises OSError when ``base_url``
    cannot be reached, SettingError for a profile the fake refuses."""
    if app is None and base_url is None:
        from ..http.app import create_app  # deferred: Flask loads only for an in-process diff

        app = create_app(profile=profile, now=DIFF_NOW, frozen=True)
        name = getattr(app.extensions["userpilot"].backend.profile, "name", None)
        label = "the fake, in-process" + (f", profile {name}" if name else "")
    else:
        label = str(base_url) if app is None else "the given app"
    target = _InProcess(app) if app is not None else _OverHttp(str(base_url))
    named = [(e, operation_name(e)) for e in exchanges]
    named = [(e, op) for e, op in named if op is not None]  # a health probe, a file download: not the API's
    seen_running: dict[str, bool] = {}
    for exchange, _op in named:
        for job in jobs_in(exchange):
            seen_running.setdefault(job["job_id"], job.get("status") not in TERMINAL)
    ids = _Ids(seen_running)
    ids.pools["jobs"] = _fake_jobs(target, key)
    if any(op in ("getExportJob", "listExportJobs") for _e, op in named):
        _make_exports(target, key)
        ids.pools["jobs"] = _fake_jobs(target, key)
        ids.pools["exports"] = _fake_jobs(target, key, EXPORT_JOB_PATH)

    recorded_shape = Shape()
    fake_shape = Shape()
    sent_keys: set = set()
    notes: list[str] = []
    dropped: set[str] = set()
    cursors: dict[str, str] = {}  # a recorded page cursor -> the fake's of the same page
    for exchange, operation in named:
        recorded_shape.add(exchange, operation)
        authorized = exchange.header("authorization", response=False) is not None
        request = request_key(exchange.method, exchange.path, exchange.query, authorized)
        if request in sent_keys:
            continue
        sent_keys.add(request)
        path = exchange.decoded_path
        if operation in _JOB_IN_PATH:
            kind, prefix = _JOB_IN_PATH[operation]
            path = prefix.rstrip("/") + "/" + ids.fake_id(kind, path.rstrip("/").rsplit("/", 1)[1])
        query = []
        for k, v in exchange.query:
            if k not in FOREIGN_PARAMETERS:
                query.append((k, v))
            elif v in cursors:
                query.append((k, cursors[v]))
            else:
                dropped.add(k)
        headers = {k: v for k, v in exchange.request_headers
                   if k.lower() in ("content-type", "accept", "prefer", "x-api-version")}
        if authorized:
            headers["Authorization"] = f"Token {key}"
        status, reason, answer_headers, body = target.send(exchange.method, path, query, headers,
                                                           exchange.request_body)
        try:
            fake_body = json.loads(body) if body[:1] == b"{" else None
        except ValueError:
            fake_body = None
        fakes = _page_cursors(fake_body)
        for which, recorded in _page_cursors(exchange.json()).items():
            if which in fakes:
                cursors[recorded] = fakes[which]
        fake_shape.add(Exchange(method=exchange.method, url=path, path=path, query=tuple(query),
                                request_headers=tuple(headers.items()), request_body=exchange.request_body,
                                status=status, reason=reason, response_headers=tuple(answer_headers), body=body,
                                started=0.0, elapsed_ms=0.0), operation)
    if dropped:
        notes.append(f"left out of some requests sent: {', '.join(sorted(dropped))} (a page cursor of the "
                     "recorded server with no page of the fake's to stand for; its first page answered instead)")
    if not sent_keys:
        notes.append("the cassette holds no request of an operation of the kit spec")
    return DiffReport(differences(recorded_shape, fake_shape), len(sent_keys), len(exchanges), label, notes)


__all__ = ["DIFF_KEY", "DiffReport", "run_diff"]
