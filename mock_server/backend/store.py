"""Where one fake's state lives: the store interface, and the in-memory store.

The backend keeps everything that must outlive a request here, and nowhere
else: the *generation* (what the last reset set: seed, jobs per app,
scenario), the clock's snapshot, the apps and their jobs, the fault rules and
the request journal. The lifecycle and the HTTP layer never see the store;
they see :class:`~mock_server.backend.core.Backend`.

:class:`MemoryStore` keeps it all in this process, as fast as a dict. The
SQLite store (:mod:`.sqlite_store`) keeps the same in a file, so that a
restarted fake serves the same state. A shared store for several workers
(Redis) would implement the same interface; what it must do differently is
said where it matters:

- every compound change runs inside :meth:`Store.atomic` (a lock here, a
  transaction or a distributed lock there);
- apps are read through :meth:`Store.app` on every request, never held
  across requests, so that a store shared by several processes can hand out
  an app another process changed (its ``version`` tells a cache it is stale);
- jobs generated from the seed are never stored, only the jobs made after an
  app was first seen (:meth:`Store.add_job` with ``made=True``): an app is
  rebuilt from its token, first-seen instant, links base and those jobs
  (:attr:`Store.rebuild`), whichever process asks for it;
- the events clients send an app (bulk identify, the real-time calls, the rows
  of imports: :meth:`Store.add_events`) are kept per app, bounded, oldest
  dropped first, and forgotten with the app.

Records are plain JSON-able values (dicts, lists, numbers, strings), so that
any store can keep them.
"""
from __future__ import annotations

import json
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .models import App, Job

#: ``rebuild(app_token, first_seen, links_base, made_jobs) -> App``: the
#: backend's recipe for an app a store knows only by its records (the seeded
#: history plus the jobs made later, ``Job.to_record`` dicts in order).
Rebuild = Callable[[str, int, str, list], App]


class Store:
    """The interface every store implements (see the module docstring).

    ``max_apps``: apps kept before the least recently used is forgotten
    (with its jobs). Methods raise nothing but what the storage itself
    raises (a store that persists: :class:`StoreError` on a file problem).
    """

    #: Set by the backend before first use (see :data:`Rebuild`).
    rebuild: Rebuild | None = None

    def __init__(self, max_apps: int):
        self.max_apps = max_apps

    # -- atomicity ---------------------------------------------------------
    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Run the block as one change that no other request interleaves
        with (re-entrant)."""
        raise NotImplementedError
        yield  # pragma: no cover

    # -- generation and clock ----------------------------------------------
    def generation(self) -> dict | None:
        """The generation in force: ``{"seed", "jobs", "scenario", "number"}``
        (``scenario``: None, ``{"bundled": name}`` or ``{"document": {...}}``),
        None for a new store."""
        raise NotImplementedError

    def begin(self, generation: dict, *, apps_only: bool = False) -> None:
        """Start a new generation (a reset): forget every app, job, fault
        rule and journal entry, then keep ``generation``. ``apps_only``:
        forget the apps and their jobs only (a scenario loaded)."""
        raise NotImplementedError

    def clock(self) -> dict | None:
        """The clock's last snapshot (:meth:`~.clock.Clock.snapshot`), None
        for a new store."""
        raise NotImplementedError

    def save_clock(self, snapshot: dict) -> None:
        """Keep the clock's snapshot (after every change of the clock)."""
        raise NotImplementedError

    # -- apps and jobs -------------------------------------------------------
    def app(self, app_token: str) -> App | None:
        """The app named ``app_token`` (now the most recently used), None
        when the store holds none."""
        raise NotImplementedError

    def add_app(self, app: App) -> App:
        """Keep a new app (with its generated jobs) and return the one now
        held under its token: ``app``, or the one another request added
        first. Forgets the least recently used apps past ``max_apps``."""
        raise NotImplementedError

    def add_job(self, app: App, job: Job, *, made: bool = True) -> None:
        """Add ``job`` to ``app`` (held by this store). ``made``: a job made
        after the app was first seen (kept as a record; generated ones are
        rebuilt from the seed)."""
        raise NotImplementedError

    def apps(self) -> list[App]:
        """Every app held, least recently used first (a snapshot)."""
        raise NotImplementedError

    def app_count(self) -> int:
        raise NotImplementedError

    # -- events sent to an app -----------------------------------------------
    def add_events(self, app_token: str, events: list[dict], *, max_events: int, max_bytes: int) -> None:
        """Keep ``events`` (JSON-able dicts, in order) for the app
        ``app_token``, each given a ``"seq"`` key: 1, 2, ... per app, never
        reused while the app is held. Then drop the app's oldest events until
        at most ``max_events`` remain and their JSON encodings
        (``json.dumps(event)``, compact) total at most ``max_bytes``. Events
        are forgotten with their app (past ``max_apps``, or by :meth:`begin`)."""
        raise NotImplementedError

    def events(self, app_token: str) -> list[dict]:
        """The app's kept events, oldest first, each with its ``"seq"`` (a
        snapshot; empty for an app with none)."""
        raise NotImplementedError

    # -- fault rules ---------------------------------------------------------
    def rules(self) -> list[dict]:
        """Every fault rule record (``FaultRule.to_record``), oldest first."""
        raise NotImplementedError

    def save_rule(self, record: dict) -> None:
        """Add a fault rule record, or replace the one with its ``id``."""
        raise NotImplementedError

    def delete_rules(self, rule_ids: list[str] | None = None) -> None:
        """Forget these fault rules (None: all)."""
        raise NotImplementedError

    # -- the journal ---------------------------------------------------------
    def journal_append(self, entry: tuple) -> None:
        """Keep one journal entry (a tuple of JSON-able values)."""
        raise NotImplementedError

    def journal_entries(self) -> list[tuple]:
        """Every journal entry kept, oldest first (a snapshot)."""
        raise NotImplementedError

    def journal_drop_oldest(self, count: int) -> None:
        """Forget the ``count`` oldest journal entries."""
        raise NotImplementedError

    def journal_clear(self) -> int:
        """Forget every journal entry; returns how many there were."""
        raise NotImplementedError

    def journal_len(self) -> int:
        raise NotImplementedError

    # -- lifetime --------------------------------------------------------------
    def describe(self) -> str:
        """Where the state lives, for people (``memory``, a file path)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the store holds (files). Idempotent."""


