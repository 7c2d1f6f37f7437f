"""Faults on demand: fault rules, per-app rate limits, server-wide latency and
error rate (no HTTP here; :mod:`mock_server.http.faults` turns decisions into
answers).

Every random choice (a rule's probability, a latency range, ``--error-rate``,
the bytes of ``RANDOM_DATA_THEN_CLOSE``) draws from a generator seeded from
the fake's seed but separate from the one that makes the data, so adding a
rule never changes the jobs, and a run with the same seed and the same
requests faults the same way.

Rate-limit windows run on wall-clock time (``time.monotonic``), whatever the
fake's clock does: a rate limit is about the client's real pace.
"""
from __future__ import annotations

import itertools
import math
import random
import re
import threading
import time
from collections import OrderedDict, deque

from .. import schemas
from .errors import BadRequest, NotFound

#: WireMock's fault names, both achievable under a WSGI server: a 200 whose
#: body stops short of its declared Content-Length, and a 200 of bytes that
#: are not JSON; the connection is closed after either.
FAULT_NAMES = ("MALFORMED_RESPONSE_CHUNK", "RANDOM_DATA_THEN_CLOSE")
#: Longest latency a rule or ``--latency`` may ask for (a real sleep ties up
#: a server thread): admin.yaml FaultRuleRequest.latency_ms.
MAX_LATENCY_MS = schemas.limit("FaultRuleRequest", "latency_ms", "oneOf")[0]["maximum"]
#: Rules kept at once (exhausted ones count until removed or reset).
MAX_RULES = 1000
#: ``Retry-After`` (seconds) of an injected 429 that names none.
DEFAULT_RETRY_AFTER = 1
#: Apps whose rate-limit window is remembered (least recently used forgotten).
MAX_RATE_KEYS = 10_000

_LATENCY = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(?:-\s*(\d+(?:\.\d+)?)\s*)?(ms|s)?\s*", re.IGNORECASE)
_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*(s|sec|second|m|min|minute|h|hr|hour)s?\s*",
                   re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60,
                 "h": 3600, "hr": 3600, "hour": 3600}


def parse_latency(value) -> tuple[float, float] | None:
    """A latency setting as ``(low_ms, high_ms)``, or None for none.

    Accepts ``"50-200ms"``, ``"100ms"``, ``"0.1s"``, ``"0.05-0.2s"``, a bare
    number (milliseconds), a ``(low, high)`` pair of milliseconds, or None /
    ``""`` / 0 for no latency. Raises ValueError for anything else, a range
    whose low end is above its high end, or more than ``MAX_LATENCY_MS``.
    """
    if value is None or value == "" or value == 0:
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a latency: {value!r}")
    if isinstance(value, (int, float)):
        low = high = float(value)
    elif isinstance(value, (tuple, list)) and len(value) == 2 \
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        low, high = float(value[0]), float(value[1])
    elif isinstance(value, str):
        match = _LATENCY.fullmatch(value)
        if not match:
            raise ValueError(f"not a latency: {value!r} (examples: 100ms, 50-200ms, 0.1s)")
        scale = 1000.0 if (match.group(3) or "ms").lower() == "s" else 1.0
        low = float(match.group(1)) * scale
        high = float(match.group(2)) * scale if match.group(2) else low
    else:
        raise ValueError(f"not a latency: {value!r}")
    if not (0 <= low <= high <= MAX_LATENCY_MS) or math.isnan(low) or math.isnan(high):
        raise ValueError(f"latency must be 0 <= low <= high <= {MAX_LATENCY_MS} ms, got {value!r}")
    return None if high == 0 else (low, high)


#: The ``--rate-limit`` value that turns on only the operations' declared limits.
DOCUMENTED = "documented"


