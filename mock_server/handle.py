"""A control handle on a running fake: the object the pytest fixtures give.

:class:`UserpilotMock` drives the control API (``/__admin/``, described in
``openapi/admin.yaml``) over one of two transports: :class:`HttpTransport`
(a keep-alive HTTP connection to a server, e.g. ``MockServer`` or
``userpilot-mock serve``) or :class:`FlaskTransport` (the Flask test client of
an in-process app, no socket). Only the standard library is imported here, so
the pytest plugin stays cheap to load.

>>> with MockServer() as server:
...     mock = UserpilotMock.over_http(server.url)
...     mock.reset(frozen=True, scenario="empty")
...     job = mock.add_job(total_rows=1200)
...     mock.clock.advance(3600)
"""
from __future__ import annotations

import csv
import http.client
import io
import json
import os
import re
import socket
import threading
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from .config import ADMIN_TOKEN_ENV
from .ids import app_token_for, is_scenario_name
from .times import http_date_of, iso_of, parse_datetime
from .yamlio import YamlError, read_yaml

#: The key the fixtures use unless told otherwise (any non-empty key is an app).
DEFAULT_API_KEY = "userpilot-mock-test-key"
#: Fields of the single-job form (kit.yaml JobDetail); the control API adds others.
_LIST_ONLY_DROP = ("completed_rows",)
_ADMIN_EXTRAS = ("app_token", "timeline", "errors", "error_count", "export")
#: The paths of the export operations (the appex host) and bulk identify.
EXPORTS = "/api/v1/analytics/exports"
EXPORT_JOBS = EXPORTS + "/jobs/"
BULK = {"users": "/v1/users/bulk_identify", "companies": "/v1/companies/bulk_identify"}


class UserpilotMockError(Exception):
    """The control API refused a request: ``status`` (HTTP), ``error_code``
    and the message of the fake's error body."""

    def __init__(self, status: int, message: str, error_code: str = "", details: str = ""):
        super().__init__(f"{status} {error_code}: {message}" + (f" ({details})" if details and
                                                                 details != message else ""))
        self.status = status
        self.error_code = error_code
        self.message = message
        self.details = details


# --- transports -------------------------------------------------------------

def _admin_headers(admin_token: str | None) -> dict:
    return {"Authorization": f"Bearer {admin_token}"} if admin_token else {}


def _with_admin_auth(target: str, auth: dict, headers: dict | None) -> dict:
    """``headers`` plus the control API's ``auth`` when ``target`` is a
    control path (an API call carries its own ``Authorization: Token``)."""
    sent = dict(headers or {})
    if auth and target.startswith("/__admin") and "Authorization" not in sent:
        sent.update(auth)
    return sent


