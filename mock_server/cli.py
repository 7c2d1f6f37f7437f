"""The ``userpilot-mock`` command (also ``python -m mock_server``).

Every ``serve`` option can also be set by an environment variable named
``USERPILOT_MOCK_<OPTION>`` (e.g. ``USERPILOT_MOCK_PORT``), for containers
and CI services.
"""
from __future__ import annotations

import logging
import sys
import tempfile

import click

from . import __version__
from .config import DEFAULT_JOBS, DEFAULT_JOURNAL_SIZE, DEFAULT_MAX_APPS, DEFAULT_SEED, DEMO_API_KEY, LIMITS


def _env(name: str) -> str:
    return f"USERPILOT_MOCK_{name}"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="userpilot-mock")
def main():
    """A fake of Userpilot's background-jobs API, and a contract test kit."""


def _fault_setting(ctx, param, value):
    """Check --latency / --rate-limit early (mock_server.backend.faults)."""
    if value is None:
        return None
    from .backend.faults import parse_latency, parse_rate_limit  # deferred: `--help` stays fast
    try:
        return (parse_latency if param.name == "latency" else parse_rate_limit)(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, envvar=_env("HOST"),
              help="Address to bind. 0.0.0.0 exposes the control API to others.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(*LIMITS["port"]),
              envvar=_env("PORT"), help="Port; 0 picks a free one.")
@click.option("--seed", default=DEFAULT_SEED, show_default=True, type=int, envvar=_env("SEED"),
              help="Seed of all generated data.")
@click.option("--jobs", default=DEFAULT_JOBS, show_default=True, type=int,
              envvar=_env("JOBS"), help="Jobs in each new app's history.")
@click.option("--speed", default=1.0, show_default=True, type=float,
              envvar=_env("SPEED"), help="Clock speed: N runs it N times faster than real time.")
@click.option("--now", default=None, envvar=_env("NOW"),
              help="Start the clock at this ISO 8601 instant (UTC when no offset).")
@click.option("--frozen", is_flag=True, envvar=_env("FROZEN"), help="Stop the clock until advanced.")
@click.option("--api-key", "api_keys", multiple=True, envvar=_env("API_KEYS"),
              help="Accept only this API key (repeatable). Default: any key.")
@click.option("--public-url", default=None, envvar=_env("PUBLIC_URL"),
              help="Base URL used in job links. Default: the fake's own URL.")
@click.option("--max-apps", default=DEFAULT_MAX_APPS, show_default=True, type=click.IntRange(*LIMITS["max_apps"]),
              envvar=_env("MAX_APPS"), help="Apps kept before the least recently used is forgotten.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256),
              envvar=_env("THREADS"), help="Server threads.")
@click.option("--quiet", is_flag=True, envvar=_env("QUIET"), help="No access log.")
@click.option("--latency", default=None, envvar=_env("LATENCY"), callback=_fault_setting,
              help="Delay every API answer: 100ms, 50-200ms (uniform), 0.1s.")
@click.option("--error-rate", default=0.0, show_default=True, type=float,
              envvar=_env("ERROR_RATE"), help="Share of API calls answered 503 (seeded by --seed).")
@click.option("--rate-limit", default=None, envvar=_env("RATE_LIMIT"), callback=_fault_setting,
              help="Per-app limit, e.g. 600/min or 10/s, or 'documented' (only the real-time calls' "
                   "600/min); over it 429 with Retry-After. Default: none.")
@click.option("--scenario", default=None, envvar=_env("SCENARIO"), metavar="NAME|PATH",
              help="Start every app with a scenario's jobs: a bundled name (empty, mixed, "
                   "all_failed, in_flight, large) or a YAML file. Its `history` replaces --jobs.")
@click.option("--journal-size", default=DEFAULT_JOURNAL_SIZE, show_default=True,
              type=click.IntRange(*LIMITS["journal_size"]), envvar=_env("JOURNAL_SIZE"),
              help="Requests kept in the request journal (GET /__admin/requests).")
