"""Deliberately broken servers for the contract suite's teeth tests.

Each is the fake (a fresh in-process app, frozen clock) behind a small WSGI
middleware that alters its answers in one way a real server could drift
from the contract. ``serve(app)`` runs one on 127.0.0.1 on a free port.
"""
from __future__ import annotations

import json
import socket
import threading
from contextlib import contextmanager
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from mock_server import create_app
from mock_server.server import stop_server
from mock_server.times import format_instant, parse_iso8601

NOW = "2026-11-29T12:00:00Z"
TERMINAL = ("completed", "failed")


def fake(key: str, seed: int = 7):
    """A fresh fake accepting only ``key``, frozen at NOW."""
    return create_app(seed=seed, now=NOW, frozen=True, api_keys=[key])


class Drift:
    """WSGI middleware over ``app``: answers of the paths under ``prefixes``
    (``/v1/...`` unless told otherwise) pass through ``body(path, json_body,
    state) -> json_body`` and ``answer(environ, status, headers, raw) ->
    (status, headers, raw)``; ``request(environ)`` may rewrite the request
    first. ``state`` is a dict kept across calls."""

    def __init__(self, app, *, body=None, answer=None, request=None, hide_admin: bool = False,
                 prefixes: tuple[str, ...] = ("/v1/",)):
        self.app = app
        self.body = body
        self.answer = answer
        self.request = request
        self.hide_admin = hide_admin
        self.prefixes = prefixes
        self.state: dict = {}

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if self.hide_admin and path.startswith("/__admin"):
            start_response("404 NOT FOUND", [("Content-Type", "text/plain")])
            return [b"not found"]
        if not path.startswith(self.prefixes):
            return self.app(environ, start_response)
        if self.request is not None:
            self.request(environ)
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, list(headers)
            return lambda data: None

        raw = b"".join(self.app(environ, capture))
        status, headers = captured["status"], captured["headers"]
        if self.body is not None and status.startswith("200"):
            try:
                document = json.loads(raw)
            except ValueError:
                document = None
            if document is not None:
                raw = json.dumps(self.body(path, document, self.state)).encode()
        if self.answer is not None:
            status, headers, raw = self.answer(environ, status, headers, raw)
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(raw))))
        start_response(status, headers)
        return [raw]


def each_job(change):
    """A ``body`` mutator applying ``change(job, path, state)`` to every job
    of a list or single-job answer."""
    def body(path, document, state):
        jobs = document if isinstance(document, list) else [document]
        for job in jobs:
            if isinstance(job, dict):
                change(job, path, state)
        return document
    return body


def running(job) -> bool:
    return job.get("status") not in TERMINAL


# ----------------------------------------------------------------- the drifts

def unknown_status(job, path, state):
    if running(job):
        job["status"] = "paused"


def counter_as_string(job, path, state):
    job["file_size"] = str(job["file_size"])


def end_time_on_running(job, path, state):
    if running(job):
        job["end_time"] = job["start_time"]


def non_iso_time(job, path, state):
    job["start_time"] = "29/11/2026 11:58"


def status_backwards(job, path, state):
    """Every other answer shows completed jobs as still processing."""
    if path == "/v1/background_jobs":
        state["calls"] = state.get("calls", 0) + 1
    if job.get("status") == "completed" and state.get("calls", 0) % 2 == 0:
        job.update(status="processing", end_time=None)
        if "completed_rows" in job:
            job["completed_rows"] = job["total_rows"] // 2


def detail_disagrees(job, path, state):
    if path != "/v1/background_jobs":
        job["total_rows"] += 1


def rows_past_total(job, path, state):
    if "completed_rows" in job:
        job["completed_rows"] = job["total_rows"] + 5


def elapsed_time_wrong(job, path, state):
    if not running(job):
        job["elapsed_time"] += 3600


def missing_links(job, path, state):
    job.pop("links", None)


def duplicate_ids(path, document, state):
    if isinstance(document, list) and document:
        document.append(dict(document[0]))
    return document


