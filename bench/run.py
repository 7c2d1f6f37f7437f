"""``python -m bench``: run every benchmark, print the table, write
``bench/results/latest.json`` and ``latest.md``.

Sections (``--only`` picks some): ``throughput`` (wrk against the fake,
its baselines and Prism), ``startup``, ``idle`` (1,000 idle connections),
``memory``, ``pertest``, ``contract``, ``record`` (the recording proxy's
overhead per exchange). ``--quick`` is a short smoke run (1 s loads, one round, small
memory test) written to ``quick.json``/``quick.md`` instead.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import contract, idle, memory, pertest, prism, record, report, startup, throughput, wrk
from .procs import ROOT

SECTIONS = ("throughput", "startup", "idle", "memory", "pertest", "contract", "record")

ANALYSIS = """\
Measured with `python -m bench.profile_gap` (the WSGI callables called in-process, no server,
best of 5 runs of 5,000 requests, then cProfile of the fake) and the server process's CPU time
per request under wrk (the `cpu µs/req` column). In-process, on this run's loaded machine (load
average 7-13 from other work), a List Jobs of 25 costs the fake ~95 µs, the one-route Flask app
~450 µs and a bare WSGI callable ~4 µs: the fake's API pipeline bypasses Flask, so it does less
Python work per request than the one-route Flask app. Its own work, by cProfile's own time:
Werkzeug's router (~11%), Front's start_response (headers, request id, access-log check, ~6%),
the journal's Record stage and its request-rule check (~13%), authentication (~3%), the
pipeline loop and Answer.send (~7%); the list body itself is cached. Under Granian the server's
part is the rest of `cpu µs/req` beside the bare WSGI callable's (~60 µs: hyper, the environ,
the GIL hand-offs between the tokio thread and the Python threads). So the remaining gap to the
one-route app on the same server is not the fake's code: where the fake answers fewer requests
per second than Flask on Granian while using less CPU per request, the time is spent waiting
(GIL hand-offs between its 8 Python threads), not computing. Start-up is imports (flask,
jinja2, werkzeug, click, PyYAML, granian) then faker on the first List Jobs; on this run's
loaded machine every launch was 4-5 times slower than on a quiet one (Prism's too)."""


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
            elif section == "idle":
                results["idle"] = idle.run(requests=50 if args.quick else idle.REQUESTS, log=log)
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
