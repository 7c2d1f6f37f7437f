"""Expensive set-up done once per test run, however many xdist workers ask.

pytest-xdist's ``xdist_group`` marker cannot promise that: with pytest 9 the
node id suffix it relies on (``item._nodeid``) no longer changes the node id,
so ``--dist loadgroup`` spreads a group over every worker and each one builds
its own copy. This helper follows pytest-xdist's documented pattern instead
("Making session-scoped fixtures execute only once"): the first worker to
arrive takes a lock on a file in the run's shared temporary folder (the
parent of each worker's ``basetemp``), does the work and leaves a "done"
marker; the others wait on the lock and reuse the result.

Every build appends a line to ``<name>.builds`` beside its folder, so a test
can check that it happened once.
"""
from __future__ import annotations

import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The temporary folder every process of this run sees: the run's
    ``basetemp`` (under xdist, the parent of each worker's own)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if need be) for the block;
    another process asking for it waits until the block ends."""
    with open(path, "a+b") as handle:
        if sys.platform == "win32":  # pragma: no cover - the kit's CI is POSIX
            import msvcrt
            while True:
                try:
                    msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:  # LK_LOCK gives up after 10 s; keep waiting
                    time.sleep(0.1)
            try:
                yield
            finally:
                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def once_per_run(tmp_path_factory: pytest.TempPathFactory, name: str,
                 build: Callable[[Path], object]) -> Path:
    """Call ``build(folder)`` once per test run and return ``folder``
    (``<shared root>/<name>``), shared by every xdist worker.

    The first caller builds while holding ``<name>.lock``; later callers wait
    for it and get the same folder. A build that raised is not retried: the
    later callers fail at once with its traceback, instead of each spending
    the same minutes on the same error. (A ``pytest.skip`` inside ``build`` is
    not recorded as a failure: the next caller tries again.)
    """
    root = shared_root(tmp_path_factory)
    folder, done, failed = root / name, root / f"{name}.done", root / f"{name}.failed"
    with file_lock(root / f"{name}.lock"):
        if failed.exists():
            raise RuntimeError(f"{name}: the one build of this run failed (in another worker):\n"
                               + failed.read_text(encoding="utf-8"))
        if not done.exists():
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            try:
                build(folder)
            except Exception:
                failed.write_text(traceback.format_exc(), encoding="utf-8")
                raise
            worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
            with open(root / f"{name}.builds", "a", encoding="utf-8") as log:
                log.write(f"{worker} {os.getpid()}\n")
            done.write_text(worker, encoding="utf-8")
    return folder
