"""``userpilot-mock diff CASSETTE``: the recorded requests sent to the fake,
and where its answers differ in shape from the recorded ones.

Each distinct recorded request is sent once, to a fresh fake in-process
(frozen, with ``--profile`` when given) or to the fake at ``--base-url``,
with a key of its own (a request recorded without a key is sent without
one). A job the cassette saw is a job the fake does not have: each recorded
job id in a path is replaced by one of the fake's jobs of the same status
(running or settled) where it has one. Then the recorded answers' shape and
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
from .observe import JOB_PATH, jobs_in, operation_of
from .replay import request_key
from .shapes import Difference, Shape, differences

#: The key the diff's requests carry (an app of its own in the fake).
DIFF_KEY = "userpilot-mock-diff"
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
            lines.append(f"\nDIFFERENCES ({len(self.differences)}): expected = recorded, seen = the fake")
            for i, d in enumerate(self.differences, 1):
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


def _fake_jobs(target, key: str) -> tuple[list[str], list[str]]:
    """(running, settled) job ids of the diff key's app in the fake."""
    status, _reason, _headers, body = target.send("GET", "/v1/background_jobs", (),
                                                  {"Authorization": f"Token {key}"}, b"")
    try:
        jobs = json.loads(body) if status == 200 else []
    except ValueError:
        jobs = []
    running = [j["job_id"] for j in jobs if isinstance(j, dict) and j.get("status") not in TERMINAL]
    settled = [j["job_id"] for j in jobs if isinstance(j, dict) and j.get("status") in TERMINAL]
    return running, settled


def run_diff(exchanges: Sequence[Exchange], *, app=None, base_url: str | None = None, profile=None,
             key: str = DIFF_KEY) -> DiffReport:
    """Send the recorded requests of ``exchanges`` to a fake (``app``, a WSGI
    app; else the server at ``base_url``; else a fresh in-process fake with
    ``profile``) and compare shapes. Raises OSError when ``base_url``
    cannot be reached, SettingError for a profile the fake refuses."""
    if app is None and base_url is None:
        from ..http.app import create_app  # deferred: Flask loads only for an in-process diff

        app = create_app(profile=profile, now=DIFF_NOW, frozen=True)
        name = getattr(app.extensions["userpilot"].backend.profile, "name", None)
        label = "the fake, in-process" + (f", profile {name}" if name else "")
    else:
        label = str(base_url) if app is None else "the given app"
    target = _InProcess(app) if app is not None else _OverHttp(str(base_url))
    running, settled = _fake_jobs(target, key)
    seen_running: dict[str, bool] = {}
    for exchange in exchanges:
        for job in jobs_in(exchange):
            seen_running.setdefault(job["job_id"], job.get("status") not in TERMINAL)
    mapping: dict[str, str] = {}
    counters = {True: 0, False: 0}

    def fake_id(recorded: str) -> str:
        if recorded not in mapping:
            was_running = seen_running.get(recorded)
            pool = (running if was_running else settled) or running or settled
            if was_running is None or not pool:
                mapping[recorded] = recorded  # an id no answer showed: sent as it is
            else:
                mapping[recorded] = pool[counters[bool(was_running)] % len(pool)]
                counters[bool(was_running)] += 1
        return mapping[recorded]

    recorded_shape = Shape()
    fake_shape = Shape()
    sent_keys: set = set()
    notes: list[str] = []
    for exchange in exchanges:
        operation = operation_of(exchange)
        if operation is None:
            continue  # the jobs operations only (a recording may hold a health probe)
        recorded_shape.add(exchange)
        authorized = exchange.header("authorization", response=False) is not None
        request = request_key(exchange.method, exchange.path, exchange.query, authorized)
        if request in sent_keys:
            continue
        sent_keys.add(request)
        path = exchange.decoded_path
        match = JOB_PATH.match(path.rstrip("/"))
        if match:
            path = "/v1/background_jobs/" + fake_id(match.group(1))
        headers = {k: v for k, v in exchange.request_headers
                   if k.lower() in ("content-type", "accept", "prefer")}
        if authorized:
            headers["Authorization"] = f"Token {key}"
        status, reason, answer_headers, body = target.send(exchange.method, path, exchange.query, headers,
                                                           exchange.request_body)
        fake_shape.add(Exchange(method=exchange.method, url=path, path=path, query=exchange.query,
                                request_headers=tuple(headers.items()), request_body=exchange.request_body,
                                status=status, reason=reason, response_headers=tuple(answer_headers), body=body,
                                started=0.0, elapsed_ms=0.0), operation)
    if not sent_keys:
        notes.append("the cassette holds no request of the jobs operations (listJobs, getJob, createImport)")
    return DiffReport(differences(recorded_shape, fake_shape), len(sent_keys), len(exchanges), label, notes)


__all__ = ["DIFF_KEY", "DiffReport", "run_diff"]