def parse_rate_limit(value) -> tuple[int, float] | str | None:
    """A rate limit as ``(requests, window_seconds)``, :data:`DOCUMENTED`, or
    None for none.

    Accepts ``"600/min"``, ``"10/s"``, ``"100/hour"``, ``"10/30s"`` (ten per
    thirty seconds), a ``(requests, seconds)`` pair, ``"documented"`` (no
    general limit: only the limits operations declare, such as the real-time
    calls' 600 per minute), or None / ``""`` for no limit. Raises ValueError
    for anything else or a count below 1.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().lower() == DOCUMENTED:
        return DOCUMENTED
    if isinstance(value, (tuple, list)) and len(value) == 2:
        count, window = value
        if isinstance(count, bool) or not isinstance(count, int) \
                or isinstance(window, bool) or not isinstance(window, (int, float)):
            raise ValueError(f"not a rate limit: {value!r}")
    elif isinstance(value, str):
        match = _RATE.fullmatch(value)
        if not match:
            raise ValueError(f"not a rate limit: {value!r} (examples: 600/min, 10/s, 10/30s)")
        count = int(match.group(1))
        window = float(match.group(2) or 1) * _UNIT_SECONDS[match.group(3).lower()]
    else:
        raise ValueError(f"not a rate limit: {value!r}")
    if count < 1 or not (0 < window <= 366 * 86400):
        raise ValueError(f"a rate limit needs at least 1 request per a positive window, got {value!r}")
    return int(count), float(window)


def check_error_rate(value) -> float:
    """An error rate: a number from 0 to 1 (the share of API calls answered
    503). Raises ValueError otherwise."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"error rate must be a number from 0 to 1, got {value!r}")
    return float(value)


class Decision:
    """What the fault rules decided for one request.

    ``latency_ms``: milliseconds to wait before answering (0 for none);
    ``status``: an error status to answer (None: no error); ``retry_after``:
    seconds for ``Retry-After`` (None: no header); ``fault``: one of
    :data:`FAULT_NAMES` or None; ``source``: what decided (a rule id or
    ``"--error-rate"``), for the answer's ``details``.
    """

    __slots__ = ("latency_ms", "status", "retry_after", "fault", "source")

    def __init__(self, latency_ms=0.0, status=None, retry_after=None, fault=None, source=None):
        self.latency_ms = latency_ms
        self.status = status
        self.retry_after = retry_after
        self.fault = fault
        self.source = source

    def __repr__(self):
        return (f"Decision(latency_ms={self.latency_ms!r}, status={self.status!r}, "
                f"retry_after={self.retry_after!r}, fault={self.fault!r}, source={self.source!r})")


class FaultRule:
    """One fault rule (see :meth:`Faults.add`). ``remaining`` counts down
    from ``times``; ``hits`` counts the requests it fired on."""

    __slots__ = ("id", "operation", "app_token", "times", "probability", "status", "retry_after",
                 "latency_ms", "fault", "remaining", "hits")

    def __init__(self, rule_id, operation, app_token, times, probability, status, retry_after,
                 latency_ms, fault):
        self.id = rule_id
        self.operation = operation
        self.app_token = app_token
        self.times = times
        self.probability = probability
        self.status = status
        self.retry_after = retry_after
        self.latency_ms = latency_ms
        self.fault = fault
        self.remaining = times
        self.hits = 0

    @property
    def has_outcome(self) -> bool:
        return self.status is not None or self.fault is not None

    def to_record(self) -> dict:
        """The rule as a JSON-able dict, counters included (what a store keeps)."""
        return {"id": self.id, "operation": self.operation, "app_token": self.app_token, "times": self.times,
                "probability": self.probability, "status": self.status, "retry_after": self.retry_after,
                "latency_ms": list(self.latency_ms) if self.latency_ms is not None else None,
                "fault": self.fault, "remaining": self.remaining, "hits": self.hits}

    @classmethod
    def from_record(cls, record: dict) -> FaultRule:
        """The rule a :meth:`to_record` dict describes."""
        latency = record.get("latency_ms")
        rule = cls(record["id"], record.get("operation"), record.get("app_token"), record.get("times"),
                   record.get("probability"), record.get("status"), record.get("retry_after"),
                   tuple(latency) if latency is not None else None, record.get("fault"))
        rule.remaining = record.get("remaining")
        rule.hits = int(record.get("hits") or 0)
        return rule

    def view(self) -> dict:
        """The rule as the control API shows it (apps by app token only)."""
        latency = None
        if self.latency_ms is not None:
            low, high = self.latency_ms
            latency = low if low == high else [low, high]
        return {"id": self.id, "operation": self.operation, "app_token": self.app_token,
                "times": self.times, "probability": self.probability, "status": self.status,
                "retry_after": self.retry_after, "latency_ms": latency, "fault": self.fault,
                "remaining": self.remaining, "hits": self.hits}