class HttpTransport:
    """JSON over one keep-alive ``http.client`` connection to ``base_url``
    (reconnects once when the server closed it). ``admin_token``: sent as
    ``Authorization: Bearer <token>`` on every control request (under
    ``/__admin``, when the fake requires one). Thread-safe."""

    def __init__(self, base_url: str, timeout: float = 30.0, admin_token: str | None = None):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout
        self._auth = _admin_headers(admin_token)
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def _connect(self):
        cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
        conn = cls(self._host, self._port, timeout=self._timeout)
        conn.connect()
        # http.client sends headers and body in two writes: without NODELAY,
        # Nagle holds the body until the server ACKs the headers.
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def request(self, method: str, path: str, body=None, query: dict | None = None, headers: dict | None = None):
        """``(status, parsed JSON or None)`` of ``method path`` (``body``: a
        JSON value; ``headers``: more headers)."""
        status, data, _headers = self.exchange(method, path, body, query, headers)
        return status, data

    def exchange(self, method: str, path: str, body=None, query: dict | None = None, headers: dict | None = None):
        """``(status, parsed JSON or None, headers)`` of ``method path``
        (answer ``headers``: lower-case name -> value)."""
        payload = None if body is None else json.dumps(body).encode("utf-8")
        sent = {"Accept": "application/json", **(headers or {})}
        if payload is not None:
            sent["Content-Type"] = "application/json"
        status, answer_headers, data = self.raw(method, path + (("?" + urlencode(query)) if query else ""),
                                                payload, sent)
        return status, (json.loads(data) if data else None), answer_headers

    def raw(self, method: str, target: str, payload: bytes | None = None, headers: dict | None = None):
        """``(status, headers, body bytes)`` of ``method target`` (a path
        with its query string)."""
        headers = _with_admin_auth(target, self._auth, headers)
        target = self._prefix + target
        with self._lock:
            for attempt in (0, 1):
                if self._conn is None:
                    self._conn = self._connect()
                try:
                    self._conn.request(method, target, body=payload, headers=headers)
                    response = self._conn.getresponse()
                    data = response.read()
                    break
                except (http.client.RemoteDisconnected, http.client.CannotSendRequest,
                        ConnectionError, BrokenPipeError):
                    self._conn.close()
                    self._conn = None
                    if attempt:
                        raise
            if response.getheader("Connection", "").lower() == "close" and self._conn is not None:
                self._conn.close()
                self._conn = None
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class FlaskTransport:
    """JSON through a Flask app's test client (in-process, no socket);
    ``admin_token`` as for :class:`HttpTransport`."""

    def __init__(self, app, admin_token: str | None = None):
        self.app = app
        self.base_url = "http://localhost"
        self._client = app.test_client()
        self._auth = _admin_headers(admin_token)

    def request(self, method: str, path: str, body=None, query: dict | None = None, headers: dict | None = None):
        status, data, _headers = self.exchange(method, path, body, query, headers)
        return status, data

    def exchange(self, method: str, path: str, body=None, query: dict | None = None, headers: dict | None = None):
        response = self._client.open(path, method=method, json=body, query_string=query,
                                     headers=_with_admin_auth(path, self._auth, headers))
        data = response.get_data()
        return (response.status_code, (json.loads(data) if data else None),
                {k.lower(): v for k, v in response.headers.items()})

    def raw(self, method: str, target: str, payload: bytes | None = None, headers: dict | None = None):
        response = self._client.open(target, method=method, data=payload,
                                     headers=_with_admin_auth(target, self._auth, headers))
        return response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.get_data()

    def close(self) -> None:
        pass


# --- the handle ---------------------------------------------------------------

def _retry_after(value):
    """``retry_after`` as a fault rule takes it: whole seconds as they are,
    a ``timedelta`` in seconds, an HTTP-date text, an aware ``datetime`` or
    epoch seconds as a float turned into an HTTP-date (TypeError for a naive
    one)."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if hasattr(value, "total_seconds"):  # a timedelta
        return round(value.total_seconds())
    return http_date_of(value)


def _parse_iso(text: str) -> datetime:
    moment = parse_datetime(text)
    if moment is None:
        raise ValueError(f"the fake sent a time that is not ISO 8601: {text!r}")
    return moment


#: The longest ``name`` a scenario document may carry (its schema).
_MAX_LABEL = 200


class ScenarioFileError(ValueError):
    """A scenario path that cannot be used: missing, unreadable, not YAML or
    not a mapping. The message is one line naming the path, never the
    file's content."""


def scenario_reference(scenario, base_dirs=None):
    """What to send for ``scenario``: a bundled name (a string of letters,
    digits, ``_`` and ``-``) or a dict as is; anything else (a string, a
    ``pathlib.Path``) is a path to a YAML file, read here, on the client's
    machine, and sent as an inline document labelled with its path.

    A relative path is looked up in ``base_dirs`` in order (default: the
    current directory). Raises :class:`ScenarioFileError` (a ValueError)
    when the file is missing, unreadable, not YAML or not a mapping, and
    TypeError for another kind of value.
    """
    if scenario is None or isinstance(scenario, dict):
        return scenario
    if is_scenario_name(scenario):
        return scenario
    if not isinstance(scenario, (str, os.PathLike)) or not str(scenario):
        raise TypeError(f"scenario must be a bundled name, a dict or a path, got {type(scenario).__name__}")
    path = _find_scenario_file(Path(scenario), base_dirs)
    try:
        stat = path.stat()
        resolved = str(path.resolve())
    except OSError as exc:
        raise ScenarioFileError(f"cannot read scenario file '{path}': {exc.strerror or exc}") from None
    return _read_scenario_file(resolved, stat.st_mtime_ns, stat.st_size, str(path))


