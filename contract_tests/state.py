"""Run state: what one contract run knows that no configuration file can say.

The per-check *settings* live in ``schemathesis.toml`` (``[checks.<name>]``
tables, read by Schemathesis for its phases and by the runner for the
lifecycle polls). What is here exists only once the runner has opened its
target: the API key, the pace and read-only mode the hooks apply, how the
checks read answers (is the target a fake, which instant does an answer
describe), and the run's traffic (requests sent and answered, the last ones:
progress, and what to report when a target stops answering). A plain
``schemathesis run`` gets the defaults: the key from the environment, no
pace, every method, any server, no known instant, no traffic kept.

Standard library only: :mod:`.target` imports it without Schemathesis.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


class Throttle:
    """At most ``rate`` requests per second (0 or None: no limit), shared by
    every request of a run; :meth:`back_off` holds all of them until a
    ``Retry-After`` has passed. Thread-safe."""

    def __init__(self, rate: float | None):
        self.interval = 1.0 / rate if rate else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until the next request may go."""
        with self._lock:
            now = time.monotonic()
            at = max(now, self._next)
            self._next = at + self.interval
        if at > now:
            time.sleep(at - now)

    def back_off(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (a 429's Retry-After)."""
        with self._lock:
            self._next = max(self._next, time.monotonic() + max(0.0, seconds))


class Traffic:
    """Every request of one run as it goes, the kit's own and Schemathesis's
    (counted where they are sent: :class:`contract_tests.target.Target` and
    the transports, :mod:`contract_tests._schemathesis`). Thread-safe.

    ``sent``: requests sent or attempted; ``answered``: answers received;
    ``last_sent``: the latest request that reached the target (an object
    with ``method``, ``url``, ``headers``, ``body``, e.g. a
    ``requests.PreparedRequest``; None in-process or before any), and
    ``last_sent_answered``: whether it got an answer. ``listener`` is called
    with ``sent`` after every request (the progress line); ``last_failure``
    says why the latest request without an answer got none.
    """

    def __init__(self, listener: Callable[[int], None] | None = None):
        self.sent = 0
        self.answered = 0
        self.last_sent: object | None = None
        self.last_sent_answered = False
        self.last_failure = ""
        self.listener = listener
        self._lock = threading.Lock()

    def sending(self) -> None:
        """A request is about to go."""
        with self._lock:
            self.sent += 1
            sent = self.sent
        if self.listener is not None:
            self.listener(sent)

    def answer(self, request: object | None) -> None:
        """The request sent last got an answer (``request``: what was sent, if known)."""
        with self._lock:
            self.answered += 1
            if request is not None:
                self.last_sent, self.last_sent_answered = request, True

    def no_answer(self, request: object | None, *, reached: bool, why: str = "") -> None:
        """A request got no answer; ``reached``: it was written to the target
        (the connection closed or timed out after that), not refused;
        ``why``: what happened (kept as ``last_failure``)."""
        with self._lock:
            self.last_failure = why
            if reached and request is not None:
                self.last_sent, self.last_sent_answered = request, False

    def probes(self, sent: int, answered: int) -> None:
        """Requests sent outside the tracked senders (Schemathesis's start-up probes)."""
        with self._lock:
            self.sent += sent
            self.answered += answered


@dataclass
class RunState:
    """The current run, as the hooks and the checks see it.

    For the hooks: ``api_key`` (None: ``USERPILOT_API_KEY``, else the fake's
    demo key), ``throttle`` (the run's pace, None: none), ``read_only``
    (refuse to send anything but GET).

    For the checks: ``strict_fake``, the target is a fake, so hold it to the
    fake's own stricter promises too (``fake_job_details``); ``now``, the
    instant an answer describes (UTC epoch seconds) as a function of the
    answer, or None when unknown; ``frozen``, every answer describes the same
    instant (a fake whose clock the run froze), so a job's list entry and its
    single-job answer must agree field by field.

    ``traffic``: the run's :class:`Traffic` (None: not kept).

    For the evidence: ``evidence``, a :class:`contract_tests.evidence.RunEvidence`
    keeping every exchange (None: the run keeps none). ``forms``: the forms
    a fake's profile gives its answers (a ``mock_server.backend.profile.Forms``,
    None: the defaults), which the fake-only checks expect.
    """

    api_key: str | None = None
    throttle: Throttle | None = None
    read_only: bool = False
    strict_fake: bool = False
    now: Callable[[object], float | None] | None = None
    frozen: bool = False
    traffic: Traffic | None = None
    evidence: object = None
    #: the forms a fake's profile gives its answers (mock_server.backend.profile.Forms; None: the defaults)
    forms: Any = None


_current = RunState()
_lock = threading.Lock()


@contextmanager
def active(state: RunState):
    """Make ``state`` the current run while the block runs (one run at a
    time per process; the previous state comes back afterwards)."""
    global _current
    with _lock:
        previous, _current = _current, state
    try:
        yield state
    finally:
        with _lock:
            _current = previous


def current() -> RunState:
    """The current run's state (the defaults outside :func:`active`)."""
    return _current
