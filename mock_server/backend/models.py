"""Jobs and apps, the entities of the fake (no HTTP here).

A :class:`Job` is immutable once made but for the render cache the HTTP layer
keeps on it; its status is computed from its :class:`~.lifecycle.Timeline`
and an instant when read. An :class:`App` is one Userpilot app (one API key):
its token and its jobs. Both turn into plain records (``to_record`` /
``from_record``), which is how a store that persists keeps them.
"""
from __future__ import annotations

from ..times import format_time
from .lifecycle import ROWS_PER_MINUTE, STATUSES, Timeline
from .profile import DEFAULT_FORMS, Forms

#: The job type of an import (the createImport operation); the others are
#: listed in :data:`mock_server.backend.generate.JOB_TYPES`.
IMPORT_TYPE = "import"


class Job:
    """One background job.

    ``start`` and every instant in ``timeline`` are whole UTC epoch seconds;
    ``file_size`` is bytes; ``seq`` orders the jobs of one app (1, 2, ... in
    the order they were made; ties of start time go to the later made).
    ``extra``: family data the public answers do not show (an import's
    validation errors), a JSON-able dict or None. ``cache`` is free for the
    HTTP layer (rendered forms).
    """

    __slots__ = ("job_id", "app_token", "type", "filename", "file_size", "total_rows",
                 "timeline", "seq", "links", "cache", "extra")

    def __init__(self, job_id: str, app_token: str, type: str, filename: str, file_size: int,
                 total_rows: int, timeline: Timeline, seq: int, links: str, extra: dict | None = None):
        self.job_id = job_id
        self.app_token = app_token
        self.type = type
        self.filename = filename
        self.file_size = file_size
        self.total_rows = total_rows
        self.timeline = timeline
        self.seq = seq
        self.links = links
        self.cache: tuple | None = None
        self.extra = extra

    def view(self, t: int, detail: bool = False, forms: Forms = DEFAULT_FORMS) -> dict:
        """The job as the API shows it at instant ``t``: keys sorted as the
        real API's encoder sorts them; times in the ``forms``' format (by
        default whole-second ISO 8601 ``Z``); ``end_time`` null while running
        (or absent, as ``forms`` say); ``completed_rows`` only in the
        single-job form (``detail``)."""
        tl = self.timeline
        end = tl.end_time(t)
        digits, zone = forms.fraction_digits, forms.zone
        out: dict[str, object] = {}
        if detail:
            out["completed_rows"] = tl.completed_rows(t)
        out["elapsed_time"] = tl.elapsed(t)
        if end is not None or not forms.end_time_absent:
            out["end_time"] = format_time(end, digits, zone) if end is not None else None
        out.update({
            "file_size": self.file_size,
            "filename": self.filename,
            "job_id": self.job_id,
            "links": self.links,
            "start_time": format_time(tl.start, digits, zone),
            "status": tl.status(t),
            "total_rows": self.total_rows,
            "type": self.type,
        })
        return out

    def to_record(self) -> dict:
        """The job as a JSON-able dict (see :meth:`from_record`)."""
        tl = self.timeline
        return {"job_id": self.job_id, "type": self.type, "filename": self.filename,
                "file_size": self.file_size, "total_rows": self.total_rows, "seq": self.seq,
                "links": self.links, "starts": list(tl.starts), "end": tl.end, "outcome": tl.outcome,
                "rows_per_minute": tl.rows_per_minute, "extra": self.extra}

    @classmethod
    def from_record(cls, app_token: str, record: dict) -> Job:
        """The job a :meth:`to_record` dict describes, in app ``app_token``.
        Raises KeyError / TypeError for a record of another shape (a record
        without ``rows_per_minute``, written before profiles, has the default)."""
        timeline = Timeline(tuple(int(t) for t in record["starts"]), int(record["end"]), record["outcome"],
                            int(record["total_rows"]), record.get("rows_per_minute", ROWS_PER_MINUTE))
        return cls(record["job_id"], app_token, record["type"], record["filename"], int(record["file_size"]),
                   int(record["total_rows"]), timeline, int(record["seq"]), record["links"], record.get("extra"))


class App:
    """One Userpilot app: its token and its jobs.

    ``first_seen``: the instant (whole UTC epoch seconds) its key was first
    used; the generated history is laid out before it. ``links_base``: the
    base URL of its jobs' ``links`` (the public URL the client reached). ``version`` grows on
    every change of the job set; ``settled_at`` is the instant after which no
    job of the app changes (the latest job end); ``created``: how many jobs
    were made after the app (imports, control API), which seeds the next
    one's random draws. ``cache`` is free for the HTTP layer.
    """

    __slots__ = ("app_token", "jobs", "by_id", "version", "settled_at", "first_seen", "links_base", "created",
                 "cache", "_sorted")

    def __init__(self, app_token: str, first_seen: int, links_base: str):
        self.app_token = app_token
        self.links_base = links_base
        self.jobs: list[Job] = []
        self.by_id: dict[str, Job] = {}
        self.version = 0
        self.settled_at = first_seen
        self.first_seen = first_seen
        self.created = 0
        self.cache: tuple | None = None
        self._sorted: list[Job] | None = None

    def add(self, job: Job) -> None:
        """Add ``job`` (its ``job_id`` not already in the app)."""
        self.jobs.append(job)
        self.by_id[job.job_id] = job
        self.version += 1
        self.settled_at = max(self.settled_at, job.timeline.end)
        self._sorted = None

    def newest_first(self) -> list[Job]:
        """Jobs, newest start first (ties: the later made first)."""
        if self._sorted is None:
            self._sorted = sorted(self.jobs, key=lambda j: (j.timeline.start, j.seq), reverse=True)
        return self._sorted

    def running(self, t: int, job_types: tuple[str, ...]) -> Job | None:
        """The newest job of one of ``job_types`` that is not terminal at
        ``t``, None when there is none (the one-at-a-time rules)."""
        for job in self.newest_first():
            if job.type in job_types and not job.timeline.is_terminal(t):
                return job
        return None

    def status_counts(self, t: int) -> dict[str, int]:
        """Status -> how many of the app's jobs are in it at instant ``t``
        (statuses no job is in left out), in lifecycle order."""
        counts = dict.fromkeys(STATUSES, 0)
        for job in self.jobs:
            counts[job.timeline.status(t)] += 1
        return {status: n for status, n in counts.items() if n}

    def __len__(self) -> int:
        return len(self.jobs)


__all__ = ["IMPORT_TYPE", "App", "Job"]