def _find_scenario_file(path: Path, base_dirs) -> Path:
    if path.is_absolute():
        return path
    bases = list(dict.fromkeys(Path(b) for b in (base_dirs or [Path.cwd()])))  # each directory once
    for base in bases:
        candidate = base / path
        if candidate.exists():
            return candidate
    raise ScenarioFileError(f"scenario file '{path}' not found (looked in: "
                            f"{', '.join(str(b) for b in bases)})")


@lru_cache(maxsize=16)
def _read_scenario_file(resolved: str, _mtime: int, _size: int, label: str):
    try:
        document = read_yaml(resolved, label)
    except YamlError as exc:
        if exc.kind == "unreadable":
            raise ScenarioFileError(f"cannot read scenario file '{label}': {exc.problem}") from None
        raise ScenarioFileError(f"scenario file '{label}' {exc.reason}") from None
    if not isinstance(document, dict):
        kind = {type(None): "empty", str: "plain text", list: "a list"}.get(type(document), "a single value")
        raise ScenarioFileError(f"scenario file '{label}' is not a scenario: expected a mapping "
                                f"with a 'jobs' list, the file is {kind}")
    document.setdefault("name", label if len(label) <= _MAX_LABEL else "..." + label[3 - _MAX_LABEL:])
    return document


class Clock:
    """The fake's clock, seen through a handle (``handle.clock``)."""

    def __init__(self, handle: UserpilotMock):
        self._handle = handle

    def state(self) -> dict:
        """``{"now": ISO 8601, "frozen": bool, "speed": float}``."""
        return self._handle._call("GET", "/__admin/clock")

    @property
    def now(self) -> datetime:
        """The fake's current instant, a timezone-aware (UTC) datetime."""
        return _parse_iso(self.state()["now"])

    @property
    def frozen(self) -> bool:
        return self.state()["frozen"]

    def set(self, *, now=None, advance_seconds=None, frozen=None, speed=None) -> dict:
        """Any of: jump to ``now`` (never backwards), advance, freeze or
        unfreeze, change the speed. Returns the clock's state."""
        body = {k: v for k, v in (("now", iso_of(now)), ("advance_seconds", advance_seconds),
                                  ("frozen", frozen), ("speed", speed)) if v is not None}
        return self._handle._call("POST", "/__admin/clock", body)

    def advance(self, seconds: float) -> datetime:
        """Move forward ``seconds`` (>= 0) of fake time; returns the new now."""
        if hasattr(seconds, "total_seconds"):  # a timedelta
            seconds = seconds.total_seconds()
        return _parse_iso(self.set(advance_seconds=seconds)["now"])

    def freeze(self, at=None) -> datetime:
        """Stop the clock (at ``at``: ISO 8601, datetime or epoch seconds, not
        before the current instant). Returns the frozen instant."""
        return _parse_iso(self.set(now=at, frozen=True)["now"])

    def unfreeze(self, speed: float | None = None) -> datetime:
        """Let the clock run again (at ``speed`` fake seconds per second)."""
        return _parse_iso(self.set(frozen=False, speed=speed)["now"])

    def __repr__(self) -> str:
        return f"<userpilot-mock clock {self.state()}>"


