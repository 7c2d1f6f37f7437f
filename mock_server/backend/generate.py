"""Realistic job data: seeded structure, Faker for the human-looking parts.

Structural fields (ids, times, counters, statuses) come from our own seeded
``random.Random``, so they do not change with the Faker version; Faker only
supplies words for file names. The numbers (phase durations, rate, failure
share, types, bytes per row, history size) are a :class:`~.profile.JobModel`:
by default the assumed ones (docs/assumptions.md; the 1,200 rows/minute
throughput is documented), or a calibrated profile's. The
``bulk:jobs:<app token>:<uuid4>`` id shape is evidence (docs/domain.md).
"""
from __future__ import annotations

import math
import random
import re
import threading
from functools import lru_cache
from itertools import accumulate

from ..times import format_day
from .jobtypes import rows_per_minute
from .lifecycle import PHASES, processing_seconds
from .profile import DEFAULT_MODEL, JobModel, pick

#: Job types of the generated history (the default of the profile's
#: ``jobs.job_types``). Assumption: the vendor's list holds "imports and
#: exports" (docs/domain.md); the values are undocumented.
HISTORY_TYPES = tuple(DEFAULT_MODEL.job_types[0])

#: File formats and the bytes one row takes in each (the default of the
#: profile's ``jobs.row_bytes``; assumption, from the vendor's event schema:
#: a CSV row of ~5 columns, an NDJSON object per line).
FORMATS = dict(DEFAULT_MODEL.row_bytes)
#: Bytes of a CSV file's header line.
CSV_HEADER_BYTES = 64
#: Extensions a job's file name may have (``.jsonl`` is NDJSON too; exports
#: may also be ``.parquet`` or ``.avro``, their formats' extensions).
FILENAME_EXTENSIONS = (".csv", ".ndjson", ".jsonl", ".parquet", ".avro")

HISTORY_SECONDS = 14 * 24 * 3600
#: Row counts of generated jobs (the vendor's bulk limit is 10,000 rows).
MAX_GENERATED_ROWS = 10_000

_faker = None
_faker_lock = threading.Lock()


def _get_faker():
    """One shared Faker generator holding only the providers file names use
    (en_US person for last names, en_US company for formats and suffixes),
    built on first use: a full ``Faker("en_US")`` loads every provider, which
    doubles the start-up of a new app. Imported lazily so that the pytest
    plugin and the CLI start fast. Same seed, same names, on every run."""
    global _faker
    if _faker is None:
        with _faker_lock:
            if _faker is None:
                _faker = _minimal_faker()
    return _faker


def _minimal_faker():
    # deferred: Faker's import costs 0.05-0.2 s, paid on the first app, not at start-up
    from faker.generator import Generator
    from faker.providers.company.en_US import Provider as CompanyProvider
    from faker.providers.person.en_US import Provider as PersonProvider

    class LastNames(PersonProvider):
        """Faker's weighted en_US last names, drawn with cumulative weights
        computed once (Faker recomputes them on every draw: 80% of the cost
        of a 10,000-job history). Same names, same frequencies."""

        names = tuple(PersonProvider.last_names)
        cum_weights = tuple(accumulate(PersonProvider.last_names.values()))

        def last_name(self) -> str:
            return self.generator.random.choices(self.names, cum_weights=self.cum_weights)[0]

    generator = Generator()
    generator.add_provider(LastNames)
    generator.add_provider(CompanyProvider)
    return generator


def extension_of(filename: str) -> str:
    """The format extension of a file name (``.jsonl`` counts as NDJSON),
    ``.csv`` when it has no known one."""
    lower = filename.lower()
    if lower.endswith((".ndjson", ".jsonl")):
        return ".ndjson"
    return ".csv"


def plausible_file_size(total_rows: int, filename: str, rng: random.Random,
                        model: JobModel = DEFAULT_MODEL) -> int:
    """Bytes for ``total_rows`` rows in the file's format (a CSV header line
    included): rows times a per-file mean row size drawn from the model's
    ``row_bytes`` (a format it does not name: :data:`FORMATS`)."""
    ext = extension_of(filename)
    low, high = model.row_bytes.get(ext) or FORMATS[ext]
    header = CSV_HEADER_BYTES if ext == ".csv" else 0
    return header + total_rows * rng.randint(low, high)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "data"


def make_filename(job_type: str, start: int, rng: random.Random, model: JobModel = DEFAULT_MODEL) -> str:
    """A human-looking file name with a format extension (one of the
    model's ``row_bytes`` formats), e.g. ``acme-corp_users_2026-11-20.csv``
    or ``export_events_2026-11-20.ndjson``."""
    company, noun = _faker_words(rng.getrandbits(32))
    ext = rng.choice(tuple(model.row_bytes))
    day = format_day(start)
    if job_type == "import":
        return f"{company}_{noun}_{day}{ext}"
    return f"export_{noun}_{company}_{day}{ext}"


