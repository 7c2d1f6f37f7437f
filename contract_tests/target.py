"""The server a contract run talks to, and the suite's own HTTP client.

Three kinds (docs/contract.md, "Targets"): a fake in-process (a WSGI app, no
socket), any server at a base URL (a fake when ``GET /__admin/health``
answers: its clock is then driven through the control API), and the real
API. Against anything that is not a fake the client is rate limited and
honours ``Retry-After`` on 429.

Every request is counted in the run's traffic (:class:`.state.Traffic`);
one that gets no answer raises :class:`.options.NoAnswer` saying why
(:func:`no_answer_reason`), and :func:`curl_of` writes any request sent as
a curl command with the key as ``$USERPILOT_API_KEY``.
"""
from __future__ import annotations

import io
import json
import os
import shlex
import socket
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import quote, urlsplit

import requests
from werkzeug.datastructures import FileStorage
from werkzeug.test import Client

from mock_server import create_app
from mock_server.config import ADMIN_TOKEN_ENV, DEFAULT_SEED
from mock_server.times import format_instant, parse_instant

from .masking import KeyMask
from .operations import on_exports_host
from .options import (
    DEFAULT_EXPORTS_URL,
    DEFAULT_RATE_LIMIT,
    ENV_API_KEY,
    ContractOptions,
    MissingKey,
    NoAnswer,
    TargetError,
    missing_key_message,
)
from .state import Throttle, Traffic

#: Retries of one request answered 429, and the longest Retry-After honoured (seconds).
MAX_RETRIES = 3
MAX_RETRY_AFTER = 60.0
#: Seconds before a request to a network target is given up.
TIMEOUT = 30.0
#: Key of the fresh in-process fake when none is given.
IN_PROCESS_KEY = "contract-test-key"
#: The key the isolation check sends as "another app": the run's key with this suffix.
OTHER_APP_SUFFIX = "-other-app"
#: Attempts, 0.3 s apart, to connect to a target that just failed to answer.
CONNECT_ATTEMPTS = 3
#: Request headers a curl reproduction leaves out (every client sends its own).
_CLIENT_HEADERS = frozenset({"user-agent", "accept-encoding", "connection", "content-length", "host"})
#: Longest request body written out in a curl reproduction (characters).
MAX_CURL_BODY = 2000


@dataclass
class Answer:
    """One HTTP answer: ``status``, ``headers`` (lower-case names), ``body`` bytes."""

    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds in a Retry-After value (delta-seconds or HTTP date), clamped
    to [0, 60]; None when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return max(0.0, min(MAX_RETRY_AFTER, seconds))


def _chain(error: BaseException | None):
    """``error`` and everything it wraps (cause, context, urllib3's ``reason``, args)."""
    pending, seen = [error], set()
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend((current.__cause__, current.__context__, getattr(current, "reason", None), *current.args))


def no_answer_reason(error: BaseException) -> tuple[bool, str]:
    """``(reached, why)`` of a request that got no answer (a ``requests``
    exception): ``reached`` is False when it never got to the target
    (connection refused, connect timeout, unknown host), True when it was
    sent and the connection then closed, was reset or timed out; ``why``
    says so in a few words."""
    chain = list(_chain(error))
    names = {type(e).__name__ for e in chain}
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return False, "connection refused"
    if isinstance(error, requests.ConnectTimeout):
        return False, "connect timed out"
    if "NameResolutionError" in names or any(isinstance(e, socket.gaierror) for e in chain):
        return False, "unknown host"
    if isinstance(error, requests.Timeout):
        return True, f"no answer within {TIMEOUT:g} s"
    if "RemoteDisconnected" in names or "IncompleteRead" in names:
        return True, "the connection closed without an answer"
    if any(isinstance(e, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)) for e in chain):
        return True, "the connection was reset"
    if isinstance(error, requests.ConnectionError):
        return True, f"the connection failed ({type(error).__name__})"
    return True, type(error).__name__


def curl_of(request, *, api_key: str | None = None) -> str | None:
    """A curl command sending ``request`` again (anything with ``method``,
    ``url``, ``headers`` and ``body``, e.g. a ``requests.PreparedRequest``),
    None without one. ``Authorization: Token <api_key>`` is written
    ``"Authorization: Token $USERPILOT_API_KEY"``; the headers every client
    sends itself are left out; a body longer than 2,000 characters, or not
    text, is described instead of written. Mask the result
    (:meth:`.masking.KeyMask.curl`) before showing it: other values are
    written as sent."""
    if request is None or not getattr(request, "url", None):
        return None
    parts = ["curl", "-X", shlex.quote(str(request.method or "GET"))]
    for name, value in (getattr(request, "headers", None) or {}).items():
        if name.lower() in _CLIENT_HEADERS:
            continue
        if name.lower() == "authorization" and api_key and value == f"Token {api_key}":
            parts.append(f'-H "Authorization: Token ${ENV_API_KEY}"')
        elif name.lower() == "authorization" and api_key and value == f"Token {api_key}{OTHER_APP_SUFFIX}":
            parts.append(f'-H "Authorization: Token ${{{ENV_API_KEY}}}{OTHER_APP_SUFFIX}"')
        else:
            parts.append("-H " + shlex.quote(f"{name}: {value}"))
    body = getattr(request, "body", None)
    comment = ""
    if body:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        if len(text) > MAX_CURL_BODY or "\ufffd" in text or any(ord(c) < 32 and c not in "\r\n\t" for c in text):
            comment = f"  # with a {len(body)}-byte body, not shown"
        else:
            parts.append("--data-binary " + _shell_text(text))
    return " ".join([*parts, shlex.quote(str(request.url))]) + comment