def running_jobs_vanish(path, document, state):
    """The second and later lists leave out running jobs."""
    if path == "/v1/background_jobs" and isinstance(document, list):
        state["lists"] = state.get("lists", 0) + 1
        if state["lists"] > 1:
            return [job for job in document if not running(job)]
    return document


def envelope(path, document, state):
    if path == "/v1/background_jobs":
        return {"data": document, "next": None}
    return document


def no_auth_check(environ):
    """Requests without a key (or with another one) are let through."""
    environ["HTTP_AUTHORIZATION"] = environ["userpilot.drift.key"]


def wrong_job(path, document, state):
    """The single-job answer is always the first job ever listed."""
    if path == "/v1/background_jobs" and isinstance(document, list) and document:
        state.setdefault("first", document[0]["job_id"])
    elif isinstance(document, dict) and state.get("first"):
        document["job_id"] = state["first"]
    return document


def accept_concurrent_imports(environ, status, headers, raw):
    if environ.get("PATH_INFO") == "/v1/imports" and status.startswith("409"):
        return "200 OK", headers, raw
    return status, headers, raw


def server_error_for_unknown_job(environ, status, headers, raw):
    if status.startswith("404"):
        return "500 INTERNAL SERVER ERROR", headers, b'{"error": "boom"}'
    return status, headers, raw


def html_content_type(environ, status, headers, raw):
    headers = [(k, v) for k, v in headers if k.lower() != "content-type"]
    return status, headers + [("Content-Type", "text/html; charset=utf-8")], raw


def broken(kind: str, key: str, seed: int = 7) -> Drift:
    """The fake (accepting ``key``) with the drift ``kind``."""
    app = fake(key, seed)
    per_job = {
        "unknown_status": unknown_status, "counter_as_string": counter_as_string,
        "end_time_on_running": end_time_on_running, "non_iso_time": non_iso_time,
        "status_backwards": status_backwards, "detail_disagrees": detail_disagrees,
        "rows_past_total": rows_past_total, "elapsed_time_wrong": elapsed_time_wrong,
        "missing_links": missing_links,
    }
    whole = {"duplicate_ids": duplicate_ids, "running_jobs_vanish": running_jobs_vanish,
             "envelope": envelope, "wrong_job": wrong_job}
    if kind in per_job:
        return Drift(app, body=each_job(per_job[kind]))
    if kind in whole:
        return Drift(app, body=whole[kind])
    if kind == "no_auth_check":
        def inject(environ):
            environ["userpilot.drift.key"] = f"Token {key}"
            no_auth_check(environ)
        return Drift(app, request=inject)
    if kind == "one_app_for_all_keys":
        def same_app(environ):
            if environ.get("HTTP_AUTHORIZATION", "").startswith("Token "):
                environ["HTTP_AUTHORIZATION"] = f"Token {key}"
        return Drift(app, request=same_app)
    if kind == "concurrent_imports":
        return Drift(app, answer=accept_concurrent_imports)
    if kind == "server_error":
        return Drift(app, answer=server_error_for_unknown_job)
    if kind == "wrong_content_type":
        return Drift(app, answer=html_content_type)
    if kind in FAMILY_DRIFTS:
        return Drift(app, prefixes=FAMILY_PREFIXES, **FAMILY_DRIFTS[kind])
    raise ValueError(kind)


# ------------------------------------------ drifts of exports, bulk identify, real-time calls

#: The paths the new families' drifts see: analytex, the exports host, the export files.
FAMILY_PREFIXES = ("/v1/", "/api/v1/analytics/exports", "/__files/")
EXPORT_JOBS = "/api/v1/analytics/exports/jobs/"


def _exports_of(path, document):
    """The export jobs of an exports API answer (Show Jobs, Show Job by Job ID)."""
    if not path.startswith(EXPORT_JOBS):
        return []
    jobs = document if isinstance(document, list) else [document]
    return [job for job in jobs if isinstance(job, dict) and "progress" in job]


