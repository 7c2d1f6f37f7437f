"""What the coverage stage (``Observe``, docs/coverage.md) costs on the serving
path: the fake with it and the same fake without it, side by side.

    python -m bench.coverage_cost [--server granian|waitress] [--rounds 16] [--duration 2]
                                  [--path /v1/background_jobs]

Both are made by :func:`mock_server.server.make_server`, as ``userpilot-mock
serve`` makes its server (Granian by default, or waitress; 8 API threads),
frozen clock, the default 25-job history; the second has its pipeline's
Observe stage taken out. wrk loads each in turn, the order alternating every
round, and the medians of the per-round ratios of requests per second and of
CPU per request are printed (docs/benchmarks.md, "The coverage stage"). Needs wrk.
"""
from __future__ import annotations

import argparse
import statistics
import sys

from . import wrk
from .procs import ServerProcess, fetch

HEADERS = {"Authorization": "Token bench-api-key"}

#: A fake on a free port, printing its URL; argv[1] "0" drops the Observe stage, argv[2] names the server.
SERVER = """
import sys
from mock_server.http.stages import Observe, Stage
from mock_server.server import make_server, run_server
server, app = make_server(server=sys.argv[2], frozen=True, now="2026-11-29T12:00:00Z")
if sys.argv[1] == "0":
    pipeline = app.wsgi_app.api
    pipeline.stages = tuple(s for s in pipeline.stages if not isinstance(s, Observe))
    pipeline._afters = tuple(s.after for s in pipeline.stages if type(s).after is not Stage.after)
print(f"serving at http://127.0.0.1:{server.effective_port}", flush=True)
run_server(server)
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=("granian", "waitress"), default="granian")
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--path", default="/v1/background_jobs")
    args = parser.parse_args(argv)
    if not wrk.available():
        print(wrk.INSTALL_HINT, file=sys.stderr)
        return 2
    servers = {name: ServerProcess(name, [sys.executable, "-c", SERVER, flag, args.server])
               for name, flag in (("with", "1"), ("without", "0"))}
    try:
        for server in servers.values():
            server.start()
            fetch(server.url + args.path, HEADERS)
            wrk.run(server.url + args.path, duration=1, headers=HEADERS)
        rps: dict[str, list[float]] = {name: [] for name in servers}
        cpu: dict[str, list[float]] = {name: [] for name in servers}
        for i in range(args.rounds):
            for name in (list(servers) if i % 2 == 0 else list(servers)[::-1]):
                server = servers[name]
                before = server.cpu_seconds() or 0.0
                result = wrk.run(server.url + args.path, duration=args.duration, headers=HEADERS)
                rps[name].append(result["rps"])
                cpu[name].append(((server.cpu_seconds() or 0.0) - before) / max(1, result["requests"]) * 1e6)
        print(f"{args.path} on {args.server}, {args.rounds} rounds of {args.duration:g} s")
        for name in servers:
            print(f"{name} the coverage stage: {statistics.median(rps[name]):,.0f} req/s, "
                  f"{statistics.median(cpu[name]):,.0f} cpu µs/req (medians of {args.rounds} rounds)")
        rps_ratio = statistics.median(a / b for a, b in zip(rps["with"], rps["without"], strict=True))
        cpu_ratio = statistics.median(a / b for a, b in zip(cpu["with"], cpu["without"], strict=True))
        print(f"with / without: {rps_ratio:.3f} x req/s, {cpu_ratio:.3f} x cpu per request")
    finally:
        for server in servers.values():
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