def serve(host, port, seed, jobs, speed, now, frozen, api_keys, public_url, max_apps, threads, quiet,
          latency, error_rate, rate_limit, scenario, journal_size):
    """Serve the fake API (and its control API under /__admin/)."""
    # deferred: the fake's modules (Flask, Faker, waitress) load only for a command that serves
    from .backend.errors import ApiError
    from .config import SettingError
    from .server import make_server, run_server

    if scenario is not None:
        from .backend.scenarios import resolve  # deferred: see above
        try:
            scenario = resolve(scenario, allow_path=True)
        except ApiError as exc:
            raise click.BadParameter(exc.details, param_hint="'--scenario'") from None
    try:
        server, _app = make_server(host, port, seed=seed, jobs=jobs, speed=speed, now=now,
                                   frozen=frozen, api_keys=api_keys, public_url=public_url,
                                   max_apps=max_apps, threads=threads, latency=latency,
                                   error_rate=error_rate, rate_limit=rate_limit, scenario=scenario,
                                   journal_size=journal_size)
    except ApiError as exc:
        raise click.UsageError(exc.message) from None
    except SettingError as exc:
        option = {"api_keys": "api-key"}.get(exc.setting, exc.setting.replace("_", "-"))
        raise click.BadParameter(exc.message, param_hint=f"'--{option}'") from None
    except ValueError as exc:  # waitress refusing the host
        raise click.BadParameter(str(exc), param_hint="'--host'") from None
    except OSError as exc:
        click.echo(f"userpilot-mock: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        sys.exit(1)

    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{server.effective_port}"
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: listening on {host}: the control API (/__admin/) has no "
                   "authentication and is reachable by others on this network", err=True)
    key_hint = DEMO_API_KEY if not api_keys else "$USERPILOT_API_KEY"
    click.echo(f"userpilot-mock {__version__} serving the Userpilot background-jobs API at {url}\n"
               f"  try:     curl -s -H 'Authorization: Token {key_hint}' {url}/v1/background_jobs\n"
               f"  control: {url}/__admin/  (spec: {url}/__admin/spec/admin.yaml)\n"
               f"  clock:   {'frozen' if frozen else f'speed {speed:g}'}, seed {seed}, "
               + (f"scenario {scenario.name} ({scenario.job_count} jobs per app)"
                  if scenario is not None else f"{jobs} jobs per app") + ". Ctrl-C stops.")
    if latency or error_rate or rate_limit:
        parts = [f"latency {latency[0]:g}-{latency[1]:g} ms" if latency else "",
                 f"error rate {error_rate:g}" if error_rate else "",
                 ("rate limits as documented (600/min for the real-time calls)" if isinstance(rate_limit, str)
                  else f"rate limit {rate_limit[0]}/{rate_limit[1]:g}s per app (600/min for the real-time calls)")
                 if rate_limit else ""]
        click.echo(f"  faults:  {', '.join(p for p in parts if p)} (rules: {url}/__admin/faults)")
    sys.stdout.flush()

    if not quiet:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log = logging.getLogger("userpilot_mock.access")
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False

    run_server(server)
    click.echo("userpilot-mock stopped")


@main.command()
@click.option("--vendor", "which", flag_value="vendor", help="The vendor's document as published.")
@click.option("--admin", "which", flag_value="admin", help="The control API's document.")
def spec(which):
    """Print the kit spec (default), the vendor's document or the control API's."""
    from .spec import spec_text  # deferred: `--help` stays fast
    click.echo(spec_text(which or "kit"), nl=False)


@main.command()
@click.option("--base-url", envvar="USERPILOT_BASE_URL", metavar="URL",
              help="Test the server at URL (a fake if it answers GET /__admin/health). "
                   "Env USERPILOT_BASE_URL.")
@click.option("--environment", envvar="USERPILOT_ENVIRONMENT", type=click.Choice(["analytex", "analytex-eu"]),
              help="Test the real API in this environment. Env USERPILOT_ENVIRONMENT.")
@click.option("--spec", "spec_name", type=click.Choice(["kit", "vendor"]), default="kit", show_default=True,
              help="The kit spec, or the vendor's document as published (known defects reported apart).")
@click.option("--max-examples", type=click.IntRange(1), default=None,
              help="Examples per operation and phase (default: schemathesis.toml's).")
@click.option("--seed", type=int, default=None, help="Seed of the generated data (and of the in-process fake).")
@click.option("--junit", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write a JUnit XML report here.")
@click.option("--allow-writes", is_flag=True, help="Send createImport to a target that is not a fake.")
@click.option("--assumptions", type=click.Choice(["fail", "warn"]), default="fail", show_default=True,
              help="Whether a contradicted assumption fails the run or only warns.")
@click.option("--api-key-file", type=click.Path(dir_okay=False), default=None,
              help="Read the API key from this file (default: env USERPILOT_API_KEY).")
@click.option("--api-key", default=None, help="The API key (visible to other processes: prefer the env var).")
@click.option("--rate-limit", type=click.FloatRange(0), default=None,
              help="Requests per second against a target that is not a fake (default 5; 0: none).")
@click.option("--poll-interval", type=click.FloatRange(0), default=5.0, show_default=True,
              help="Seconds between polls of a target whose clock the suite cannot drive.")
@click.option("--operation", "operations", multiple=True, metavar="ID",
              help="Test only this operation (listJobs, getJob, createImport; repeatable). Default: all.")
def contract(base_url, environment, spec_name, max_examples, seed, junit, allow_writes, assumptions,
             api_key_file, api_key, rate_limit, poll_interval, operations):
    """Check a server against the contract (default: a fake, in-process).

    Exit 0 when the target conforms, 1 when it does not, 2 on a usage error,
    3 when the target cannot be reached or needs a key it was not given.
    """
    try:  # deferred: the contract kit needs the [contract] extra, and costs seconds to import
        from hypothesis.configuration import set_hypothesis_home_dir

        from contract_tests.options import ContractOptions, TargetError, UsageError, read_key_file
        from contract_tests.runner import run_contract
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
        # Hypothesis caches under ./.hypothesis; a contract run leaves no files behind.
        with tempfile.TemporaryDirectory(prefix="userpilot-contract-") as scratch:
            set_hypothesis_home_dir(scratch)
            report = run_contract(ContractOptions(
                base_url=base_url, environment=environment, spec=spec_name, max_examples=max_examples,
                seed=seed, junit=junit, allow_writes=allow_writes, assumptions=assumptions,
                api_key=api_key, rate_limit=rate_limit, poll_interval=poll_interval,
                operations=tuple(operations) or None))
            set_hypothesis_home_dir(None)
    except UsageError as exc:
        click.echo(f"userpilot-mock contract: {exc}", err=True)
        sys.exit(2)
    except TargetError as exc:
        click.echo(f"userpilot-mock contract: {exc}", err=True)
        sys.exit(3)
    click.echo(report.render(), nl=False)
    sys.exit(report.exit_code)


if __name__ == "__main__":
    main()