def _shell_text(text: str) -> str:
    """``text`` as one shell word on one line: quoted as is, or as ``$'...'``
    (bash, zsh) when it holds line breaks or tabs."""
    if not any(c in text for c in "\r\n\t"):
        return shlex.quote(text)
    escaped = (text.replace("\\", "\\\\").replace("'", "\\'").replace("\r", "\\r")
               .replace("\n", "\\n").replace("\t", "\\t"))
    return f"$'{escaped}'"


@dataclass
class ClockMove:
    """What a run did to a fake's clock: ``before`` (its state when the run
    found it: ``{"now", "frozen", "speed"}``), ``frozen_at`` (the instant
    the run froze it, UTC epoch s), ``now`` (where the run left it),
    ``restored`` (it runs again as before; None: it was frozen before and
    stays so; False: the run could not let it run again)."""

    before: dict
    frozen_at: float
    now: float
    restored: bool | None = None

    @property
    def moved(self) -> float:
        """Seconds the run moved the clock forward."""
        return self.now - self.frozen_at

    def describe(self) -> str:
        """One sentence for the report."""
        speed = self.before.get("speed", 1.0)
        if self.restored is None:
            after = f"it stays frozen as it was, now at {format_instant(self.now)}"
        elif self.restored:
            after = f"it runs again at speed {speed:g}, as before"
        else:
            after = "the run could not let it run again: it is frozen"
        if not self.moved:
            return f"the fake's clock was frozen for the run at {format_instant(self.frozen_at)} and not moved; {after}"
        return (f"the fake's clock was moved forward {duration(self.moved)} by the lifecycle checks "
                f"(from {format_instant(self.frozen_at)} to {format_instant(self.now)}); {after}; "
                "--clock keep runs them without moving it")


def duration(seconds: float) -> str:
    """``90061`` -> ``1 d 1 h 1 min 1 s (90,061 s)``; under a minute ``42 s``."""
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if whole < 60:
        return f"{whole} s"
    parts = [f"{days} d"] if days else []
    if days or hours:
        parts.append(f"{hours} h")
    parts += [f"{minutes} min", f"{secs} s"]
    return f"{' '.join(parts)} ({whole:,} s)"


