"""``userpilot-mock contract``: the contract suite from the command line.

A subcommand of ``userpilot-mock`` (:mod:`mock_server.cli`) added through the
``userpilot_mock.commands`` entry point group, so that ``mock_server`` never
imports the contract kit. Importing this module is cheap (click and the
standard library): Schemathesis, Hypothesis and requests load when a run
starts, and their absence (no ``contract`` extra) is a usage error, exit 2.
"""
from __future__ import annotations

import sys

import click

from .options import CLOCKS, ContractOptions, TargetError, UsageError, read_key_file


@click.command()
@click.option("--base-url", envvar="USERPILOT_BASE_URL", metavar="URL",
              help="Test the server at URL (a fake if it answers GET /__admin/health). "
                   "Env USERPILOT_BASE_URL.")
@click.option("--environment", envvar="USERPILOT_ENVIRONMENT", type=click.Choice(["analytex", "analytex-eu"]),
              help="Test the real API in this environment. Env USERPILOT_ENVIRONMENT.")
@click.option("--spec", "spec_name", type=click.Choice(["kit", "vendor"]), default="kit", show_default=True,
              help="The kit spec, or the vendor's documents as published (List Jobs, exports, bulk identify and "
                   "the real-time calls; known defects reported apart).")
@click.option("--max-examples", type=click.IntRange(1), default=None,
              help="Examples per operation and phase (default: schemathesis.toml's).")
@click.option("--seed", type=int, default=None, help="Seed of the generated data (and of the in-process fake).")
@click.option("--junit", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write a JUnit XML report here.")
@click.option("--allow-writes", is_flag=True,
              help="Send the writes (createImport, bulk identify, the real-time calls, an export trigger) to a "
                   "target that is not a fake.")
@click.option("--assumptions", type=click.Choice(["fail", "warn"]), default="fail", show_default=True,
              help="Whether a contradicted assumption fails the run or only warns.")
@click.option("--api-key-file", type=click.Path(dir_okay=False), default=None,
              help="Read the API key from this file (default: env USERPILOT_API_KEY).")
@click.option("--api-key", default=None, help="The API key (visible to other processes: prefer the env var).")
@click.option("--rate-limit", type=click.FloatRange(0), default=None,
              help="Requests per second against a target that is not a fake (default 5; 0: none).")
@click.option("--poll-interval", type=click.FloatRange(0), default=None,
              help="Seconds between polls of a target whose clock the suite does not move "
                   "(default 5; 1 for a fake under --clock keep).")
@click.option("--clock", type=click.Choice(CLOCKS), default="move", show_default=True,
              help="Against a fake: move its clock through the lifecycle checks (about a day; it runs "
                   "again as before afterwards) or keep it as it is and poll in real time (a shared fake).")
@click.option("--operation", "operations", multiple=True, metavar="ID",
              help="Test only this operation (an operation id of the kit spec: listJobs, getJob, createImport, "
                   "triggerExport, bulkIdentifyUsers, ...; repeatable). Default: all.")
@click.option("--exports-url", metavar="URL", envvar="USERPILOT_EXPORTS_URL", default=None,
              help="Where the exports operations (/api/v1/analytics/exports...) go (env USERPILOT_EXPORTS_URL). "
                   "Default: the base URL (one fake serves both hosts); https://appex.userpilot.io with "
                   "--environment.")
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr (phase, requests sent).")
def contract(base_url, environment, spec_name, max_examples, seed, junit, allow_writes, assumptions,
             api_key_file, api_key, rate_limit, poll_interval, clock, operations, exports_url, quiet):
    """Check a server against the contract (default: a fake, in-process).

    Exit 0 when the target conforms, 1 when it does not (a target that
    stops answering mid-run included), 2 on a usage error, 3 when the target
    cannot be reached or needs a key it was not given. Progress goes to
    stderr (one live line on a terminal) unless --quiet.
    """
    try:  # deferred for start-up cost: Schemathesis and Hypothesis load when a run starts (and may be missing)
        from .runner import run_contract
    except ImportError as exc:
        if exc.name and exc.name.split(".")[0] in ("schemathesis", "hypothesis", "requests"):
            click.echo("userpilot-mock contract needs the contract extra: "
                       "pip install 'userpilot-mock[contract]'", err=True)
            sys.exit(2)
        raise
    if api_key is not None:
        click.echo("warning: --api-key is visible to other processes on this machine; "
                   "prefer USERPILOT_API_KEY or --api-key-file", err=True)
    try:
        if api_key_file is not None and api_key is None:
            api_key = read_key_file(api_key_file)
        report = run_contract(ContractOptions(  # leaves no files behind (no ./.hypothesis)
            base_url=base_url, environment=environment, spec=spec_name, max_examples=max_examples,
            seed=seed, junit=junit, allow_writes=allow_writes, assumptions=assumptions,
            api_key=api_key, rate_limit=rate_limit, poll_interval=poll_interval, clock=clock, quiet=quiet,
            operations=tuple(operations) or None, exports_url=exports_url))
    except UsageError as exc:
        click.echo(f"userpilot-mock contract: {exc}", err=True)
        sys.exit(2)
    except TargetError as exc:
        click.echo(f"userpilot-mock contract: {exc}", err=True)
        sys.exit(3)
    click.echo(report.render(), nl=False)
    sys.exit(report.exit_code)