class RateLimiter:
    """At most ``limit`` requests per ``window`` seconds per key (a sliding
    log of accepted requests' wall-clock instants). Refused requests do not
    count, so a client that waits ``Retry-After`` gets through."""

    def __init__(self, limit: int, window: float, monotonic=time.monotonic):
        self.limit = limit
        self.window = window
        self.monotonic = monotonic
        self._log: OrderedDict[str, deque] = OrderedDict()

    def hit(self, key: str) -> int | None:
        """Count a request of ``key``: None when allowed, else the whole
        seconds (>= 1) until one more would be (for ``Retry-After``)."""
        now = self.monotonic()
        log = self._log.get(key)
        if log is None:
            log = self._log[key] = deque()
            while len(self._log) > MAX_RATE_KEYS:
                self._log.popitem(last=False)
        else:
            self._log.move_to_end(key)
        horizon = now - self.window
        while log and log[0] <= horizon:
            log.popleft()
        if len(log) >= self.limit:
            return max(1, math.ceil(log[0] - horizon))
        log.append(now)
        return None

    def clear(self) -> None:
        self._log.clear()


def _rule_number(rule_id: str) -> int:
    """The n of a rule id ``fault-<n>`` (0 for another shape)."""
    head, _, number = rule_id.rpartition("-")
    return int(number) if head == "fault" and number.isdigit() else 0


