"""Recorded answers, served on the fake's clock (``serve --replay CASSETTE``).

A recorded request is named by its method, its path (percent-decoded), its
query (sorted pairs) and whether it carried an API key. Its answers are kept
in the order recorded, each at its *offset*: the instant it describes
(:func:`~.observe.instants`) minus that of the first. The first time the
fake is asked a recorded request, its first answer is served and the
request's replay starts at the fake's instant then; later askings get the
last answer whose offset has passed on the fake's clock. So a client polling
one job sees the recorded sequence of statuses as the clock moves
(``POST /__admin/clock`` to move through it), and a reset starts every
replay again.

No HTTP here: :class:`ReplayBook` answers ``(status, headers, body)``; the
pipeline's ``Replay`` stage (:mod:`mock_server.http.stages`) serves them.
"""
from __future__ import annotations

import difflib
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote

from .har import Exchange, read_cassette
from .observe import instants

#: Headers never replayed: the connection's own, those recomputed, and those
#: the fake adds to every answer itself (its profile's fixed headers and
#: ``x-request-id``, see :mod:`mock_server.http.front`).
NOT_REPLAYED = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "date", "via",
                          "x-request-id", "content-encoding"})

Key = tuple[str, str, tuple[tuple[str, str], ...], bool]


def request_key(method: str, path: str, query: Sequence[tuple[str, str]], authorized: bool) -> Key:
    """What names a recorded request (see the module docstring)."""
    return (method.upper(), unquote(path).rstrip("/") or "/", tuple(sorted(query)), authorized)


def describe_key(key: Key) -> str:
    """``GET /v1/background_jobs?x=1`` (``without a key`` when it had none)."""
    method, path, query, authorized = key
    text = f"{method} {path}" + ("?" + "&".join(f"{k}={v}" for k, v in query) if query else "")
    return text + ("" if authorized else " (without an API key)")


@dataclass(frozen=True)
class Recorded:
    """One recorded answer: ``offset`` (seconds after the request's first),
    ``status``, ``headers`` (replayed ones), ``body``."""

    offset: float
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


class ReplayBook:
    """The recorded answers of a cassette, by request (see the module
    docstring). ``source``: the cassette's path. Thread-safe."""

    def __init__(self, exchanges: Sequence[Exchange], source: str = "cassette"):
        self.source = source
        self.answers: dict[Key, list[Recorded]] = {}
        firsts: dict[Key, float] = {}
        for exchange, at in zip(exchanges, instants(exchanges), strict=True):
            authorized = exchange.header("authorization", response=False) is not None
            key = request_key(exchange.method, exchange.path, exchange.query, authorized)
            first = firsts.setdefault(key, at)
            headers = tuple((k, v) for k, v in exchange.response_headers if k.lower() not in NOT_REPLAYED)
            self.answers.setdefault(key, []).append(Recorded(max(0.0, at - first), exchange.status, headers,
                                                             exchange.body))
        self._starts: dict[Key, float] = {}
        self._generation: object = None
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: str | os.PathLike) -> ReplayBook:
        """The book of the cassette at ``path``. Raises CassetteError."""
        return cls(read_cassette(path), str(path))

    def describe(self) -> str:
        count = sum(len(v) for v in self.answers.values())
        return f"{self.source}: {count} answer(s) to {len(self.answers)} recorded request(s)"

    def answer(self, key: Key, now: float, generation: object = None) -> Recorded | None:
        """The answer to ``key`` at the fake's instant ``now`` (None: not
        recorded). ``generation``: the fake's reset count; a new one starts
        every replay again."""
        answers = self.answers.get(key)
        if answers is None:
            return None
        with self._lock:
            if generation != self._generation:
                self._generation = generation
                self._starts.clear()
            start = self._starts.setdefault(key, now)
        elapsed = now - start
        chosen = answers[0]
        for recorded in answers:
            if recorded.offset <= elapsed:
                chosen = recorded
            else:
                break
        return chosen

    def nearest(self, key: Key) -> str:
        """The recorded request most like ``key`` (same method first), for a
        404 that says what was recorded."""
        same = [k for k in self.answers if k[0] == key[0]] or list(self.answers)
        if not same:
            return "none: the cassette recorded no request"
        labels = {describe_key(k): k for k in same}
        match = difflib.get_close_matches(describe_key(key), list(labels), n=1, cutoff=0.0)
        return match[0] if match else describe_key(same[0])


__all__ = ["NOT_REPLAYED", "Recorded", "ReplayBook", "describe_key", "request_key"]
