"""The request journal: the most recent requests to the API, kept in the store.

An entry is a tuple of JSON-able values, recorded by the HTTP layer after a
request is answered (``mock_server.http.stages.Record`` decides what it
holds and what the request broke in the kit spec); :meth:`Journal.page`
turns the kept tuples into the documents ``GET /__admin/requests`` answers,
a page at a time. Query values whose name looks secret read ``[Filtered]``;
header values are never kept. No HTTP here.

Bounded twice: at most ``size`` entries, holding at most ``max_bytes`` in
all (each entry's size is an estimate of the memory it takes: its text plus
:data:`ENTRY_OVERHEAD`); the oldest go first. A text field longer than
:data:`MAX_FIELD_CHARS` (a path, a query string, a violation's message) is
kept cut, ending in a visible marker (:func:`clip`), so one huge request
cannot fill the journal alone.
"""
from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from urllib.parse import parse_qs, unquote

from ..times import format_instant, format_ms
from .store import Store

#: Query parameters whose values the journal never shows (a client that
#: puts its key in the URL must not see it echoed in a test report).
SECRET_NAME = re.compile(r"key|token|secret|password|passwd|auth|signature", re.IGNORECASE)
FILTERED = "[Filtered]"

#: The fields of an entry tuple, in order (see :meth:`Journal.record`).
FIELDS = ("method", "path", "query", "status", "received", "clock_now", "app_token", "elapsed",
          "operation", "violations")
#: Longest text field kept whole (characters); a longer one is cut there and
#: marked (:data:`TRUNCATED`).
MAX_FIELD_CHARS = 4096
#: The marker ending a cut field (no ``&``, ``=``, ``%`` or ``+``: it reads the
#: same inside a query string).
TRUNCATED = "...[truncated {:,} characters]"
#: Bytes an entry takes besides its texts (the tuple, numbers, dicts; measured
#: with tracemalloc, rounded up), and each violation besides its texts.
ENTRY_OVERHEAD = 400
VIOLATION_OVERHEAD = 250
#: Entries read from the store at a time when a read scans the journal.
SCAN_BATCH = 500


def clip(text: str, limit: int = MAX_FIELD_CHARS) -> str:
    """``text`` when at most ``limit`` characters, else its first ``limit``
    followed by ``...[truncated N characters]`` (N: how many were cut)."""
    if len(text) <= limit:
        return text
    return text[:limit] + TRUNCATED.format(len(text) - limit)


def masked_query(query: str) -> dict:
    """A raw query string as ``{name: [values]}``, secret-looking values
    replaced by ``[Filtered]``."""
    parsed = parse_qs(query, keep_blank_values=True)
    for name, values in parsed.items():
        if SECRET_NAME.search(name):
            parsed[name] = [FILTERED] * len(values)
    return parsed