class Faults:
    """The fault state of one fake: rules, rate-limit windows, the fault
    generator, and the server-wide ``latency`` / ``error_rate`` /
    ``rate_limit`` settings.

    ``backend`` is the :class:`~.core.Backend` (its store keeps the rules;
    its seed and settings turn an API key into its app token); ``operations`` maps operationId ->
    ``(METHOD, path template)`` of the operations served. ``latency``,
    ``error_rate``, ``rate_limit``: as :func:`parse_latency`,
    :func:`check_error_rate`, :func:`parse_rate_limit` accept (ValueError
    for bad ones). ``monotonic``: the wall clock of rate limits (tests pass
    their own).
    """

    def __init__(self, backend, operations: dict[str, tuple[str, str]], *, latency=None,
                 error_rate=0.0, rate_limit=None, monotonic=time.monotonic,
                 operation_limits: dict[str, tuple[str, int, float]] | None = None):
        self.backend = backend
        self.store = backend.store
        self.operations = dict(operations)
        self._by_route = {f"{method.upper()} {path}": op for op, (method, path) in self.operations.items()}
        self.latency = parse_latency(latency)
        self.error_rate = check_error_rate(error_rate)
        limit = parse_rate_limit(rate_limit)
        #: The general limit, ``(requests, seconds)``; None when off or ``documented``.
        self.rate_limit = limit if isinstance(limit, tuple) else None
        self.limiter = RateLimiter(*self.rate_limit, monotonic=monotonic) if self.rate_limit else None
        #: operationId -> (bucket, requests, seconds): the limits operations
        #: declare (``x-userpilot-rate-limit``), on whenever rate limiting is.
        self.operation_limits = dict(operation_limits or {}) if limit is not None else {}
        self.buckets = {bucket: RateLimiter(count, window, monotonic=monotonic)
                        for bucket, count, window in self.operation_limits.values()}
        self.limiting = self.limiter is not None or bool(self.operation_limits)
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = [FaultRule.from_record(r) for r in self.store.rules()]
        self._ids = itertools.count(1 + max((_rule_number(r.id) for r in self._rules), default=0))
        self._seed_rng()
        self._refresh()

    # -- state ---------------------------------------------------------------
    def _seed_rng(self) -> None:
        self.rng = random.Random(f"{self.backend.seed}:faults")

    def _refresh(self) -> None:
        #: True when any request may be faulted (the HTTP hook's fast path).
        self.active = bool(self._rules) or self.error_rate > 0 or self.limiting

    def reset(self) -> None:
        """Forget every rule and rate-limit window and reseed the fault
        generator from the backend's (possibly new) seed; the server-wide
        settings stay. (The backend's reset calls it, after the store has
        forgotten the rules.)"""
        with self._lock:
            self._rules.clear()
            self._ids = itertools.count(1)
            if self.limiter is not None:
                self.limiter.clear()
            for bucket in self.buckets.values():
                bucket.clear()
            self._seed_rng()
            self._refresh()

    # -- rules ---------------------------------------------------------------
    def operation_id(self, name: str) -> str:
        """The operationId named by ``name``: an operationId or
        ``"METHOD /path/{template}"``. Raises BadRequest for another."""
        if name in self.operations:
            return name
        parts = name.split(None, 1)
        if len(parts) == 2:
            found = self._by_route.get(f"{parts[0].upper()} {parts[1].strip()}")
            if found:
                return found
        known = ", ".join(f"{op} ({m} {p})" for op, (m, p) in self.operations.items())
        raise BadRequest(f"unknown operation {name!r}", f"one of: {known}", error_code="unknown_operation")

    def add(self, rule: dict) -> dict:
        """Add a fault rule; returns its view (with its ``id``).

        ``rule``: admin.yaml ``FaultRuleRequest``: ``{"operation":
        operationId | "METHOD /path" (absent: every operation), "api_key" |
        "app_token" (absent: every app), "times": n | "probability": p
        (neither: every matching call until removed), "status": 400..599,
        "retry_after": seconds (with status; a 429 without one gets 1),
        "latency_ms": n | [low, high], "fault": "MALFORMED_RESPONSE_CHUNK" |
        "RANDOM_DATA_THEN_CLOSE"}``; at least one of status, fault,
        latency_ms. An API key is turned into its app token at once and never
        stored (nor is its app created).

        Raises BadRequest for a rule the schema refuses, an unknown
        operation, an API key the server does not accept, a low latency above
        the high one, or more than :data:`MAX_RULES` rules.
        """
        schemas.check("FaultRuleRequest", rule, "fault rule")
        operation = self.operation_id(rule["operation"]) if rule.get("operation") is not None else None
        app_token = self._app_token(rule)
        status = rule.get("status")
        retry_after = rule.get("retry_after")
        latency = None
        if rule.get("latency_ms") is not None:
            try:
                latency = parse_latency(rule["latency_ms"]) or (0.0, 0.0)
            except ValueError as exc:
                raise BadRequest(f"bad latency_ms: {exc}") from None
        if status == 429 and retry_after is None:
            retry_after = DEFAULT_RETRY_AFTER
        with self._lock:
            if len(self._rules) >= MAX_RULES:
                raise BadRequest(f"too many fault rules (at most {MAX_RULES})",
                                 "DELETE /__admin/faults/<id> or DELETE /__admin/faults first")
            item = FaultRule(f"fault-{next(self._ids)}", operation, app_token, rule.get("times"),
                             rule.get("probability"), status, retry_after, latency, rule.get("fault"))
            self._rules.append(item)
            self.store.save_rule(item.to_record())
            self._refresh()
            return item.view()

    def _app_token(self, rule: dict) -> str | None:
        api_key, app_token = rule.get("api_key"), rule.get("app_token")
        if api_key is not None:
            accepted = self.backend.settings.api_keys
            if accepted and api_key not in accepted:
                raise BadRequest("this API key is not accepted by this server",
                                 "the server was started with --api-key; name one of those keys")
            return self.backend.token_for(api_key)
        return app_token

    def rules(self) -> list[dict]:
        """Every rule's view, oldest first (exhausted ones included, with
        ``remaining`` 0, so a test can see that they fired)."""
        with self._lock:
            return [rule.view() for rule in self._rules]

    def remove(self, rule_id: str) -> dict:
        """Remove one rule; returns its view. Raises NotFound."""
        with self._lock:
            for i, rule in enumerate(self._rules):
                if rule.id == rule_id:
                    del self._rules[i]
                    self.store.delete_rules([rule_id])
                    self._refresh()
                    return rule.view()
        raise NotFound(f"no fault rule {rule_id!r}", "GET /__admin/faults lists them",
                       error_code="fault_not_found")

    def clear(self) -> int:
        """Remove every rule; returns how many there were."""
        with self._lock:
            count = len(self._rules)
            self._rules.clear()
            self.store.delete_rules(None)
            self._refresh()
            return count

    # -- decisions -----------------------------------------------------------
    def rate_check(self, app_token: str | None, operation_id: str | None = None) -> int | None:
        """Count a call of ``operation_id`` by ``app_token`` against its rate
        limit: the limit the operation declares (its bucket's window, per
        app), else the general one. None when allowed (or no limit, or no
        app), else ``Retry-After`` seconds."""
        if app_token is None:
            return None
        declared = self.operation_limits.get(operation_id) if operation_id is not None else None
        limiter = self.buckets[declared[0]] if declared else self.limiter
        if limiter is None:
            return None
        with self._lock:
            return limiter.hit(app_token)

    def limit_of(self, operation_id: str | None) -> tuple[int, float] | None:
        """``(requests, seconds)`` of the limit a call of ``operation_id`` counts against."""
        declared = self.operation_limits.get(operation_id) if operation_id is not None else None
        return (declared[1], declared[2]) if declared else self.rate_limit

    def _draw_latency(self, latency) -> float:
        low, high = latency
        return low if low == high else self.rng.uniform(low, high)

    def decide(self, operation_id: str, app_token: str | None) -> Decision | None:
        """What to do with a call of ``operation_id`` by ``app_token``.

        Rules are tried oldest first. A matching rule fires while it has
        ``times`` left, or with its ``probability``, or always. Every firing
        rule adds its latency; the first firing rule with a status or fault
        decides the answer, and later rules with one are not tried (nor
        consumed). With no such rule, ``--error-rate`` may answer 503.
        Returns None when nothing applies.
        """
        with self._lock:
            decision = None
            for rule in self._rules:
                if rule.operation is not None and rule.operation != operation_id:
                    continue
                if rule.app_token is not None and rule.app_token != app_token:
                    continue
                if rule.has_outcome and decision is not None and decision.source is not None:
                    continue
                if rule.remaining is not None:
                    if rule.remaining <= 0:
                        continue
                    rule.remaining -= 1
                elif rule.probability is not None and not self.rng.random() < rule.probability:
                    continue
                rule.hits += 1
                self.store.save_rule(rule.to_record())
                if decision is None:
                    decision = Decision()
                if rule.latency_ms is not None:
                    decision.latency_ms += self._draw_latency(rule.latency_ms)
                if rule.has_outcome:
                    decision.status, decision.retry_after = rule.status, rule.retry_after
                    decision.fault, decision.source = rule.fault, f"fault rule {rule.id}"
            if (decision is None or decision.source is None) and self.error_rate > 0 \
                    and self.rng.random() < self.error_rate:
                decision = decision or Decision()
                decision.status, decision.source = 503, "--error-rate"
            return decision

    def server_latency_ms(self) -> float:
        """Milliseconds of ``--latency`` to add to one answer (0 for none)."""
        if self.latency is None:
            return 0.0
        with self._lock:
            return self._draw_latency(self.latency)

    def random_bytes(self, size: int) -> bytes:
        """``size`` (>= 1) bytes from the fault generator that never decode
        as JSON (the first is not ASCII)."""
        with self._lock:
            data = bytearray(self.rng.randbytes(size))
        data[0] |= 0x80
        return bytes(data)


__all__ = ["DEFAULT_RETRY_AFTER", "DOCUMENTED", "FAULT_NAMES", "Decision", "FaultRule", "Faults", "RateLimiter",
           "check_error_rate", "parse_latency", "parse_rate_limit"]