def export_progress_backwards(path, document, state):
    """Every other read of a running export shows its progress 10 points lower."""
    for job in _exports_of(path, document):
        reads = state.setdefault("reads", {})
        reads[job["job_id"]] = reads.get(job["job_id"], 0) + 1
        if job["status"] not in TERMINAL and job["progress"].isdigit() and int(job["progress"]) >= 10 \
                and reads[job["job_id"]] % 2 == 0:
            job["progress"] = str(int(job["progress"]) - 10)
    return document


def export_url_before_completion(path, document, state):
    """A running export already lists a download URL."""
    for job in _exports_of(path, document):
        if job["status"] in ("processing", "pending_refresh") and not job["presigned_urls"]:
            job["presigned_urls"] = [{"filename": "export-part1.ndjson",
                                      "url": "http://localhost/__files/userpilot-exports/early.ndjson"}]
    return document


def export_event_outside_filters(environ, status, headers, raw):
    """Each NDJSON export file holds one more event, of a type no trigger of the suite asks for."""
    if environ.get("PATH_INFO", "").startswith("/__files/") and status.startswith("200") \
            and environ["PATH_INFO"].endswith(".ndjson"):
        lines = raw.decode("utf-8").split("\n")
        first = next((json.loads(line) for line in lines if line.strip()), None)
        if first is not None:
            extra = {**first, "event_type": "session_start", "event_name": None}
            raw = (raw.rstrip(b"\n") + b"\n" + json.dumps(extra).encode() + b"\n")
    return status, headers, raw


def bulk_faster_than_documented(job, path, state):
    """A bulk identify job past queued shows as completed 5 s after its start, whatever its size."""
    if str(job.get("type", "")).startswith("bulk_identify") and job.get("status") not in ("queued", None):
        end = format_instant(parse_iso8601(job["start_time"]) + 5)
        job.update(status="completed", end_time=end, elapsed_time=5)
        if "completed_rows" in job:
            job["completed_rows"] = job["total_rows"]


def _accept_instead_of_409(prefix: str, answer_status: str):
    def answer(environ, status, headers, raw):
        if environ.get("PATH_INFO", "").startswith(prefix) and environ.get("REQUEST_METHOD") == "POST" \
                and status.startswith("409"):
            return answer_status, headers, b'{"job_id": "bulk:jobs:NX-00000000:00000000-0000-4000-8000-000000000000"}'
        return status, headers, raw
    return answer


def realtime_without_user_id_accepted(environ, status, headers, raw):
    """A real-time call missing its user_id is accepted (202) instead of refused."""
    if environ.get("PATH_INFO") in ("/v1/identify", "/v1/track") and status.startswith("400") \
            and b"user_id" in raw:
        return "202 ACCEPTED", headers, b""
    return status, headers, raw


#: kind -> what the drift breaks, and how (a Drift's keyword arguments).
FAMILY_DRIFTS = {
    "export_progress_backwards": {"body": export_progress_backwards},
    "export_url_before_completion": {"body": export_url_before_completion},
    "export_event_outside_filters": {"answer": export_event_outside_filters},
    "bulk_faster_than_documented": {"body": each_job(bulk_faster_than_documented)},
    "concurrent_bulk_accepted": {"answer": _accept_instead_of_409("/v1/", "202 ACCEPTED")},
    "concurrent_exports_accepted": {"answer": _accept_instead_of_409("/api/v1/analytics/exports", "201 CREATED")},
    "realtime_without_user_id_accepted": {"answer": realtime_without_user_id_accepted},
}


def _run(server):
    try:
        server.run()
    except (OSError, ValueError):  # closed while stopping
        pass


