"""The server a contract run talks to, and the suite's own HTTP client.

Three kinds (docs/contract.md, "Targets"): a fake in-process (a WSGI app, no
socket), any server at a base URL (a fake when ``GET /__admin/health``
answers: its clock is then driven through the control API), and the real
API. Against anything that is not a fake the client is rate limited and
honours ``Retry-After`` on 429.
"""
from __future__ import annotations

import io
import json
import shlex
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import requests
from werkzeug.datastructures import FileStorage
from werkzeug.test import Client

from mock_server import create_app
from mock_server.config import DEFAULT_SEED
from mock_server.times import parse_instant

from .options import DEFAULT_RATE_LIMIT, ENV_API_KEY, MISSING_KEY_MESSAGE, ContractOptions, TargetError
from .state import Throttle

#: Retries of one request answered 429, and the longest Retry-After honoured (seconds).
MAX_RETRIES = 3
MAX_RETRY_AFTER = 60.0
#: Seconds before a request to a network target is given up.
TIMEOUT = 30.0
#: Key of the fresh in-process fake when none is given.
IN_PROCESS_KEY = "contract-test-key"


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


class Target:
    """One target. ``kind``: ``in-process``, ``fake`` or ``real``;
    ``is_fake``: its clock can be driven; ``base_url``: where requests go
    (``http://localhost`` in-process); ``app``: the WSGI app in-process;
    ``label``: how reports name it. ``api_key`` is never printed."""

    def __init__(self, kind: str, base_url: str, label: str, api_key: str, *, app=None,
                 rate_limit: float | None = None):
        self.kind = kind
        self.base_url = base_url
        self.label = label
        self.api_key = api_key
        self.app = app
        self.throttle = Throttle(rate_limit)
        self.requests_sent = 0
        #: a RunEvidence keeping every exchange (contract_tests.evidence), None: none kept
        self.evidence: Any = None
        self._session: requests.Session | None = None
        self._client: Client | None = None
        self._clock_before: dict | None = None

    @property
    def is_fake(self) -> bool:
        return self.kind in ("in-process", "fake")

    # ------------------------------------------------------------------ HTTP
    def request(self, method: str, path: str, *, auth: bool = True, json_body=None, files=None,
                headers: dict | None = None) -> Answer:
        """Send one request (``path`` starts with ``/``); 429 answers are
        retried after their Retry-After (at most 3 times). Raises
        TargetError when the server cannot be reached."""
        all_headers = dict(headers or {})
        if auth:
            all_headers["Authorization"] = f"Token {self.api_key}"
        for attempt in range(MAX_RETRIES + 1):
            self.throttle.wait()
            started, t0 = time.time(), time.perf_counter()
            answer = self._send(method, path, all_headers, json_body, files)
            self.requests_sent += 1
            if self.evidence is not None:
                body = json.dumps(json_body).encode("utf-8") if json_body is not None else b""
                self.evidence.add_answer(method, self.base_url + path, all_headers, body, answer, started,
                                         time.perf_counter() - t0)
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
            return Answer(answer.status_code, {k.lower(): v for k, v in answer.headers.items()}, answer.get_data())
        if self._session is None:
            self._session = requests.Session()
        try:
            response = self._session.request(method, self.base_url + path, headers=headers, json=json_body,
                                             files=files, timeout=TIMEOUT, allow_redirects=False)
        except requests.RequestException as exc:
            raise TargetError(f"cannot reach {self.label}: {type(exc).__name__}") from None
        return Answer(response.status_code, {k.lower(): v for k, v in response.headers.items()},
                      response.content)

    def curl(self, method: str, path: str, *, auth: bool = True, upload: str | None = None) -> str:
        """A curl command reproducing a request, the key written as
        ``$USERPILOT_API_KEY`` (never the key itself)."""
        parts = ["curl", "-s", "-X", method]
        command = " ".join(shlex.quote(p) for p in parts)
        if auth:
            command += f' -H "Authorization: Token ${ENV_API_KEY}"'
        if upload:
            command += " -F " + shlex.quote("file=@" + upload)
        return f"{command} {shlex.quote(self.base_url + path)}"

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
        if self._clock_before is None:
            self._clock_before = self.clock()
        return float(int(parse_instant(self.clock(frozen=True)["now"])))

    def advance(self, seconds: float) -> float:
        """Move the frozen fake's clock forward; returns the new now."""
        return float(int(parse_instant(self.clock(advance_seconds=seconds)["now"])))

    def restore_clock(self) -> None:
        """Let the clock run again as it did before :meth:`freeze`."""
        before, self._clock_before = self._clock_before, None
        if before is not None and not before.get("frozen"):
            try:
                self.clock(frozen=False, speed=before.get("speed", 1.0))
            except TargetError:
                pass

    def close(self) -> None:
        if self.kind == "fake":
            self.restore_clock()
        if self._session is not None:
            self._session.close()


def open_target(opts: ContractOptions) -> Target:
    """The target ``opts`` names (already validated): ``opts.app`` or a fresh
    fake in-process, the server at ``base_url``, or the real API.

    Raises TargetError (exit 3) when a base URL cannot be reached, or a
    target that is not a fake gets no API key, or refuses it.
    """
    if opts.app is not None or (opts.base_url is None and opts.environment is None):
        app = opts.app
        in_process_key = opts.api_key or IN_PROCESS_KEY
        if app is None:
            app = create_app(seed=opts.seed if opts.seed is not None else DEFAULT_SEED,
                             now="2026-11-29T12:00:00Z", frozen=True, api_keys=[in_process_key])
        return Target("in-process", "http://localhost", "the fake, in-process", in_process_key, app=app)

    if opts.base_url is not None:
        url, label = opts.base_url, opts.base_url
    else:
        url = f"https://{opts.environment}.userpilot.io"
        label = f"the real API ({opts.environment})"
    if opts.base_url is None and not opts.api_key:  # the real API: no need to ask it
        raise TargetError(MISSING_KEY_MESSAGE)
    probe = Target("real", url, label, opts.api_key or "", rate_limit=opts.rate_limit)
    is_fake = False
    if opts.base_url is not None:
        try:
            health = probe.request("GET", "/__admin/health", auth=False)
            is_fake = health.status == 200 and "json" in health.content_type \
                and health.json().get("status") == "ok"
        except (ValueError, AttributeError):
            is_fake = False
    key: str | None = opts.api_key
    if not is_fake and not key:
        raise TargetError(MISSING_KEY_MESSAGE)
    rate = opts.rate_limit if opts.rate_limit is not None else (None if is_fake else DEFAULT_RATE_LIMIT)
    target = Target("fake" if is_fake else "real", url,
                    f"the fake at {url}" if is_fake else label,
                    key or IN_PROCESS_KEY, rate_limit=rate or None)
    target.requests_sent = probe.requests_sent
    answer = target.request("GET", "/v1/background_jobs")
    if answer.status == 401:
        target.close()
        raise TargetError(f"{target.label} refused the API key (401): check {ENV_API_KEY}; nothing was tested")
    return target


def job_path(job_id: str) -> str:
    """The single-job path, ``job_id`` percent-encoded (``:`` kept)."""
    return "/v1/background_jobs/" + quote(job_id, safe=":")
