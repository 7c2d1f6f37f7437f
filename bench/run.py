"""``python -m bench``: run every benchmark, print the table, write
``bench/results/latest.json`` and ``latest.md``.

Sections (``--only`` picks some): ``throughput`` (wrk against the fake,
its baselines and Prism), ``startup``, ``memory``, ``pertest``,
``contract``, ``record`` (the recording proxy's overhead per exchange). ``--quick`` is a short smoke run (1 s loads, one round, small
memory test) written to ``quick.json``/``quick.md`` instead.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import contract, memory, pertest, prism, record, report, startup, throughput, wrk
from .procs import ROOT

SECTIONS = ("throughput", "startup", "memory", "pertest", "contract", "record")

ANALYSIS = """\
Measured with cProfile and call counts on the WSGI app in-process, instruction counts under
valgrind (callgrind: repeatable on a busy machine), strace on a server under wrk, and
`python -X importtime` for start-up. The fake's own work per cached List Jobs is a few tens of
µs (in-process ~20% more instructions than the one-route app: authentication ~4%, the
after-request hook ~7%, the rest not separated: the before-request timer, `g`, a larger URL
map); under waitress that is 10-15% of a request. Fixed while building this bench: the single-job answer of an in-flight job
is encoded once per clock second instead of on every request; `x-request-id` no longer calls
`os.urandom`, which released the GIL mid-request (strace: ~7 more futex calls per request than
the baseline; now the same); the app token of an API key is memoised; the history's file names
come from a two-provider Faker generator with precomputed weights instead of `Faker("en_US")`
(same names for the same seed; 10,000 jobs 7.5 s -> 1 s, 100,000 jobs ~70 s -> ~12 s). Start-up
is imports: flask + jinja2 + werkzeug, click, PyYAML and waitress before the first answer, then
`import faker` (it scans and imports all its providers and locales) on the first List Jobs:
0.05-0.2 s depending on the load (measured against a stub generator, 7 launches each)."""


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections to run (default: all of {', '.join(SECTIONS)})")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds of each wrk run (default 2)")
    parser.add_argument("--rounds", type=int, default=10, help="wrk rounds over all servers (default 10)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (default 8)")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--startup-runs", type=int, default=5, help="launches of each server (default 5)")
    parser.add_argument("--memory-jobs", type=int, default=100_000, help="jobs of the memory test")
    parser.add_argument("--tests", type=int, default=200, help="tests of the per-test cost (default 200)")
    parser.add_argument("--no-prism", action="store_true", help="skip Prism (no npm install)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 1 s loads, 1 round, 2 launches, 10,000 jobs, 30 tests; "
                             "writes quick.json/quick.md")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results",
                        help="folder of the results (default bench/results)")
    parser.add_argument("--merge", action="store_true",
                        help="keep the figures of the sections not run from the results file already there "
                             "(e.g. --only record --merge adds one section to latest.json)")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.rounds, args.startup_runs = 1.0, 1, 2
        args.memory_jobs, args.tests = min(args.memory_jobs, 10_000), min(args.tests, 30)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    return args


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    log = lambda *a: print(*a, flush=True)  # noqa: E731
    meta = {"date": report.now_iso(), "command": "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv),
            "machine": report.machine(), "versions": report.versions(), "commit": report.git_commit(),
            "wrk": wrk.version(), "node": prism.node_version()}
    meta["command"] = meta["command"].strip()
    log(f"userpilot-mock benchmarks, {meta['machine']['cores']} cores, {meta['date']}")
    results: dict = {"meta": meta}
    errors = {}
    for section in args.only:
        log(f"\n== {section}")
        try:
            if section == "throughput":
                results["throughput"] = throughput.run(duration=args.duration, rounds=args.rounds,
                                                       connections=args.connections, threads=args.wrk_threads,
                                                       with_prism=not args.no_prism, log=log)
            elif section == "startup":
                results["startup"] = startup.run(args.startup_runs, with_prism=not args.no_prism, log=log)
            elif section == "memory":
                results["memory"] = memory.run(args.memory_jobs, log=log)
            elif section == "pertest":
                results["pertest"] = pertest.run(args.tests, log=log)
            elif section == "contract":
                results["contract"] = contract.run(log=log)
            elif section == "record":
                results["record"] = record.run(requests=100 if args.quick else 400, log=log)
        except Exception as exc:  # one broken section must not lose the others
            errors[section] = f"{type(exc).__name__}: {exc}"
            log(f"error in {section}: {errors[section]}")
    meta["prism"] = prism.version() if not args.no_prism else None
    meta["seconds"] = time.perf_counter() - started
    meta["load_average_end"] = report.machine()["load_average"]
    if errors:
        results["errors"] = errors
    results["analysis"] = ANALYSIS
    stem = "quick" if args.quick else "latest"
    if args.merge:
        results = report.merged(args.out / f"{stem}.json", results, args.only)
    rows = report.build_rows(results)
    log("\n" + report.table(rows))
    json_path, md_path = report.write(results, rows, args.out, stem)
    log(f"\nwritten: {json_path.relative_to(ROOT) if json_path.is_relative_to(ROOT) else json_path}, "
        f"{md_path.relative_to(ROOT) if md_path.is_relative_to(ROOT) else md_path}")
    for section, error in errors.items():
        log(f"error in {section}: {error}")
    return 1 if errors else 0
