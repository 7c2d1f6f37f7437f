"""Progress of a contract run on stderr: the phase and the requests sent.

On a terminal, one live line rewritten in place (``\\r``), at most ten
times a second, erased when the run ends (the report follows on stdout).
Anywhere else (a CI log, a pipe, a file), plain lines: one when a phase
starts, and one every 15 s within a long phase. Never the API key: the
line is made of the kit's own words, counts and the target's label (masked
by the runner). ``--quiet`` (pytest: ``--userpilot-quiet``) turns it off.

Standard library only.
"""
from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from typing import TextIO

PREFIX = "userpilot-mock contract"
#: Seconds between two plain lines within one phase; between two live redraws.
PLAIN_EVERY = 15.0
LIVE_EVERY = 0.1


class Progress:
    """Writes a run's progress to ``stream`` (default: stderr when the run
    starts). ``live``: rewrite one line in place (default: whether the
    stream is a terminal); ``enabled=False``: write nothing; ``clock``:
    monotonic seconds (tests pass their own)."""

    def __init__(self, stream: TextIO | None = None, *, enabled: bool = True, live: bool | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        if live is None:
            try:
                live = bool(self.stream.isatty())
            except (AttributeError, ValueError):
                live = False
        self.live = live
        self.clock = clock
        self.started = clock()
        self.name = ""
        self.requests = 0
        self._written = self.started  # when the last line was written (none yet: the start)
        self._width = 0          # length of the live line on screen

    def phase(self, name: str) -> None:
        """A phase starts (``examples``, ``lifecycle polls``, ...): always shown."""
        self.name = name
        self._show(force=True)

    def sent(self, requests: int) -> None:
        """``requests`` have been sent so far (shown at the pace above)."""
        self.requests = requests
        self._show(force=False)

    def close(self) -> None:
        """The run ended: erase the live line (plain lines stay)."""
        if self.enabled and self.live and self._width:
            self._write("\r" + " " * self._width + "\r")
            self._width = 0

    # ----------------------------------------------------------------- output
    def line(self) -> str:
        """The current progress line (without ``\\r`` or newline)."""
        seconds = self.clock() - self.started
        return f"{PREFIX}: {self.name or 'starting'}, {self.requests} request(s) sent, {seconds:.0f} s"

    def _show(self, *, force: bool) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if not force and now - self._written < (LIVE_EVERY if self.live else PLAIN_EVERY):
            return
        self._written = now
        text = self.line()
        if self.live:
            width = max(20, shutil.get_terminal_size((100, 20)).columns - 1)
            text = text[:width]
            self._write("\r" + text + " " * max(0, self._width - len(text)))
            self._width = len(text)
        else:
            self._write(text + "\n")

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: progress is not worth a failure
            self.enabled = False


__all__ = ["Progress"]
