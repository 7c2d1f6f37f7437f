"""The ``userpilot-mock`` command (also ``python -m mock_server``).

Every ``serve`` option can also be set by an environment variable named
``USERPILOT_MOCK_<OPTION>`` (e.g. ``USERPILOT_MOCK_PORT``), for containers
and CI services.
"""
from __future__ import annotations

import logging
import sys

import click

from . import __version__
from .config import DEFAULT_JOBS, DEFAULT_JOURNAL_SIZE, DEFAULT_MAX_APPS, DEFAULT_SEED, DEMO_API_KEY, LIMITS

#: Entry point group of the subcommands other packages add (the contract
#: kit's ``contract``: ``contract_tests.cli:contract``).
COMMANDS_GROUP = "userpilot_mock.commands"


def _env(name: str) -> str:
    return f"USERPILOT_MOCK_{name}"


class _Commands(click.Group):
    """The built-in commands plus those of the :data:`COMMANDS_GROUP` entry
    points, each loaded only when it is run or listed (``--help``)."""

    def _added(self) -> dict:
        from importlib.metadata import entry_points  # deferred: only plugin commands and --help read them
        return {ep.name: ep for ep in entry_points(group=COMMANDS_GROUP) if ep.name not in self.commands}

    def list_commands(self, ctx) -> list[str]:
        return sorted({*self.commands, *self._added()})

    def get_command(self, ctx, name: str):
        command = self.commands.get(name)
        if command is None:
            ep = self._added().get(name)
            command = ep.load() if ep is not None else None
        return command


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
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
              envvar=_env("THREADS"),
              help="API requests answered at once (the control API has threads of its own).")
@click.option("--server", "server_kind", default="granian", show_default=True,
              type=click.Choice(["granian", "waitress"]), envvar=_env("SERVER"),
              help="HTTP server: granian (Rust, fast) or waitress (pure Python).")
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
@click.option("--state", default=None, envvar=_env("STATE"), metavar="FILE",
              help="Keep the fake's state in this SQLite file (created if missing) and resume from it at "
                   "start. On a restart the file's seed, scenario, clock, apps, fault rules and journal win "
                   "over --seed, --now, --jobs, --scenario, --frozen and --speed, which apply again at the "
                   "next reset. One server per file. Default: memory only.")
def serve(host, port, seed, jobs, speed, now, frozen, api_keys, public_url, max_apps, threads, server_kind, quiet,
          latency, error_rate, rate_limit, scenario, journal_size, state):
    """Serve the fake API (and its control API under /__admin/)."""
    # deferred: the fake's modules (Flask, Faker, the HTTP server) load only for a command that serves
    from .backend.errors import ApiError
    from .backend.store import StoreError
    from .config import SettingError
    from .server import make_server, run_server

    if scenario is not None:
        from .backend.scenarios import resolve  # deferred: see above
        try:
            scenario = resolve(scenario, allow_path=True)
        except ApiError as exc:
            raise click.BadParameter(exc.details, param_hint="'--scenario'") from None
    store = None
    try:
        if state is not None:
            from .backend.sqlite_store import open_store  # deferred: only --state needs sqlite3
            store = open_store(state, max_apps)
        server, app = make_server(host, port, seed=seed, jobs=jobs, speed=speed, now=now,
                                  frozen=frozen, api_keys=api_keys, public_url=public_url,
                                  max_apps=max_apps, threads=threads, latency=latency,
                                  error_rate=error_rate, rate_limit=rate_limit, scenario=scenario,
                                  journal_size=journal_size, store=store, server=server_kind)
    # Each refusal ends the process, which releases the state file's lock.
    except StoreError as exc:  # one line naming the file, exit 2 as for a usage error
        click.echo(f"userpilot-mock: {exc}", err=True)
        sys.exit(2)
    except ApiError as exc:
        raise click.UsageError(exc.message) from None
    except SettingError as exc:
        option = {"api_keys": "api-key"}.get(exc.setting, exc.setting.replace("_", "-"))
        raise click.BadParameter(exc.message, param_hint=f"'--{option}'") from None
    except ValueError as exc:  # the server refusing the host
        raise click.BadParameter(str(exc), param_hint="'--host'") from None
    except OSError as exc:
        click.echo(f"userpilot-mock: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        sys.exit(1)
    backend = app.extensions["userpilot"].backend

    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{server.effective_port}"
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: listening on {host}: the control API (/__admin/) has no "
                   "authentication and is reachable by others on this network", err=True)
    key_hint = DEMO_API_KEY if not api_keys else "$USERPILOT_API_KEY"
    clock, in_force = backend.clock, backend.scenario  # the state file's when resumed
    click.echo(f"userpilot-mock {__version__} serving the Userpilot background-jobs API at {url}\n"
               f"  try:     curl -s -H 'Authorization: Token {key_hint}' {url}/v1/background_jobs\n"
               f"  control: {url}/__admin/  (spec: {url}/__admin/spec/admin.yaml)\n"
               f"  watch:   {url}/__admin/ui/  (the dashboard)\n"
               f"  clock:   {'frozen' if clock.frozen else f'speed {clock.speed:g}'}, seed {backend.seed}, "
               + (f"scenario {in_force.name} ({in_force.job_count} jobs per app)"
                  if in_force is not None else f"{backend.jobs_per_app} jobs per app") + ". Ctrl-C stops.")
    if store is not None:
        apps = store.app_count()
        resumed = (f"resumed: {apps} app{'' if apps == 1 else 's'}, clock {clock.state()['now']}" if store.resumed
                   else "new")
        click.echo(f"  state:   {store.describe()} ({resumed})")
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

    try:
        run_server(server)
    finally:
        if store is not None:
            store.close()
    click.echo("userpilot-mock stopped")


@main.command()
@click.option("--vendor", "which", flag_value="vendor", help="The vendor's document as published.")
@click.option("--admin", "which", flag_value="admin", help="The control API's document.")
def spec(which):
    """Print the kit spec (default), the vendor's document or the control API's."""
    from .spec import spec_text  # deferred: `--help` stays fast
    click.echo(spec_text(which or "kit"), nl=False)


if __name__ == "__main__":
    main()