@lru_cache(maxsize=16384)
def _faker_words(seed: int) -> tuple[str, str]:
    """(company slug, noun) Faker draws for a 32-bit ``seed``. Cached: the
    same seed and key draw the same seeds again after every reset, and Faker
    is the slow part of creating an app's history."""
    faker = _get_faker()
    with _faker_lock:
        faker.seed_instance(seed)
        company = _slug(faker.company())
        noun = faker.random_element(("users", "companies", "events", "page-views", "accounts"))
    return company, noun


def default_durations(total_rows: int, rng: random.Random, model: JobModel = DEFAULT_MODEL,
                      rows_per_minute: float | None = None) -> dict[str, int]:
    """Phase -> whole seconds: the short phases drawn from the model's
    ranges (by default seconds to minutes; validating 1 s longer per 2,000
    rows), processing ``total_rows`` at ``rows_per_minute`` (default the
    model's: 1,200 rows/minute)."""
    rate = model.rows_per_minute if rows_per_minute is None else rows_per_minute
    return {
        "queued": rng.randint(*model.queued),
        "validating": rng.randint(*model.validating) + total_rows // 2000,
        "processing": processing_seconds(total_rows, rate),
        "pending_refresh": rng.randint(*model.pending_refresh),
    }


def failing_processing_seconds(total_rows: int, rng: random.Random, model: JobModel = DEFAULT_MODEL,
                               rows_per_minute: float | None = None) -> int:
    """How long a job that fails while processing runs before it fails:
    a fraction of the time processing would take (at ``rows_per_minute``,
    default the model's), at least 1 second."""
    rate = model.rows_per_minute if rows_per_minute is None else rows_per_minute
    return max(1, int(processing_seconds(total_rows, rate) * rng.uniform(0.1, 0.9)))


def generated_rows(rng: random.Random, low: int = 20, high: int = MAX_GENERATED_ROWS) -> int:
    """Row count, log-uniform between ``low`` and ``high``."""
    return int(math.exp(rng.uniform(math.log(low), math.log(high))))


def history_plan(count: int, first_seen: int, rng: random.Random, model: JobModel = DEFAULT_MODEL) -> list[dict]:
    """Job specs (internal form) for an app first seen at ``first_seen``.

    ``count`` jobs over the 14 days before it: at least two in flight at
    ``first_seen`` (when ``count`` >= 2), each reaching a terminal state within
    about ten minutes at speed 1 (at the default rate) and never of the
    import type (so a first upload is not refused as "import already in
    progress"); the model's failure share of the rest failed (one in ten),
    at the phases its ``fail_at`` shares say; the rest completed, their
    types by its ``job_types``. Each dict has ``type``, ``total_rows``,
    ``start``, ``durations``, ``outcome``, ``fail_at``.
    """
    plans: list[dict] = []
    in_flight = min(2, count)
    for i in range(in_flight):
        rows = generated_rows(rng, 200, 4000)
        durations = default_durations(rows, rng, model)
        # the first one before its rows are written, the second anywhere in its run
        total = sum(durations.values()) - (durations["pending_refresh"] if i == 0 else 0)
        start = first_seen - rng.randint(0, total - 1)
        plans.append({"type": "export", "total_rows": rows, "start": start,
                      "durations": durations, "outcome": "completed", "fail_at": None})
    rest = count - in_flight
    share = model.failure_share
    # rest / (1 / share): the default's share of 0.1 draws round(rest / 10), as it always did
    failures = set(rng.sample(range(rest), round(rest / (1 / share)))) if rest and share else set()
    for i in range(rest):
        rows = generated_rows(rng)
        durations = default_durations(rows, rng, model)
        outcome, fail_at = "completed", None
        if i in failures:
            outcome = "failed"
            fail_at = pick(rng, *model.fail_at)
            if fail_at == "processing":
                durations["processing"] = failing_processing_seconds(rows, rng, model)
        phases = PHASES[: PHASES.index(fail_at) + 1] if fail_at else PHASES
        total = sum(durations[p] for p in phases)
        start = first_seen - total - rng.randint(60, HISTORY_SECONDS - total)
        job_type = pick(rng, *model.job_types)
        rate = rows_per_minute(job_type, model.rows_per_minute)
        if rate != model.rows_per_minute and fail_at != "validating":  # a type of a documented rate
            was = durations["processing"]
            durations["processing"] = (processing_seconds(rows, rate) if fail_at is None
                                       else failing_processing_seconds(rows, rng, model, rate))
            start -= durations["processing"] - was  # it still ends where it was drawn to
        plans.append({"type": job_type, "total_rows": rows, "start": start,
                      "durations": durations, "outcome": outcome, "fail_at": fail_at})
    return plans