@contextmanager
def serve(app):
    """Serve a WSGI app on 127.0.0.1:<free port>; yields its base URL."""
    from waitress.server import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=_run, args=(server,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        stop_server(server, thread)


# ------------------------------------------------------ targets that die mid-run

def malformed_accept(environ) -> bool:
    """Whether a request's ``Accept`` header is not a list of media ranges
    (an element without ``type/subtype``): what made Stoplight Prism crash."""
    value = environ.get("HTTP_ACCEPT")
    if value is None or not value.strip():
        return False
    return any("/" not in part.split(";")[0] for part in value.split(","))


class _DyingHandler(WSGIRequestHandler):
    """One request per connection (HTTP/1.0); a request the server's
    ``kills`` says is fatal gets no answer: the connection closes and the
    server stops listening, as a crashed process does. One ``drops`` says
    is unwelcome gets no answer either, but the server lives on."""

    def handle(self):
        self.raw_requestline = self.rfile.readline(65537)
        if not self.raw_requestline or not self.parse_request():
            return
        server = self.server
        environ = self.get_environ()
        if server.kills is not None and server.kills(environ):
            server.die()
            return
        if server.drops is not None and server.drops(environ):
            server.dropped += 1
            return
        handler = ServerHandler(self.rfile, self.wfile, self.get_stderr(), environ, multithread=False)
        handler.request_handler = self
        handler.run(server.get_app())
        server.answered += 1
        if server.answers is not None and server.answered >= server.answers:
            server.die()

    def log_message(self, format, *args):  # quiet
        pass


class _DyingServer(WSGIServer):
    answers: int | None = None
    kills = None
    drops = None
    answered = 0
    dropped = 0
    dead = False

    def die(self) -> None:
        """Stop listening: every later connection is refused."""
        self.dead = True
        try:
            self.socket.shutdown(socket.SHUT_RDWR)  # wakes an accept() blocked in the serving thread
        except OSError:
            pass
        try:
            self.socket.close()
        except OSError:
            pass


@contextmanager
def serve_dying(app, *, answers: int | None = None, kills=None, drops=None):
    """Serve a WSGI app on 127.0.0.1:<free port> until it dies: after
    ``answers`` answers (it answers the last one, then stops listening), or
    at the first request ``kills(environ)`` is true for (no answer, the
    connection closes, nothing listens any more). A request ``drops(environ)``
    is true for gets no answer (the connection closes) and the server goes
    on. Yields the server (``.url``, ``.answered``, ``.dropped``, ``.dead``)."""
    server = _DyingServer(("127.0.0.1", 0), _DyingHandler)
    server.set_app(app)
    server.answers, server.kills, server.drops = answers, kills, drops
    server.url = f"http://127.0.0.1:{server.server_port}"

    def loop():
        while not server.dead:
            try:
                request, address = server.socket.accept()
            except OSError:
                return
            try:
                server.finish_request(request, address)
            except OSError:
                pass
            finally:
                server.shutdown_request(request)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.die()
        thread.join(timeout=5)


def leaky(key: str, *, seed: int = 7) -> Drift:
    """The fake (accepting ``key``) echoing the Authorization header it got
    everywhere a server could: in a response header (``X-Echo``), in the
    message of every error answer, as the status of running jobs (a drift
    the checks report, quoting the value) and in each job's ``links`` query.
    For the sentinel-key tests: every output must show it masked."""
    def echo(environ) -> str:
        return environ.get("HTTP_AUTHORIZATION", "")

    def body(path, document, state):
        def change(job, path, state):
            if running(job):
                job["status"] = state.get("auth") or job["status"]
            job["links"] = f"{job.get('links')}?api_key={key}"
        return each_job(change)(path, document, state)

    def answer(environ, status, headers, raw):
        headers = headers + [("X-Echo", echo(environ))]
        if not status.startswith("2"):
            try:
                document = json.loads(raw)
                for error in document.get("errors", []):
                    error["message"] = f"{error.get('message')} (you sent {echo(environ)!r})"
                raw = json.dumps(document).encode()
            except (ValueError, AttributeError):
                raw += f" (you sent {echo(environ)})".encode()
        return status, headers, raw

    drift = Drift(fake(key, seed), body=body, answer=answer)

    def remember(environ):
        drift.state["auth"] = echo(environ)
    drift.request = remember
    return drift