class Target:
    """One target. ``kind``: ``in-process``, ``fake`` or ``real``;
    ``is_fake``: its clock can be driven; ``base_url``: where requests go
    (``http://localhost`` in-process); ``app``: the WSGI app in-process;
    ``label``: how reports name it (masked). ``api_key`` is never printed.
    ``traffic``: the run's, counting every request; ``clock_move``: what
    the run did to a fake's clock (None until it froze it); ``exports_url``:
    where the exports host's paths go (``/api/v1/analytics/exports...``;
    None: ``base_url``)."""

    def __init__(self, kind: str, base_url: str, label: str, api_key: str, *, app=None,
                 rate_limit: float | None = None, traffic: Traffic | None = None, exports_url: str | None = None):
        self.kind = kind
        self.base_url = base_url
        self.exports_url = exports_url or base_url
        self.label = label
        self.api_key = api_key
        self.app = app
        self.throttle = Throttle(rate_limit)
        self.traffic = traffic if traffic is not None else Traffic()
        self.clock_move: ClockMove | None = None
        self._session: requests.Session | None = None
        self._client: Client | None = None

    @property
    def is_fake(self) -> bool:
        return self.kind in ("in-process", "fake")

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every key the run sends: its own, and the isolation check's other app's."""
        return (self.api_key, self.api_key + OTHER_APP_SUFFIX)

    # ------------------------------------------------------------------ HTTP
    def url_of(self, path: str) -> str:
        """The absolute URL of ``path``: on the exports host for its paths, else on the base URL."""
        return (self.exports_url if on_exports_host(path.split("?", 1)[0]) else self.base_url) + path

    def request(self, method: str, path: str, *, auth: bool = True, json_body=None, files=None,
                headers: dict | None = None) -> Answer:
        """Send one request (``path`` starts with ``/``); 429 answers are
        retried after their Retry-After (at most 3 times). Raises
        TargetError when the server cannot be reached."""
        all_headers = dict(headers or {})
        if auth:
            all_headers["Authorization"] = f"Token {self.api_key}"
        elif path.startswith("/__admin") and os.environ.get(ADMIN_TOKEN_ENV):  # a fake that requires its token
            all_headers["Authorization"] = f"Bearer {os.environ[ADMIN_TOKEN_ENV]}"
        for attempt in range(MAX_RETRIES + 1):
            self.throttle.wait()
            self.traffic.sending()
            answer = self._send(method, path, all_headers, json_body, files)
            if answer.status != 429 or attempt == MAX_RETRIES:
                return answer
            delay = retry_after_seconds(answer.headers.get("retry-after"))
            self.throttle.back_off(1.0 if delay is None else delay)
        return answer  # pragma: no cover - the loop always returns

    def _send(self, method, path, headers, json_body, files) -> Answer:
        if self.app is not None:
            if self._client is None:
                self._client = Client(self.app)
            data = None
            if files is not None:
                data = {name: FileStorage(io.BytesIO(content), filename, name, ctype)
                        for name, (filename, content, ctype) in files.items()}
            answer = self._client.open(path, method=method, headers=headers, json=json_body, data=data)
            self.traffic.answer(None)
            return Answer(answer.status_code, {k.lower(): v for k, v in answer.headers.items()}, answer.get_data())
        if self._session is None:
            self._session = requests.Session()
        try:
            response = self._session.request(method, self.url_of(path), headers=headers, json=json_body,
                                             files=files, timeout=TIMEOUT, allow_redirects=False)
        except requests.RequestException as exc:
            reached, why = no_answer_reason(exc)
            self.traffic.no_answer(exc.request, reached=reached, why=why)
            raise NoAnswer(f"cannot reach {self.label}: {why}", error=exc, reached=reached, why=why) from None
        self.traffic.answer(response.request)
        return Answer(response.status_code, {k.lower(): v for k, v in response.headers.items()},
                      response.content)

    def download(self, url: str) -> Answer:
        """GET an absolute URL as it is, without the API key (a presigned
        download URL is its own credential, and may be another host's).
        In-process: the URL's path and query, to the app. Raises NoAnswer
        when the server cannot be reached."""
        if self.app is not None:
            parts = urlsplit(url)
            self.throttle.wait()
            self.traffic.sending()
            return self._send("GET", parts.path + ("?" + parts.query if parts.query else ""), {}, None, None)
        self.throttle.wait()
        self.traffic.sending()
        if self._session is None:
            self._session = requests.Session()
        try:
            response = self._session.get(url, timeout=TIMEOUT, allow_redirects=False)
        except requests.RequestException as exc:
            reached, why = no_answer_reason(exc)
            self.traffic.no_answer(exc.request, reached=reached, why=why)
            raise NoAnswer(f"cannot reach {self.label}: {why}", error=exc, reached=reached, why=why) from None
        self.traffic.answer(response.request)
        return Answer(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)

    def accepts_connections(self) -> bool:
        """Whether something still listens at the target's host and port
        (three tries, 0.3 s apart; no request is sent). In-process: True."""
        if self.app is not None:
            return True
        parts = urlsplit(self.base_url)
        address = (parts.hostname or "localhost", parts.port or (443 if parts.scheme == "https" else 80))
        for attempt in range(CONNECT_ATTEMPTS):
            if attempt:
                time.sleep(0.3)
            try:
                socket.create_connection(address, timeout=1.0).close()
                return True
            except OSError:
                continue
        return False

    def curl(self, method: str, path: str, *, auth: bool = True, upload: str | None = None, json_body=None,
             headers: dict | None = None) -> str:
        """A curl command reproducing a request, the key written as
        ``$USERPILOT_API_KEY`` (never the key itself); ``json_body`` is written
        out up to 2,000 characters, described beyond."""
        parts = ["curl", "-s", "-X", method]
        command = " ".join(shlex.quote(p) for p in parts)
        if auth:
            command += f' -H "Authorization: Token ${ENV_API_KEY}"'
        for name, value in (headers or {}).items():
            command += " -H " + shlex.quote(f"{name}: {value}")
        if upload:
            command += " -F " + shlex.quote("file=@" + upload)
        comment = ""
        if json_body is not None:
            text = json.dumps(json_body, separators=(",", ":"))
            command += " -H 'Content-Type: application/json'"
            if len(text) > MAX_CURL_BODY:
                comment = f"  # with a {len(text)}-byte JSON body, not shown"
            else:
                command += " --data-binary " + shlex.quote(text)
        return f"{command} {shlex.quote(self.url_of(path))}{comment}"

    # --------------------------------------------------------------- the fake
    def clock(self, **change) -> dict:
        """Read (no arguments) or change the fake's clock through the control
        API (``POST /__admin/clock``); returns its state ``{"now", "frozen",
        "speed"}``. Raises TargetError when the control API refuses."""
        answer = self.request("POST" if change else "GET", "/__admin/clock", auth=False,
                              json_body=change or None)
        if answer.status != 200:
            raise TargetError(f"the fake's control API answered {answer.status} to a clock change")
        return answer.json()

    def freeze(self) -> float:
        """Freeze the fake's clock (remembering how it ran); returns now (UTC epoch s)."""
        before = self.clock() if self.clock_move is None else None
        now = float(int(parse_instant(self.clock(frozen=True)["now"])))
        if before is not None:
            self.clock_move = ClockMove(before=before, frozen_at=now, now=now)
        return now

    def advance(self, seconds: float) -> float:
        """Move the frozen fake's clock forward; returns the new now."""
        now = float(int(parse_instant(self.clock(advance_seconds=seconds)["now"])))
        if self.clock_move is not None:
            self.clock_move.now = now
        return now

    def restore_clock(self) -> None:
        """Let the clock run again as it did before :meth:`freeze` (a clock
        that was frozen stays frozen); ``clock_move.restored`` says how it went."""
        move = self.clock_move
        if move is None or move.restored is not None or move.before.get("frozen"):
            return
        try:
            self.clock(frozen=False, speed=move.before.get("speed", 1.0))
            move.restored = True
        except TargetError:
            move.restored = False

    def close(self) -> None:
        if self.kind == "fake":
            self.restore_clock()
        if self._session is not None:
            self._session.close()


def open_target(opts: ContractOptions, *, traffic: Traffic | None = None) -> Target:
    """The target ``opts`` names (already validated): ``opts.app`` or a fresh
    fake in-process, the server at ``base_url``, or the real API; its
    requests counted in ``traffic``. Its label is the base URL as given,
    with the key masked should the URL hold it.

    Raises TargetError (exit 3) when a base URL cannot be reached, MissingKey
    when a target that is not a fake gets no API key (the message names the
    real API as such, any other server by its URL), TargetError when it
    refuses the key.
    """
    traffic = traffic if traffic is not None else Traffic()
    if opts.app is not None or (opts.base_url is None and opts.environment is None):
        app = opts.app
        in_process_key = opts.api_key or IN_PROCESS_KEY
        if app is None:
            app = create_app(seed=opts.seed if opts.seed is not None else DEFAULT_SEED,
                             now="2026-11-29T12:00:00Z", frozen=True, api_keys=[in_process_key])
        return Target("in-process", "http://localhost", "the fake, in-process", in_process_key, app=app,
                      traffic=traffic, exports_url=opts.exports_url)

    mask = KeyMask([opts.api_key, (opts.api_key or "") + OTHER_APP_SUFFIX])
    if opts.base_url is not None:
        url, label = opts.base_url, mask.text(opts.base_url)
    else:
        url = f"https://{opts.environment}.userpilot.io"
        label = f"the real API ({opts.environment})"
    if opts.base_url is None and not opts.api_key:  # the real API: no need to ask it
        raise MissingKey(missing_key_message())
    probe = Target("real", url, label, opts.api_key or "", rate_limit=opts.rate_limit, traffic=traffic)
    is_fake = False
    try:
        if opts.base_url is not None:
            try:
                health = probe.request("GET", "/__admin/health", auth=False)
                is_fake = health.status == 200 and "json" in health.content_type \
                    and health.json().get("status") == "ok"
            except (ValueError, AttributeError):
                is_fake = False
        key: str | None = opts.api_key
        if not is_fake and not key:
            raise MissingKey(missing_key_message(label))
        rate = opts.rate_limit if opts.rate_limit is not None else (None if is_fake else DEFAULT_RATE_LIMIT)
        exports_url = opts.exports_url or (DEFAULT_EXPORTS_URL if opts.base_url is None else url)
        target = Target("fake" if is_fake else "real", url,
                        f"the fake at {label}" if is_fake else label,
                        key or IN_PROCESS_KEY, rate_limit=rate or None, traffic=traffic, exports_url=exports_url)
        answer = target.request("GET", "/v1/background_jobs")
    except NoAnswer as exc:
        raise TargetError(f"cannot reach {label}: {exc.why}"
                          + ("" if not traffic.answered else " (it answered the first request only)")) from None
    if answer.status == 401:
        target.close()
        raise TargetError(f"{target.label} refused the API key (401): check {ENV_API_KEY}; nothing was tested")
    return target


def job_path(job_id: str) -> str:
    """The single-job path, ``job_id`` percent-encoded (``:`` kept)."""
    return "/v1/background_jobs/" + quote(job_id, safe=":")