class RequestEntry(dict):
    """One journal entry (docs/journal.md, "Request journal"): a dict whose keys also
    read as attributes (``entry.status``, ``entry.violations``)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def describe(self) -> str:
        query = ("?" + urlencode(self["query"], doseq=True)) if self.get("query") else ""
        return f"{self['method']} {self['path']}{query} -> {self['status']}"


class RequestLog(list):
    """The request journal as a list of :class:`RequestEntry`, oldest first."""

    def matching(self, method: str | None = None, path: str | None = None) -> RequestLog:
        """Entries with this method (any case) and path (compared after
        percent-decoding, so ``%3A`` and ``:`` match; a query string in
        ``path`` must match too, in any order)."""
        want_query = None
        if path is not None and "?" in path:
            path, _, qs = path.partition("?")
            want_query = parse_qs(qs, keep_blank_values=True)
        want_path = unquote(path) if path is not None else None
        method = method.upper() if method else None
        return RequestLog(e for e in self
                          if (method is None or e["method"] == method)
                          and (want_path is None or unquote(e["path"]) == want_path)
                          and (want_query is None or e["query"] == want_query))

    def assert_called(self, method: str, path: str, times: int | None = None) -> RequestLog:
        """Fail unless ``method path`` was requested (exactly ``times`` times
        when given, else at least once). Returns the matching entries."""
        found = self.matching(method, path)
        if (times is None and not found) or (times is not None and len(found) != times):
            expected = "at least once" if times is None else f"{times} time(s)"
            seen = "\n".join(f"  {e.describe()}" for e in self) or "  (no request)"
            raise AssertionError(f"expected {method.upper()} {path} {expected}, "
                                 f"got {len(found)}; requests received:\n{seen}")
        return found

    def assert_not_called(self, method: str, path: str) -> None:
        """Fail if ``method path`` was requested."""
        self.assert_called(method, path, times=0)

    @property
    def violations(self) -> list[tuple[RequestEntry, dict]]:
        """``(entry, violation)`` for every violation recorded."""
        return [(e, v) for e in self for v in e["violations"]]

    def assert_no_violations(self) -> None:
        """Fail, listing each violation, if any request broke the kit spec."""
        problems = self.violations
        if problems:
            lines = "\n".join(f"  {e.describe()}: [{v['location']} {v['name']}] {v['message']}"
                              for e, v in problems)
            raise AssertionError(f"{len(problems)} violation(s) of the kit spec:\n{lines}")


#: Journal entries asked for per request when the handle reads the journal.
REQUESTS_PAGE = 1000
_NEXT = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?', re.IGNORECASE)


def _next_cursor(link: str | None) -> str | None:
    """The ``cursor`` of a ``Link: <...>; rel="next"`` header, None without one."""
    match = _NEXT.search(link or "")
    if match is None:
        return None
    values = parse_qs(urlsplit(match.group(1)).query).get("cursor")
    return values[0] if values else None


def _xml_text(data: bytes, tag: str) -> str:
    """The text of the first ``<tag>`` of an XML error document ("" when none)."""
    text = data.decode("utf-8", "replace")
    start = text.find(f"<{tag}>")
    end = text.find(f"</{tag}>", start)
    return text[start + len(tag) + 2:end] if start >= 0 and end > start else ""


def parse_export_file(filename: str, data: bytes) -> list[dict]:
    """The events of one export file, by its extension: CSV (a dict per row,
    cells as strings), NDJSON (a dict per line), Parquet or Avro (needs the
    ``formats`` extra). Raises ValueError for another extension."""
    name = filename.lower()
    if name.endswith(".csv"):
        return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    if name.endswith(".ndjson"):
        # split on "\n" only: str.splitlines() would also cut at U+2028, U+0085 and the like, which JSON
        # writes as they are inside a string
        return [json.loads(line) for line in data.decode("utf-8").split("\n") if line.strip()]
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq  # deferred: an optional extra, and the handle imports the standard library only
        return pq.read_table(io.BytesIO(data)).to_pylist()
    if name.endswith(".avro"):
        import fastavro  # deferred: an optional extra, and the handle imports the standard library only
        return [dict(record) for record in fastavro.reader(io.BytesIO(data)) if isinstance(record, dict)]
    raise ValueError(f"not an export file: {filename!r}")


def _list_form(job: dict) -> dict:
    return {k: v for k, v in job.items() if k not in _ADMIN_EXTRAS and k not in _LIST_ONLY_DROP}


def _detail_form(job: dict) -> dict:
    return {k: v for k, v in job.items() if k not in _ADMIN_EXTRAS}


class UserpilotMock:
    """Control handle on one fake (what the ``userpilot_mock`` fixture gives).

    ``url``: the fake's base URL (``http://localhost`` in-process);
    ``api_key``: a ready key; ``headers``: the ``Authorization`` header for
    it; ``app_token``: its app's token (``NX-`` + 8 hex, from key and seed);
    ``clock``: :class:`Clock`; ``requests``: the journal, a
    :class:`RequestLog`. Methods raise :class:`UserpilotMockError` when the
    control API answers with an error.
    """

    def __init__(self, transport, *, api_key: str = DEFAULT_API_KEY, seed: int | None = None):
        self.transport = transport
        self.api_key = api_key
        self.seed = seed
        self.clock = Clock(self)
        self._defaults: dict = {}

    @classmethod
    def over_http(cls, url: str, *, admin_token: str | None = None, **kwargs) -> UserpilotMock:
        """A handle on the server at ``url``. ``admin_token``: the control
        API's token (``serve --admin-token``); default: the environment
        variable ``USERPILOT_MOCK_ADMIN_TOKEN``, when set."""
        token = admin_token if admin_token is not None else os.environ.get(ADMIN_TOKEN_ENV) or None
        return cls(HttpTransport(url, admin_token=token), **kwargs)

    @classmethod
    def in_process(cls, app, *, admin_token: str | None = None, **kwargs) -> UserpilotMock:
        """A handle on an in-process Flask app (``create_app(...)``);
        ``admin_token``: its ``admin_token`` setting, read from the app when
        not given."""
        if admin_token is None:
            fake = app.extensions.get("userpilot")
            admin_token = getattr(getattr(fake, "settings", None), "admin_token", None)
        return cls(FlaskTransport(app, admin_token=admin_token), **kwargs)

    # -- plumbing ----------------------------------------------------------
    def _call(self, method: str, path: str, body=None, query: dict | None = None, ok=(200, 201)):
        return self._exchange(method, path, body, query, ok)[0]

    def _exchange(self, method: str, path: str, body=None, query: dict | None = None, ok=(200, 201)):
        """``(parsed JSON, headers)`` of a control call; raises
        UserpilotMockError for an answer whose status is not in ``ok``."""
        exchange = getattr(self.transport, "exchange", None)
        if exchange is not None:
            status, data, headers = exchange(method, path, body, query)
        else:  # a transport of another kind: (status, data) only
            (status, data), headers = self.transport.request(method, path, body, query), {}
        if status not in ok:
            item: dict = {}
            if isinstance(data, dict) and data.get("errors"):
                item = data["errors"][0] or {}
            raise UserpilotMockError(status, item.get("message", f"{method} {path} failed"),
                                     item.get("error_code", ""), item.get("details", ""))
        return data, headers

    @property
    def url(self) -> str:
        return self.transport.base_url

    @property
    def headers(self) -> dict:
        """``{"Authorization": "Token <api_key>"}``."""
        return {"Authorization": f"Token {self.api_key}"}

    @property
    def app_token(self) -> str:
        """The token of :attr:`api_key`'s app (computed as the fake does,
        from the seed: the one the last :meth:`reset` answered with, else
        asked of the fake once, ``GET /__admin/health``)."""
        if self.seed is None:
            self.health()
        if self.seed is None:
            raise RuntimeError(f"the fake at {self.url} does not say its seed (GET /__admin/health); "
                               "reset(seed=...) names it")
        return app_token_for(self.api_key, self.seed)

    def health(self) -> bool:
        """True when the fake answers ``GET /__admin/health`` with ok (the
        handle learns the fake's seed from it when it did not know it)."""
        data = self._call("GET", "/__admin/health")
        if self.seed is None and isinstance(data.get("seed"), int):
            self.seed = data["seed"]
        return data.get("status") == "ok"

    # -- state -------------------------------------------------------------
    def reset(self, *, seed: int | None = None, jobs: int | None = None, now=None,
              frozen: bool | None = None, speed: float | None = None, scenario=None,
              api_key: str | None = None) -> UserpilotMock:
        """Forget every app, job, request and fault; restart the clock.

        Unset arguments take the handle's defaults (the fixture's options).
        ``scenario``: a bundled name, a document (dict) or a path on this
        machine (read here; relative to the current directory; see
        :func:`scenario_reference`). ``api_key`` changes the handle's key. One
        request to ``POST /__admin/reset``. Returns self.
        """
        given = {"seed": seed, "jobs": jobs, "now": now, "frozen": frozen, "speed": speed,
                 "scenario": scenario}
        body = {k: v for k, v in self._defaults.items() if v is not None}
        body.update({k: v for k, v in given.items() if v is not None})
        if "now" in body:
            body["now"] = iso_of(body["now"])
        if "scenario" in body:
            body["scenario"] = scenario_reference(body["scenario"])
        if "seed" not in body and self.seed is not None:
            body["seed"] = self.seed
        answer = self._call("POST", "/__admin/reset", body)
        seed = answer.get("seed") if isinstance(answer, dict) else None
        self.seed = seed if isinstance(seed, int) else body.get("seed", self.seed)
        if api_key is not None:
            self.api_key = api_key
        return self

    def load_scenario(self, scenario) -> dict:
        """Replace every app's jobs with a scenario's (bundled name, dict or
        path on this machine); clock and journal stay. Returns its summary."""
        ref = scenario_reference(scenario)
        return self._call("POST", "/__admin/scenario", {"name": ref} if isinstance(ref, str) else ref)

    @property
    def scenario(self) -> dict:
        """The scenario in use: ``{"name", "description", "history", "jobs"}``."""
        return self._call("GET", "/__admin/scenario")

    # -- jobs --------------------------------------------------------------
    def add_job(self, **job_spec) -> dict:
        """Create a job from a job spec (``type``, ``filename``,
        ``total_rows``, ``file_size``, ``outcome``, ``fail_at``, ``durations``,
        ``started_ago``; ``api_key``/``app_token`` default to this handle's
        app). Returns it in the single-job form (as ``GET
        /v1/background_jobs/{job_id}`` shows it now)."""
        if "api_key" not in job_spec and "app_token" not in job_spec:
            job_spec["api_key"] = self.api_key
        return _detail_form(self._call("POST", "/__admin/jobs", job_spec))

    def job(self, job_id: str, timeline: bool = False) -> dict:
        """One job in the single-job form; with ``timeline``, the control
        API's form (plus ``app_token`` and ``timeline``)."""
        data = self._call("GET", "/__admin/jobs/" + quote(job_id, safe=""))
        return data if timeline else _detail_form(data)

    def jobs(self, api_key: str | None = None) -> list[dict]:
        """The app's jobs as ``GET /v1/background_jobs`` lists them now
        (newest first), read through the control API (not journaled)."""
        data = self._call("GET", "/__admin/jobs", query={"api_key": api_key or self.api_key})
        return [_list_form(job) for job in data]

    # -- the API, as a client calls it (journaled) ---------------------------
    def call(self, method: str, path: str, body=None, *, api_key: str | None = None, ok=(200, 201, 202)):
        """Call the fake API as a client would (``Authorization: Token
        <api_key or the handle's key>``, a JSON ``body``); returns the
        parsed answer. Raises :class:`UserpilotMockError` for another status."""
        headers = {"Authorization": f"Token {api_key or self.api_key}"}
        status, data = self.transport.request(method, path, body, headers=headers)
        if status not in ok:
            item = data["errors"][0] if isinstance(data, dict) and data.get("errors") else {}
            raise UserpilotMockError(status, item.get("message", f"{method} {path} failed"),
                                     item.get("error_code", ""), item.get("details", ""))
        return data

    def trigger_export(self, *, api_key: str | None = None, **filters) -> dict:
        """Trigger an export (``POST /api/v1/analytics/exports``) with the
        trigger's filters as keywords (``from_`` for ``from``: ``from_="2026-11-01",
        event_type=["track"], format="ndjson"``). Returns the 201 answer
        (``job_id``, ``links``, ``start_time``, ...)."""
        body = {("from" if k == "from_" else k): (iso_of(v) if isinstance(v, datetime) else v)
                for k, v in filters.items()}
        return self.call("POST", EXPORTS, body, api_key=api_key)

    def export_job(self, job_id: str, *, api_key: str | None = None) -> dict:
        """The export job as Show Job by Job ID answers it now."""
        return self.call("GET", EXPORT_JOBS + quote(job_id, safe=":"), api_key=api_key)

    def export_jobs(self, *, api_key: str | None = None) -> list[dict]:
        """The app's export jobs as Show Jobs answers them now."""
        return self.call("GET", EXPORT_JOBS, api_key=api_key)

    def wait_for_export(self, job_id: str, *, api_key: str | None = None) -> dict:
        """Move the fake's clock to the end of export ``job_id`` (its timeline,
        read through the control API; never backwards), then return the job
        as Show Job by Job ID answers it: completed (or failed)."""
        self.finish(job_id)
        return self.export_job(job_id, api_key=api_key)

    def finish(self, job_id: str) -> datetime:
        """Move the clock to the end of job ``job_id`` (any job: an import, a
        bulk identify, an export), or leave it when it is already past;
        returns the clock's instant."""
        timeline = self.job(job_id, timeline=True)["timeline"]
        end = max(_parse_iso(at) for at in timeline.values())
        now = self.clock.now
        if end > now:
            return self.clock.advance((end - now).total_seconds())
        return now

    def export_files(self, job: dict) -> list[tuple[str, bytes]]:
        """``(filename, bytes)`` of every file of a completed export job (as
        Show Job by Job ID answers it), downloaded from its presigned URLs
        (through this handle's transport: the URLs' path and query). Raises
        UserpilotMockError when a URL is refused (expired: 403)."""
        files = []
        for item in job.get("presigned_urls") or []:
            parts = urlsplit(item["url"])
            status, _headers, data = self.transport.raw("GET", parts.path + "?" + parts.query)
            if status != 200:
                code = _xml_text(data, "Code")
                raise UserpilotMockError(status, _xml_text(data, "Message") or "download refused", code)
            files.append((item["filename"], data))
        return files

    def export_events(self, job: dict) -> list[dict]:
        """The events of a completed export job, from all its files, as dicts
        of the export event schema's columns (CSV cells are strings, empty
        for none; NDJSON values as written; Parquet and Avro need pyarrow and
        fastavro, the ``formats`` extra)."""
        return [event for name, data in self.export_files(job) for event in parse_export_file(name, data)]

    def bulk_identify_users(self, rows: list[dict], *, api_key: str | None = None) -> dict:
        """Start a bulk identify of users (``{"users": rows}``); the 202 job."""
        return self.call("POST", BULK["users"], {"users": rows}, api_key=api_key)

    def bulk_identify_companies(self, rows: list[dict], *, api_key: str | None = None) -> dict:
        """Start a bulk identify of companies (``{"companies": rows}``); the 202 job."""
        return self.call("POST", BULK["companies"], {"companies": rows}, api_key=api_key)

    def identify(self, user_id: str, metadata: dict | None = None, company: dict | None = None, *,
                 api_key: str | None = None) -> None:
        """``POST /v1/identify`` (202)."""
        body = {"user_id": user_id, **({"metadata": metadata} if metadata is not None else {}),
                **({"company": company} if company is not None else {})}
        self.call("POST", "/v1/identify", body, api_key=api_key)

    def track(self, user_id: str, event_name: str, metadata: dict | None = None, *,
              api_key: str | None = None) -> None:
        """``POST /v1/track`` (202)."""
        body = {"user_id": user_id, "event_name": event_name,
                **({"metadata": metadata} if metadata is not None else {})}
        self.call("POST", "/v1/track", body, api_key=api_key)

    # -- journal -----------------------------------------------------------
    @property
    def requests(self) -> RequestLog:
        """Every request to the API since the last reset, oldest first."""
        return self.get_requests()

    def get_requests(self, method: str | None = None, path: str | None = None, since=None) -> RequestLog:
        """The journal, filtered by the server (``GET /__admin/requests``),
        read a page of :data:`REQUESTS_PAGE` entries at a time."""
        query: dict = {k: v for k, v in (("method", method), ("path", path), ("since", iso_of(since)))
                       if v is not None}
        query["limit"] = REQUESTS_PAGE
        log = RequestLog()
        while True:
            page, headers = self._exchange("GET", "/__admin/requests", query=query)
            log.extend(RequestEntry(e) for e in page)
            cursor = _next_cursor(headers.get("link"))
            if cursor is None:
                return log
            query["cursor"] = cursor

    def clear_requests(self) -> int:
        """Empty the journal; returns how many entries it held."""
        return self._call("DELETE", "/__admin/requests")["deleted"]

    # -- faults (control API of the faults feature) -------------------------
    def add_fault(self, *, every_app: bool = False, **rule) -> dict:
        """Add a fault rule (``POST /__admin/faults``; docs/faults.md): any of
        ``operation``, ``times`` / ``probability``, ``status``,
        ``retry_after`` (seconds, an HTTP-date text or an aware ``datetime``),
        ``latency_ms`` (``n`` or ``(low, high)``), ``fault``, ``api_key`` /
        ``app_token``. Without ``api_key`` or ``app_token`` the rule is for
        this handle's app; ``every_app=True`` makes it every app's. Returns
        the rule as the fake lists it (``id``, ``remaining``, ``hits``...).
        Raises UserpilotMockError for a rule the fake refuses, TypeError for
        a naive ``datetime``."""
        if "retry_after" in rule:
            rule["retry_after"] = _retry_after(rule["retry_after"])
        if isinstance(rule.get("latency_ms"), tuple):
            rule["latency_ms"] = list(rule["latency_ms"])
        if not every_app and rule.get("api_key") is None and rule.get("app_token") is None:
            rule["app_token"] = self.app_token
        return self._call("POST", "/__admin/faults", {k: v for k, v in rule.items() if v is not None})

    def fail_next(self, operation: str, status: int = 503, times: int = 1, *, retry_after=None) -> dict:
        """Make the next ``times`` calls of ``operation`` (an operationId,
        e.g. ``getJob``) by this handle's app answer ``status``, with
        ``Retry-After: retry_after`` when given (seconds, an HTTP-date text
        or an aware ``datetime``; a 429 without one gets 1)."""
        return self.add_fault(operation=operation, times=times, status=status, retry_after=retry_after)

    def delay(self, operation: str, ms) -> dict:
        """Add ``ms`` milliseconds of real latency (``n`` or ``(low, high)``)
        to every call of ``operation`` by this handle's app (the rule stays
        until removed or reset; at most 60,000 ms per answer in all)."""
        return self.add_fault(operation=operation, latency_ms=ms)

    def remove_fault(self, rule_id: str) -> None:
        """Remove the fault rule ``rule_id`` (``DELETE /__admin/faults/<id>``)."""
        self._call("DELETE", f"/__admin/faults/{quote(rule_id, safe='')}", ok=(204,))

    def clear_faults(self) -> None:
        """Remove every fault rule (``DELETE /__admin/faults``)."""
        self._call("DELETE", "/__admin/faults", ok=(204,))

    @property
    def faults(self):
        """The fault rules in force (``GET /__admin/faults``)."""
        return self._call("GET", "/__admin/faults")

    def close(self) -> None:
        self.transport.close()

    def __repr__(self) -> str:
        return f"<UserpilotMock {self.url} app {self.app_token if self.seed is not None else '?'}>"


__all__ = ["Clock", "FlaskTransport", "HttpTransport", "RequestEntry", "RequestLog", "UserpilotMock",
           "UserpilotMockError", "DEFAULT_API_KEY", "ScenarioFileError", "parse_export_file", "scenario_reference"]
