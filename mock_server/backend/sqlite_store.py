"""The fake's state in one SQLite file, so that a restarted fake serves the
same state (``userpilot-mock serve --state FILE``).

:class:`SqliteStore` implements :class:`~.store.Store`: the generation, the
clock's snapshot, the apps, the jobs made after an app was first seen, the
fault rules and the journal live in the file; the materialised
:class:`~.models.App` objects live in memory (the *working set*) and are
written through. Every mutation is committed before the call that made it
returns (one transaction per outermost :meth:`SqliteStore.atomic` block), in
WAL mode with ``synchronous=NORMAL``: a ``kill -9`` loses nothing that was
answered (a power cut may lose the last commits; the file stays consistent).

Tables (JSON in TEXT columns; ``PRAGMA application_id`` is
:data:`APPLICATION_ID`, ``PRAGMA user_version`` is :data:`FORMAT_VERSION`)::

    meta(key TEXT PRIMARY KEY, value TEXT)        -- "generation", "clock": JSON
    apps(token TEXT PRIMARY KEY, first_seen INTEGER, links_base TEXT,
         used INTEGER)                            -- used: LRU rank, higher = more recent
    jobs(id INTEGER PRIMARY KEY, app_token TEXT, record TEXT)
                                                  -- made jobs, Job.to_record, in id order
    rules(pos INTEGER PRIMARY KEY, id TEXT UNIQUE, record TEXT)
                                                  -- FaultRule.to_record, oldest first
    journal(seq INTEGER PRIMARY KEY, entry TEXT)  -- entry tuples as JSON arrays

One store owns the file for its lifetime, by two locks taken at open: an
``flock`` on a descriptor of its own (POSIX; unlike SQLite's ``fcntl``
locks, it is not dropped when other code in the process opens and closes
the file), and the connection's ``locking_mode=EXCLUSIVE`` (which also
keeps out programs that ignore ``flock``, a ``sqlite3`` shell: stop the
server to inspect the file). A second userpilot-mock on the same file, or a
second store on it in the same process, fails at start with
:class:`StoreError`.

After a restart the apps are known by their rows only; each is rebuilt from
``(token, first_seen, links_base, made job records)`` through
:attr:`Store.rebuild` the first time a request names it. The LRU order is
kept in memory exactly and written to ``apps.used`` when an app is added,
changed or rebuilt, and in full at :meth:`SqliteStore.close`: after a
``kill -9`` it is the order of the last changes, good enough for forgetting
apps past ``max_apps``.

A shared store for several workers (Redis) would keep the same records but
not this process's working set as the truth: it would take no lifetime lock,
check an app's ``version`` (kept with it in the store) before serving a
cached one, keep the LRU order as a sorted set of last-use instants, the
journal as a capped list (``RPUSH`` + ``LTRIM``), the rules as a hash plus
their order, and make :meth:`atomic` a ``MULTI``/``EXEC`` or a Lua script.
Nothing here stands in its way: records are JSON, apps are rebuilt from
records, and the clock snapshot's anchors are epoch seconds any worker can
read. (What it would need beyond the store: :class:`~.faults.Faults` holds
its rules in memory once loaded.)

Errors: :class:`~.store.StoreError`, one line naming the file, for a file
that is a directory, unreadable or unwritable, locked by another process,
not an SQLite database, an SQLite database of another program, written by a
newer format, or corrupt; and for a write that fails later (a full disk). An
existing file is never emptied or replaced; a missing or 0-byte file is
initialised.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from .models import App, Job
from .store import Store, StoreError, event_size

try:
    import fcntl
except ImportError:  # Windows: SQLite's exclusive locking mode is the only lock
    fcntl = None  # type: ignore[assignment]

#: ``PRAGMA application_id`` of a state file: "UPMK".
APPLICATION_ID = 0x55504D4B
#: ``PRAGMA user_version`` this code writes, and the newest it reads.
FORMAT_VERSION = 2
#: The first bytes of every SQLite database file.
SQLITE_MAGIC = b"SQLite format 3\x00"

#: The events clients sent each app (added in format 2).
_EVENTS_SCHEMA = (
    "CREATE TABLE events (id INTEGER PRIMARY KEY, app_token TEXT NOT NULL, seq INTEGER NOT NULL, "
    "size INTEGER NOT NULL, record TEXT NOT NULL)",
    "CREATE INDEX events_by_app ON events (app_token, id)",
)
_SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE apps (token TEXT PRIMARY KEY, first_seen INTEGER NOT NULL, links_base TEXT NOT NULL, "
    "used INTEGER NOT NULL)",
    "CREATE TABLE jobs (id INTEGER PRIMARY KEY, app_token TEXT NOT NULL, record TEXT NOT NULL)",
    "CREATE INDEX jobs_by_app ON jobs (app_token, id)",
    "CREATE TABLE rules (pos INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, record TEXT NOT NULL)",
    "CREATE TABLE journal (seq INTEGER PRIMARY KEY, entry TEXT NOT NULL)",
    *_EVENTS_SCHEMA,
)
_TABLES = ("meta", "apps", "jobs", "rules", "journal", "events")

#: The working set's value for an app known by its rows, not yet rebuilt.
_UNBUILT = object()
#: Journal entries dropped before the file's copies are deleted (one delete each).
JOURNAL_TRIM_BATCH = 64


def _dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


class SqliteStore(Store):
    """A :class:`~.store.Store` in the SQLite file ``path`` (created when
    missing or 0 bytes; see the module docstring for the tables and the
    lock). ``max_apps``: apps kept before the least recently used is
    forgotten (its rows deleted; a file holding more, from a run with a
    larger limit, is trimmed at the next new app).

    ``resumed``: the file already held a generation when opened (a
    restart). Thread-safe: one connection under one re-entrant lock.
    Raises :class:`~.store.StoreError` when the file cannot be used.
    """

    def __init__(self, path: str | os.PathLike, max_apps: int):
        super().__init__(max_apps)
        self.path = os.path.abspath(os.fspath(path))
        self._lock = threading.RLock()
        self._depth = 0  # nesting of atomic() blocks (under the lock)
        self._epoch = 0  # grows at every begin(): rebuilds started before it are dropped
        self._apps: OrderedDict[str, object] = OrderedDict()  # token -> App | _UNBUILT, LRU first
        self._generation: dict | None = None
        self._clock: dict | None = None
        self._tick = 0  # last apps.used given out
        self._journal_first = 1  # seq of the oldest entry kept
        self._journal_next = 1  # seq of the next entry
        self._journal_kept = 1  # seq of the oldest entry still in the file (<= _journal_first)
        self._conn: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._check_file()
        created = not os.path.lexists(self.path)
        self._take_lock()
        try:
            self._open()
        except BaseException:
            if created and os.path.getsize(self.path) == 0:  # leave nothing behind that we made
                os.unlink(self.path)
            self._release_lock()
            raise
        self.resumed = self._generation is not None

    # -- opening ---------------------------------------------------------------
    def _error(self, what: str) -> StoreError:
        return StoreError(f"state file {self.path}: {what}")

    def _check_file(self) -> None:
        """Refuse, before SQLite touches it, a path that is a directory, a
        file this process cannot read and write, or a non-empty file that is
        not one of ours (a missing or 0-byte file passes: it is initialised)."""
        path = self.path
        if os.path.isdir(path):
            raise self._error("is a directory, not a file")
        if not os.path.lexists(path):
            parent = os.path.dirname(path)
            if not os.path.isdir(parent):
                raise self._error(f"cannot be created: no directory {parent}")
            return
        try:
            with open(path, "rb") as f:
                header = f.read(100)
        except OSError as exc:
            raise self._error(f"cannot be read ({exc.strerror or exc})") from None
        try:
            with open(path, "r+b"):
                pass
        except OSError as exc:
            raise self._error(f"cannot be written ({exc.strerror or exc})") from None
        if not header:
            return
        if not header.startswith(SQLITE_MAGIC[:len(header)]):
            raise self._error("is not a userpilot-mock state file (not an SQLite database); "
                              "name a new file, or move this one away")
        if len(header) < 100:
            raise self._error(f"is corrupt (truncated to {len(header)} bytes); move it away or restore a copy")
        application_id = int.from_bytes(header[68:72], "big")
        if application_id != APPLICATION_ID:
            raise self._error(f"is an SQLite database of another program (application_id {application_id}), "
                              "not a userpilot-mock state file; name a new file")

    def _take_lock(self) -> None:
        """Hold an exclusive ``flock`` on the file (created empty when
        missing) until :meth:`close`. Raises StoreError when another holds it."""
        if fcntl is None:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise self._error(f"cannot be opened ({exc.strerror or exc})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if isinstance(exc, BlockingIOError):
                raise self._error("is locked: another userpilot-mock (or another program) is using it") from None
            raise self._error(f"cannot be locked ({exc.strerror or exc})") from None
        self._lock_fd = fd

    def _release_lock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)  # releases the flock

    def _open(self) -> None:
        """Connect, take the lifetime lock, then create the tables or check
        and load them. Nothing is written to an existing file before it is
        known to be ours and readable."""
        try:
            conn = sqlite3.connect(self.path, timeout=0, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise self._error(f"cannot be opened ({exc})") from None
        try:
            conn.execute("PRAGMA locking_mode=EXCLUSIVE")
            try:
                conn.execute("BEGIN EXCLUSIVE")
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise self._error("is locked: another userpilot-mock (or another program) is using it") \
                        from None
                raise
            try:
                if os.path.getsize(self.path) == 0:  # under the lock: no other process is writing it
                    self._create(conn)
                else:
                    self._check(conn)
                    self._load(conn)
                conn.execute("COMMIT")
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            if conn.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() != "wal":
                raise self._error("cannot use write-ahead logging (is it on a network file system?)")
            conn.execute("PRAGMA synchronous=NORMAL")
        except StoreError:
            conn.close()
            raise
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise self._error(self._describe_db_error(exc)) from None
        self._conn = conn

    @staticmethod
    def _describe_db_error(exc: sqlite3.Error) -> str:
        text = str(exc)
        if "malformed" in text or "not a database" in text or "corrupt" in text:
            return f"is corrupt ({text}); move it away or restore a copy"
        if "readonly" in text or "read-only" in text:
            return f"cannot be written ({text})"
        if "unable to open" in text:
            return f"cannot be opened ({text}; is its directory writable?)"
        return f"cannot be used ({text})"

    def _create(self, conn: sqlite3.Connection) -> None:
        """A new state file: the tables and our marks (in the transaction
        that holds the lock, before WAL mode: so the file's own header
        carries them from the first commit on)."""
        conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version={FORMAT_VERSION}")
        for statement in _SCHEMA:
            conn.execute(statement)

    def _check(self, conn: sqlite3.Connection) -> None:
        """Refuse a file that is not ours, of a newer format, or corrupt."""
        application_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if application_id != APPLICATION_ID:
            raise self._error(f"is an SQLite database of another program (application_id {application_id}), "
                              "not a userpilot-mock state file; name a new file")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > FORMAT_VERSION:
            raise self._error(f"was written by a newer userpilot-mock (format {version}; "
                              f"this one reads up to {FORMAT_VERSION})")
        if version < 1:
            raise self._error(f"is corrupt (format {version}); move it away or restore a copy")
        if version == 1:  # format 1 had no events table: add it (nothing else changed)
            for statement in _EVENTS_SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={FORMAT_VERSION}")
        problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise self._error(f"is corrupt ({problems[0]}); move it away or restore a copy")
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = [t for t in _TABLES if t not in tables]
        if missing:
            raise self._error(f"is corrupt (no table {', '.join(missing)}); move it away or restore a copy")

    def _load(self, conn: sqlite3.Connection) -> None:
        """Read what the store keeps in memory: the generation, the clock,
        the app tokens in LRU order, the journal's bounds."""
        try:
            meta = {key: json.loads(value) for key, value in conn.execute("SELECT key, value FROM meta")}
        except ValueError as exc:
            raise self._error(f"is corrupt (meta: {exc}); move it away or restore a copy") from None
        self._generation = meta.get("generation")
        self._clock = meta.get("clock")
        for token, used in conn.execute("SELECT token, used FROM apps ORDER BY used, token"):
            self._apps[token] = _UNBUILT
            self._tick = max(self._tick, used)
        first, last = conn.execute("SELECT MIN(seq), MAX(seq) FROM journal").fetchone()
        if last is not None:
            count = conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
            if count != last - first + 1:  # contiguous by construction
                raise self._error("is corrupt (journal entries missing); move it away or restore a copy")
            self._journal_first = self._journal_kept = first
            self._journal_next = last + 1

    # -- writing -----------------------------------------------------------------
    def _run(self, sql: str, params=()) -> sqlite3.Cursor:
        """Execute one reading statement (under the lock), as StoreError on failure."""
        conn = self._conn
        if conn is None:
            raise self._error("is closed")
        try:
            return conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise self._error(self._describe_db_error(exc)) from None

    def _write(self, sql: str, params=()) -> None:
        """Execute one writing statement: inside an atomic block, in the
        block's transaction (begun here when it is the first write);
        outside, as its own transaction (SQLite's autocommit)."""
        with self._lock:
            conn = self._conn
            if conn is None:
                raise self._error("is closed")
            try:
                if self._depth and not conn.in_transaction:
                    conn.execute("BEGIN IMMEDIATE")
                conn.execute(sql, params)
            except sqlite3.Error as exc:
                raise self._error(self._describe_db_error(exc)) from None

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """A block no other change interleaves with (re-entrant); what it
        wrote is committed when the outermost block ends, even when it ends
        by an exception (the working set already shows those changes).
        Raises StoreError when the commit fails (then it is rolled back)."""
        with self._lock:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                conn = self._conn
                if self._depth == 0 and conn is not None and conn.in_transaction:
                    try:
                        conn.execute("COMMIT")
                    except sqlite3.Error as exc:
                        try:
                            conn.execute("ROLLBACK")
                        except sqlite3.Error:
                            pass
                        raise self._error(self._describe_db_error(exc)) from None

    def _touch(self, token: str) -> None:
        """Write ``token``'s place in the LRU order (under the lock)."""
        self._tick += 1
        self._write("UPDATE apps SET used = ? WHERE token = ?", (self._tick, token))

    # -- generation and clock ----------------------------------------------------
    def generation(self) -> dict | None:
        return self._generation

    def begin(self, generation: dict, *, apps_only: bool = False) -> None:
        record = dict(generation)
        text = _dumps(record)
        with self.atomic():
            self._write("DELETE FROM jobs")
            self._write("DELETE FROM apps")
            self._write("DELETE FROM events")
            if not apps_only:
                self._write("DELETE FROM rules")
                self._write("DELETE FROM journal")
                self._journal_first = self._journal_kept = self._journal_next
            self._write("INSERT INTO meta (key, value) VALUES ('generation', ?) "
                      "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (text,))
            self._generation = record
            self._apps = OrderedDict()
            self._epoch += 1

    def clock(self) -> dict | None:
        return self._clock

    def save_clock(self, snapshot: dict) -> None:
        record = dict(snapshot)
        text = _dumps(record)
        with self._lock:
            self._write("INSERT INTO meta (key, value) VALUES ('clock', ?) "
                      "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (text,))
            self._clock = record

    # -- apps and jobs -------------------------------------------------------------
    def app(self, app_token: str) -> App | None:
        apps = self._apps
        app = apps.get(app_token)
        if app is None:
            return None
        try:
            apps.move_to_end(app_token)
        except KeyError:  # forgotten by another thread meanwhile
            pass
        if app is _UNBUILT:
            return self._materialise(app_token)
        return app  # type: ignore[return-value]

    def _materialise(self, app_token: str) -> App | None:
        """Rebuild an app known by its rows (outside the lock: a big history
        does not hold up other apps); the first rebuild installed wins."""
        with self._lock:
            held = self._apps.get(app_token)
            if held is not _UNBUILT:
                return held  # type: ignore[return-value]
            epoch = self._epoch
            row = self._run("SELECT first_seen, links_base FROM apps WHERE token = ?", (app_token,)).fetchone()
            texts = [r[0] for r in self._run("SELECT record FROM jobs WHERE app_token = ? ORDER BY id",
                                             (app_token,))]
        if row is None:
            raise self._error(f"is corrupt (app {app_token!r} has no row); move it away or restore a copy")
        try:
            records = [json.loads(text) for text in texts]
            if self.rebuild is None:
                raise RuntimeError("SqliteStore.rebuild is not set (the Backend sets it)")
            app = self.rebuild(app_token, int(row[0]), row[1], records)
        except (ValueError, KeyError, TypeError) as exc:
            raise self._error(f"is corrupt (a job of app {app_token!r}: {exc!r}); "
                              "move it away or restore a copy") from None
        with self._lock:
            held = self._apps.get(app_token)
            if held is _UNBUILT and self._epoch == epoch:
                self._apps[app_token] = app
                self._touch(app_token)
                return app
            return held if held is not _UNBUILT else None  # type: ignore[return-value]

    def add_app(self, app: App) -> App:
        token = app.app_token
        with self._lock:
            held = self._apps.get(token)
            if held is None:
                with self.atomic():
                    self._tick += 1
                    self._write("INSERT INTO apps (token, first_seen, links_base, used) VALUES (?, ?, ?, ?)",
                              (token, int(app.first_seen), app.links_base, self._tick))
                    self._apps[token] = app
                    self._forget_beyond(self.max_apps)
                return app
            self._apps.move_to_end(token)
        if held is _UNBUILT:
            return self._materialise(token) or self.add_app(app)
        return held  # type: ignore[return-value]

    def _forget_beyond(self, count: int) -> list[str]:
        """Forget least recently used apps (and their rows) until at most
        ``count`` remain; returns their tokens (inside an atomic block)."""
        gone = []
        while len(self._apps) > max(1, count):
            token, _app = self._apps.popitem(last=False)
            self._write("DELETE FROM jobs WHERE app_token = ?", (token,))
            self._write("DELETE FROM apps WHERE token = ?", (token,))
            self._write("DELETE FROM events WHERE app_token = ?", (token,))
            gone.append(token)
        return gone

    def add_job(self, app: App, job: Job, *, made: bool = True) -> None:
        with self._lock:
            if made and self._apps.get(app.app_token) is app:  # a forgotten app's jobs are not kept
                text = _dumps(job.to_record())
                with self.atomic():
                    self._write("INSERT INTO jobs (app_token, record) VALUES (?, ?)", (app.app_token, text))
                    self._touch(app.app_token)
            app.add(job)

    def add_events(self, app_token: str, events: list[dict], *, max_events: int, max_bytes: int) -> None:
        with self._lock, self.atomic():
            seq = self._run("SELECT COALESCE(MAX(seq), 0) FROM events WHERE app_token = ?",
                            (app_token,)).fetchone()[0]
            for event in events:
                seq += 1
                record = dict(event, seq=seq)
                self._write("INSERT INTO events (app_token, seq, size, record) VALUES (?, ?, ?, ?)",
                            (app_token, seq, event_size(record), _dumps(record)))
            rows = self._run("SELECT id, size FROM events WHERE app_token = ? ORDER BY id", (app_token,)).fetchall()
            total = sum(size for _id, size in rows)
            drop = 0
            while drop < len(rows) and (len(rows) - drop > max_events or total > max_bytes):
                total -= rows[drop][1]
                drop += 1
            if drop:
                self._write("DELETE FROM events WHERE app_token = ? AND id <= ?", (app_token, rows[drop - 1][0]))

    def events(self, app_token: str) -> list[dict]:
        with self._lock:
            return [json.loads(text) for (text,) in
                    self._run("SELECT record FROM events WHERE app_token = ? ORDER BY id", (app_token,))]

    def apps(self) -> list[App]:
        with self._lock:
            tokens = list(self._apps)
        out: list[App] = []
        for token in tokens:
            held = self._apps.get(token)
            app = self._materialise(token) if held is _UNBUILT else held
            if isinstance(app, App):
                out.append(app)
        return out

    def app_count(self) -> int:
        return len(self._apps)

    # -- fault rules -----------------------------------------------------------------
    def rules(self) -> list[dict]:
        with self._lock:
            texts = [r[0] for r in self._run("SELECT record FROM rules ORDER BY pos")]
        try:
            return [json.loads(text) for text in texts]
        except ValueError as exc:
            raise self._error(f"is corrupt (a fault rule: {exc}); move it away or restore a copy") from None

    def save_rule(self, record: dict) -> None:
        text = _dumps(record)
        self._write("INSERT INTO rules (id, record) VALUES (?, ?) "
                      "ON CONFLICT (id) DO UPDATE SET record = excluded.record", (record["id"], text))

    def delete_rules(self, rule_ids: list[str] | None = None) -> None:
        with self.atomic():
            if rule_ids is None:
                self._write("DELETE FROM rules")
            for rule_id in rule_ids or ():
                self._write("DELETE FROM rules WHERE id = ?", (rule_id,))

    # -- the journal -------------------------------------------------------------------
    def journal_append(self, entry: tuple) -> None:
        text = _dumps(entry)
        with self._lock:
            self._write("INSERT INTO journal (seq, entry) VALUES (?, ?)", (self._journal_next, text))
            self._journal_next += 1

    def journal_entries(self) -> list[tuple]:
        with self._lock:
            texts = [r[0] for r in self._run("SELECT entry FROM journal WHERE seq >= ? ORDER BY seq",
                                             (self._journal_first,))]
        try:
            return [tuple(json.loads(text)) for text in texts]
        except ValueError as exc:
            raise self._error(f"is corrupt (a journal entry: {exc}); move it away or restore a copy") from None

    def journal_drop_oldest(self, count: int) -> None:
        """Forget the ``count`` oldest entries: at once for the journal; in
        the file, by batches of :data:`JOURNAL_TRIM_BATCH` (one delete per
        batch instead of one per request). The few entries a ``kill -9``
        leaves behind are trimmed by the next :class:`~.journal.Journal`."""
        with self._lock:
            self._journal_first = min(self._journal_first + max(0, count), self._journal_next)
            if self._journal_first - self._journal_kept >= JOURNAL_TRIM_BATCH:
                self._trim_journal()

    def _trim_journal(self) -> None:
        if self._journal_kept < self._journal_first:
            self._write("DELETE FROM journal WHERE seq < ?", (self._journal_first,))
            self._journal_kept = self._journal_first

    def journal_clear(self) -> int:
        with self._lock:
            count = self._journal_next - self._journal_first
            self._write("DELETE FROM journal")
            self._journal_first = self._journal_kept = self._journal_next
            return count

    def journal_len(self) -> int:
        return self._journal_next - self._journal_first

    # -- lifetime ------------------------------------------------------------------------
    def describe(self) -> str:
        return self.path

    def close(self) -> None:
        """Write the exact LRU order, then close the file (checkpointing the
        WAL into it) and release the lock. Idempotent."""
        with self._lock:
            conn, tokens = self._conn, list(self._apps)
            if conn is None:
                return
            try:
                with self.atomic():
                    self._trim_journal()
                    for rank, token in enumerate(tokens, 1):
                        self._write("UPDATE apps SET used = ? WHERE token = ?", (rank, token))
            finally:
                self._conn = None
                conn.close()
                self._release_lock()


def open_store(path: str | os.PathLike, max_apps: int) -> SqliteStore:
    """The state file ``path`` as a store (see :class:`SqliteStore`), holding
    at most ``max_apps`` apps. Raises :class:`~.store.StoreError` (one line
    naming the file) when it cannot be used."""
    return SqliteStore(path, max_apps)


__all__ = ["APPLICATION_ID", "FORMAT_VERSION", "SqliteStore", "open_store"]