class StoreError(Exception):
    """A store cannot be used (a file unreadable, locked, foreign or newer):
    the message is one line naming the file and what is wrong."""


class MemoryStore(Store):
    """All state in this process's memory (the default): dicts and deques
    under one re-entrant lock. Nothing survives the process."""

    def __init__(self, max_apps: int):
        super().__init__(max_apps)
        self._lock = threading.RLock()
        self._generation: dict | None = None
        self._clock: dict | None = None
        self._apps: OrderedDict[str, App] = OrderedDict()
        self._rules: OrderedDict[str, dict] = OrderedDict()
        self._journal: deque = deque()
        #: app token -> [deque of (size, event), total size, last seq]
        self._events: dict[str, list] = {}

    @contextmanager
    def atomic(self) -> Iterator[None]:
        with self._lock:
            yield

    def generation(self) -> dict | None:
        return self._generation

    def begin(self, generation: dict, *, apps_only: bool = False) -> None:
        with self._lock:
            self._generation = dict(generation)
            self._apps = OrderedDict()
            self._events = {}
            if not apps_only:
                self._rules.clear()
                self._journal.clear()

    def clock(self) -> dict | None:
        return self._clock

    def save_clock(self, snapshot: dict) -> None:
        self._clock = dict(snapshot)

    def app(self, app_token: str) -> App | None:
        apps = self._apps
        app = apps.get(app_token)
        if app is not None:
            try:
                apps.move_to_end(app_token)
            except KeyError:  # forgotten by another thread meanwhile
                pass
        return app

    def add_app(self, app: App) -> App:
        with self._lock:
            held = self._apps.get(app.app_token)
            if held is not None:
                self._apps.move_to_end(app.app_token)
                return held
            self._apps[app.app_token] = app
            self._forget_beyond(self.max_apps)
            return app

    def _forget_beyond(self, count: int) -> list[str]:
        """Forget least recently used apps until at most ``count`` remain;
        returns their tokens."""
        gone = []
        while len(self._apps) > max(1, count):
            token, _app = self._apps.popitem(last=False)
            self._events.pop(token, None)
            gone.append(token)
        return gone

    def add_job(self, app: App, job: Job, *, made: bool = True) -> None:
        with self._lock:
            app.add(job)

    def apps(self) -> list[App]:
        with self._lock:
            return list(self._apps.values())

    def app_count(self) -> int:
        return len(self._apps)

    def add_events(self, app_token: str, events: list[dict], *, max_events: int, max_bytes: int) -> None:
        with self._lock:
            held = self._events.get(app_token)
            if held is None:
                held = self._events[app_token] = [deque(), 0, 0]
            kept, size, seq = held
            for event in events:
                seq += 1
                record = dict(event, seq=seq)
                length = event_size(record)
                kept.append((length, record))
                size += length
            while kept and (len(kept) > max_events or size > max_bytes):
                size -= kept.popleft()[0]
            held[1], held[2] = size, seq

    def events(self, app_token: str) -> list[dict]:
        with self._lock:
            held = self._events.get(app_token)
            return [record for _size, record in held[0]] if held else []

    def rules(self) -> list[dict]:
        with self._lock:
            return [dict(r) for r in self._rules.values()]

    def save_rule(self, record: dict) -> None:
        with self._lock:
            self._rules[record["id"]] = dict(record)

    def delete_rules(self, rule_ids: list[str] | None = None) -> None:
        with self._lock:
            if rule_ids is None:
                self._rules.clear()
            for rule_id in rule_ids or ():
                self._rules.pop(rule_id, None)

    def journal_append(self, entry: tuple) -> None:
        self._journal.append(entry)

    def journal_entries(self) -> list[tuple]:
        with self._lock:
            return list(self._journal)

    def journal_drop_oldest(self, count: int) -> None:
        journal = self._journal
        for _ in range(min(count, len(journal))):
            journal.popleft()

    def journal_clear(self) -> int:
        with self._lock:
            count = len(self._journal)
            self._journal.clear()
            return count

    def journal_len(self) -> int:
        return len(self._journal)

    def describe(self) -> str:
        return "memory"


_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def event_size(record: dict) -> int:
    """The size an event counts for against a store's ``max_bytes``: the
    characters of its compact JSON."""
    return len(_compact(record))


__all__ = ["MemoryStore", "Rebuild", "Store", "StoreError"]
