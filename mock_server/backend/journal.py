"""The request journal: the most recent requests to the API, kept in the store.

An entry is a tuple of JSON-able values, recorded by the HTTP layer after a
request is answered (``mock_server.http.journal`` decides what it holds and
what the request broke in the kit spec); :meth:`Journal.entries` turns the
kept tuples into the documents ``GET /__admin/requests`` answers. Query values
whose name looks secret read ``[Filtered]``; header values are never kept.
No HTTP here.
"""
from __future__ import annotations

import re
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


def masked_query(query: str) -> dict:
    """A raw query string as ``{name: [values]}``, secret-looking values
    replaced by ``[Filtered]``."""
    parsed = parse_qs(query, keep_blank_values=True)
    for name, values in parsed.items():
        if SECRET_NAME.search(name):
            parsed[name] = [FILTERED] * len(values)
    return parsed


class Journal:
    """The most recent ``size`` requests, oldest first, kept in ``store``.

    Entries are stored as tuples and turned into dicts only when read, so
    recording stays cheap. Thread-safe (the store is).
    """

    def __init__(self, store: Store, size: int):
        self.store = store
        self.size = max(0, int(size))
        over = store.journal_len() - self.size  # a resumed store: from a larger journal, or a trim left undone
        if over > 0:
            store.journal_drop_oldest(over)

    def record(self, method: str, path: str, query: str, status: int, received: float, clock_now: float,
               app_token: str | None, elapsed: float, operation: str | None, violations: list[dict]) -> None:
        """Keep one answered request: ``path`` as received (no query),
        ``query`` the raw query string, ``received`` wall-clock UTC epoch
        seconds, ``clock_now`` the fake's clock, ``elapsed`` seconds taken,
        ``operation`` its operationId (None when no operation matched),
        ``violations`` ``[{"location", "name", "message"}]``."""
        if not self.size:
            return
        store = self.store
        store.journal_append((method, path, query, status, received, clock_now, app_token, elapsed,
                              operation, violations))
        over = store.journal_len() - self.size
        if over > 0:
            store.journal_drop_oldest(over)

    def clear(self) -> int:
        """Forget every entry; returns how many there were."""
        return self.store.journal_clear()

    def __len__(self) -> int:
        return self.store.journal_len()

    def entries(self, method: str | None = None, path: str | None = None, since: float | None = None,
                app_token: str | None = None, operation: str | None = None) -> list[dict]:
        """Entries as dicts (docs/journal.md), oldest first, filtered by
        ``method`` (any case), ``path`` (compared after percent-decoding
        both), ``since`` (received at or after, UTC epoch seconds),
        ``app_token`` and ``operation`` (an operationId)."""
        method = method.upper() if method else None
        wanted = unquote(path) if path else None
        out = []
        for entry in self.store.journal_entries():
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
            out.append(_document(entry))
        return out

    def last_by_app(self) -> dict[str, dict]:
        """App token -> the newest entry of that app the journal holds (a
        dict as :meth:`entries` gives)."""
        last: dict[str, tuple] = {}
        for entry in self.store.journal_entries():
            if entry[6] is not None:
                last[entry[6]] = entry
        return {token: _document(entry) for token, entry in last.items()}


def _document(entry: tuple) -> dict:
    """A kept entry tuple as the document ``GET /__admin/requests`` shows."""
    (m, raw_path, query, status, received, clock_now, app_token, elapsed, operation, violations) = entry
    return {
        "method": m,
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


__all__ = ["FIELDS", "FILTERED", "Journal", "SECRET_NAME", "masked_query"]