class Journal:
    """The most recent ``size`` requests holding at most ``max_bytes`` in
    all, oldest first, kept in ``store`` (see the module docstring).

    Entries are stored as tuples and turned into dicts only when read, a
    page at a time, so recording stays cheap and reading never builds the
    whole journal. Thread-safe.
    """

    def __init__(self, store: Store, size: int, max_bytes: int):
        self.store = store
        self.size = max(0, int(size))
        self.max_bytes = max(0, int(max_bytes))
        self._lock = threading.Lock()
        # a resumed store: from a larger journal, or a trim left undone
        store.journal_trim(self.size, self.max_bytes)

    def record(self, method: str, path: str, query: str, status: int, received: float, clock_now: float,
               app_token: str | None, elapsed: float, operation: str | None, violations: list[dict]) -> None:
        """Keep one answered request: ``path`` as received (no query),
        ``query`` the raw query string, ``received`` wall-clock UTC epoch
        seconds, ``clock_now`` the fake's clock, ``elapsed`` seconds taken,
        ``operation`` its operationId (None when no operation matched),
        ``violations`` ``[{"location", "name", "message"}]``. Text fields
        over :data:`MAX_FIELD_CHARS` are cut (:func:`clip`)."""
        if not self.enabled:
            return
        limit = MAX_FIELD_CHARS
        if len(method) > limit or len(path) > limit or len(query) > limit:
            method, path, query = clip(method), clip(path), clip(query)
        size = ENTRY_OVERHEAD + len(method) + len(path) + len(query)
        if violations:
            kept = []
            for item in violations:
                clipped = {k: clip(v) if isinstance(v, str) else v for k, v in item.items()}
                size += VIOLATION_OVERHEAD + sum(len(v) for v in clipped.values() if isinstance(v, str))
                kept.append(clipped)
            violations = kept
        entry = (method, path, query, status, received, clock_now, app_token, elapsed, operation, violations)
        store = self.store
        with self._lock:
            store.journal_append(entry, size)
            store.journal_trim(self.size, self.max_bytes)

    @property
    def enabled(self) -> bool:
        """False when the bounds let no entry be kept (size or bytes 0)."""
        return bool(self.size and self.max_bytes)

    def clear(self) -> int:
        """Forget every entry; returns how many there were."""
        return self.store.journal_clear()

    def __len__(self) -> int:
        return self.store.journal_len()

    @property
    def bytes(self) -> int:
        """The estimated bytes the entries kept hold."""
        return self.store.journal_bytes()

    def _scan(self, method: str | None, path: str | None, since: float | None, after: int,
              app_token: str | None = None, operation: str | None = None) -> Iterator[tuple[int, tuple]]:
        """``(seq, entry)`` of the matching entries numbered above ``after``,
        oldest first, read :data:`SCAN_BATCH` at a time; stops at the entries
        that were kept when it started (a busy journal never makes it endless)."""
        method = method.upper() if method else None
        wanted = unquote(path) if path else None
        budget = self.store.journal_len()
        while budget > 0:
            batch = self.store.journal_page(after, min(SCAN_BATCH, budget))
            if not batch:
                return
            budget -= len(batch)
            for seq, entry in batch:
                after = seq
                if method and entry[0] != method:
                    continue
                if wanted is not None and unquote(entry[1]) != wanted:
                    continue
                if since is not None and entry[4] < since:
                    continue
                if app_token is not None and entry[6] != app_token:
                    continue
                if operation is not None and entry[8] != operation:
                    continue
                yield seq, entry

    def page(self, method: str | None = None, path: str | None = None, since: float | None = None, *,
             after: int = 0, limit: int | None = None, app_token: str | None = None,
             operation: str | None = None) -> tuple[list[dict], int | None]:
        """``(entries, cursor)``: at most ``limit`` entries (None: all) as
        dicts (docs/journal.md), oldest first, numbered above ``after`` (a
        previous page's cursor; 0: from the oldest), filtered by ``method``
        (any case), ``path`` (compared after percent-decoding both) and
        ``since`` (received at or after, UTC epoch seconds), ``app_token`` and
        ``operation`` (an operationId). ``cursor``: what
        to pass as ``after`` for the next page, None when no entry is left."""
        out: list[dict] = []
        last = after
        for seq, entry in self._scan(method, path, since, after, app_token, operation):
            out.append(view(entry))
            last = seq
            if limit is not None and len(out) >= limit:
                return out, (last if self.store.journal_page(last, 1) else None)
        return out, None

    def stream(self, method: str | None = None, path: str | None = None, since: float | None = None,
               app_token: str | None = None, operation: str | None = None) -> Iterator[dict]:
        """Every matching entry as a dict, oldest first, read from the store
        a batch at a time (for an answer streamed without a ``limit``)."""
        for _seq, entry in self._scan(method, path, since, 0, app_token, operation):
            yield view(entry)

    def entries(self, method: str | None = None, path: str | None = None, since: float | None = None,
                app_token: str | None = None, operation: str | None = None) -> list[dict]:
        """Every matching entry as a dict (see :meth:`page`)."""
        return self.page(method, path, since, app_token=app_token, operation=operation)[0]

    def last_by_app(self) -> dict[str, dict]:
        """App token -> the newest entry of that app the journal holds (a
        dict as :meth:`entries` gives)."""
        last: dict[str, tuple] = {}
        for _seq, entry in self._scan(None, None, None, 0):
            if entry[6] is not None:
                last[entry[6]] = entry
        return {token: view(entry) for token, entry in last.items()}


def view(entry: tuple) -> dict:
    """A kept entry tuple as the control API shows it (docs/journal.md)."""
    (method, raw_path, query, status, received, clock_now, app_token, elapsed, operation, violations) = entry
    return {
        "method": method,
        "path": raw_path,
        "query": masked_query(query) if query else {},
        "status": status,
        "received_at": format_ms(received),
        "clock_now": format_instant(clock_now),
        "app_token": app_token,
        "duration_ms": round(elapsed * 1000, 3),
        "operation": operation,
        "violations": [dict(v) for v in violations],
    }


__all__ = ["FIELDS", "FILTERED", "MAX_FIELD_CHARS", "SECRET_NAME", "Journal", "clip", "masked_query", "view"]
