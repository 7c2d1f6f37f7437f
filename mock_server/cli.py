"""The ``userpilot-mock`` command (also ``python -m mock_server``).

Every ``serve`` option can also be set by an environment variable named
``USERPILOT_MOCK_<OPTION>`` (e.g. ``USERPILOT_MOCK_PORT``), for containers
and CI services.
"""
from __future__ import annotations

import logging
import sys

import click
from click.core import ParameterSource

from . import __version__
from .config import (
    DEFAULT_JOBS,
    DEFAULT_JOURNAL_BYTES,
    DEFAULT_JOURNAL_SIZE,
    DEFAULT_MAX_APPS,
    DEFAULT_MAX_JOBS,
    DEFAULT_SEED,
    DEMO_API_KEY,
    LIMITS,
)

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


class _EnvOption(click.Option):
    """A ``serve`` option whose environment variable shows in ``--help`` and
    is named in the error when its value came from there."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("show_envvar", True)
        super().__init__(*args, **kwargs)

    def handle_parse_result(self, ctx, opts, args):
        try:
            return super().handle_parse_result(ctx, opts, args)
        except click.BadParameter as exc:
            exc.param_hint = _hint(ctx, self.name)
            raise


def _hint(ctx, name: str | None) -> str:
    """How an error names the option ``name``: ``'--port'``, or ``'--port'
    (from USERPILOT_MOCK_PORT)`` when the environment gave its value."""
    param = next((p for p in ctx.command.params if p.name == name), None)
    if param is None:
        return f"'--{(name or '').replace('_', '-')}'"
    flag = f"'{param.opts[0]}'" if param.opts else f"'{name}'"
    if name is not None and ctx.get_parameter_source(name) is ParameterSource.ENVIRONMENT:
        return f"{flag} (from the environment variable {param.envvar})"
    return flag


def _option(*names, env: str, **kwargs):
    """A ``serve`` option read from ``USERPILOT_MOCK_<env>`` too."""
    return click.option(*names, cls=_EnvOption, envvar=_env(env), **kwargs)


def _fault_setting(ctx, param, value):
    """Check --latency / --rate-limit early (mock_server.backend.faults)."""
    if value is None:
        return None
    from .backend.faults import parse_latency, parse_rate_limit  # deferred: `--help` stays fast
    try:
        return (parse_latency if param.name == "latency" else parse_rate_limit)(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _on_command_line(ctx, name: str) -> bool:
    return ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE


#: Settings errors (mock_server.config.SettingError) -> the option they concern.
_SETTING_OPTIONS = {"api_keys": "api_keys", "cors_origins": "cors_origins"}


@main.command()
@_option("--host", env="HOST", default="127.0.0.1", show_default=True,
         help="Address to bind. 0.0.0.0 exposes the control API to others (set --admin-token).")
@_option("--port", env="PORT", default=8080, show_default=True, type=click.IntRange(*LIMITS["port"]),
         help="Port; 0 picks a free one.")
@_option("--seed", env="SEED", default=DEFAULT_SEED, show_default=True, type=int,
         help="Seed of all generated data.")
@_option("--jobs", env="JOBS", default=DEFAULT_JOBS, show_default=True, type=int,
         help="Jobs in each new app's history.")
@_option("--speed", env="SPEED", default=1.0, show_default=True, type=float,
         help="Clock speed: N runs it N times faster than real time.")
@_option("--now", env="NOW", default=None, help="Start the clock at this ISO 8601 instant (UTC when no offset).")
@_option("--frozen", env="FROZEN", is_flag=True, help="Stop the clock until advanced.")
@_option("--api-key", "api_keys", env="API_KEYS", multiple=True,
         help="Accept only this API key (repeatable; visible to other processes: prefer the env var, "
              "space-separated). Default: any key.")
@_option("--public-url", env="PUBLIC_URL", default=None,
         help="Base URL used in job links. Default: the fake's own URL.")
@_option("--max-apps", env="MAX_APPS", default=DEFAULT_MAX_APPS, show_default=True,
         type=click.IntRange(*LIMITS["max_apps"]), help="Apps kept before the least recently used is forgotten.")
@_option("--max-jobs", env="MAX_JOBS", default=DEFAULT_MAX_JOBS, show_default=True,
         type=click.IntRange(*LIMITS["max_jobs"]),
         help="Jobs the whole fake holds (histories, scenarios, imports, control API); past it the least "
              "recently used apps are forgotten, and a request that alone passes it is a 400.")
@_option("--threads", env="THREADS", default=8, show_default=True, type=click.IntRange(1, 256),
         help="API requests answered at once (the control API has threads of its own).")
@_option("--server", "server_kind", env="SERVER", default="granian", show_default=True,
         type=click.Choice(["granian", "waitress"]),
         help="HTTP server: granian (Rust, fast) or waitress (pure Python).")
@_option("--quiet", env="QUIET", is_flag=True, help="No access log.")
@_option("--latency", env="LATENCY", default=None, callback=_fault_setting,
         help="Delay every API answer: 100ms, 50-200ms (uniform), 0.1s (the unit is required).")
@_option("--error-rate", env="ERROR_RATE", default=0.0, show_default=True, type=float,
         help="Share of API calls answered 503 (seeded by --seed).")
@_option("--rate-limit", env="RATE_LIMIT", default=None, callback=_fault_setting,
         help="Per-app limit, e.g. 600/min or 10/s, or 'documented' (only the real-time calls' "
              "600/min); over it 429 with Retry-After. Default: none.")
@_option("--scenario", env="SCENARIO", default=None, metavar="NAME|PATH",
         help="Start every app with a scenario's jobs: a bundled name (empty, mixed, "
              "all_failed, in_flight, large) or a YAML file. Its `history` replaces --jobs.")
@_option("--journal-size", env="JOURNAL_SIZE", default=DEFAULT_JOURNAL_SIZE, show_default=True,
         type=click.IntRange(*LIMITS["journal_size"]),
         help="Requests kept in the request journal (GET /__admin/requests).")
@_option("--journal-bytes", env="JOURNAL_BYTES", default=DEFAULT_JOURNAL_BYTES, show_default=True,
         type=click.IntRange(*LIMITS["journal_bytes"]),
         help="Bytes the request journal holds in all (oldest entries dropped first).")
@_option("--admin-token", env="ADMIN_TOKEN", default=None, metavar="TOKEN",
         help="Require 'Authorization: Bearer TOKEN' on the control API (/__admin/). Prefer the env var: "
              "a command line is visible to other processes.")
@_option("--cors", env="CORS", is_flag=True,
         help="Let browser apps of any origin call the API (CORS; never the control API).")
@_option("--cors-origin", "cors_origins", env="CORS_ORIGINS", multiple=True, metavar="ORIGIN",
         help="Let browser apps of this origin call the API, e.g. http://localhost:3000 (repeatable; "
              "implies --cors for these origins only).")
@_option("--state", env="STATE", default=None, metavar="FILE",
         help="Keep the fake's state in this SQLite file (created if missing) and resume from it at "
              "start. On a restart the file's seed, scenario, clock, apps, fault rules and journal win "
              "over --seed, --now, --jobs, --scenario, --frozen and --speed, which apply again at the "
              "next reset. One server per file. Default: memory only.")
@click.pass_context
def serve(ctx, host, port, seed, jobs, speed, now, frozen, api_keys, public_url, max_apps, max_jobs, threads,
          server_kind, quiet, latency, error_rate, rate_limit, scenario, journal_size, journal_bytes, admin_token, cors,
          cors_origins, state):
    """Serve the fake API (and its control API under /__admin/)."""
    # deferred: the fake's modules (Flask, Faker, the HTTP server) load only for a command that serves
    from .backend.errors import ApiError
    from .backend.store import StoreError
    from .config import SettingError
    from .server import make_server, run_server

    for name, flag, env in (("api_keys", "--api-key", "USERPILOT_MOCK_API_KEYS"),
                            ("admin_token", "--admin-token", "USERPILOT_MOCK_ADMIN_TOKEN")):
        if _on_command_line(ctx, name):
            click.echo(f"warning: {flag} is visible to other processes on this machine; prefer {env}", err=True)
    if scenario is not None:
        from .backend.scenarios import resolve  # deferred: see above
        try:
            scenario = resolve(scenario, allow_path=True)
        except ApiError as exc:
            detail = f" ({exc.details})" if exc.details and exc.details != exc.message else ""
            raise click.BadParameter(exc.message + detail, param_hint=_hint(ctx, "scenario")) from None
    origins = tuple(cors_origins) or (("*",) if cors else ())
    store = None
    try:
        if state is not None:
            from .backend.sqlite_store import open_store  # deferred: only --state needs sqlite3
            store = open_store(state, max_apps, max_jobs=max_jobs)
        server, app = make_server(host, port, seed=seed, jobs=jobs, speed=speed, now=now,
                                  frozen=frozen, api_keys=api_keys, public_url=public_url,
                                  max_apps=max_apps, max_jobs=max_jobs, threads=threads, latency=latency,
                                  error_rate=error_rate, rate_limit=rate_limit, scenario=scenario,
                                  journal_size=journal_size, journal_bytes=journal_bytes,
                                  admin_token=admin_token, cors_origins=origins, store=store,
                                  server=server_kind)
    # Each refusal ends the process, which releases the state file's lock.
    except StoreError as exc:  # one line naming the file, exit 2 as for a usage error
        click.echo(f"userpilot-mock: {exc}", err=True)
        sys.exit(2)
    except ApiError as exc:
        raise click.UsageError(exc.message) from None
    except SettingError as exc:
        name = _SETTING_OPTIONS.get(exc.setting, exc.setting)
        raise click.BadParameter(exc.message, param_hint=_hint(ctx, name)) from None
    except ValueError as exc:  # the server refusing the host
        raise click.BadParameter(str(exc), param_hint=_hint(ctx, "host")) from None
    except OSError as exc:
        click.echo(f"userpilot-mock: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        sys.exit(1)
    backend = app.extensions["userpilot"].backend

    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{server.effective_port}"
    if host not in ("127.0.0.1", "localhost", "::1"):
        protection = ("it requires the admin token" if admin_token else
                      "it has no authentication unless you set --admin-token (env USERPILOT_MOCK_ADMIN_TOKEN)")
        click.echo(f"warning: listening on {host}: the control API (/__admin/) is reachable by others on "
                   f"this network; {protection}", err=True)
    key_hint = DEMO_API_KEY if not api_keys else "$USERPILOT_API_KEY"
    admin_hint = ', with -H "Authorization: Bearer $USERPILOT_MOCK_ADMIN_TOKEN"' if admin_token else ""
    clock, in_force = backend.clock, backend.scenario  # the state file's when resumed
    click.echo(f"userpilot-mock {__version__} serving the Userpilot background-jobs API at {url}\n"
               f'  try:     curl -s -H "Authorization: Token {key_hint}" {url}/v1/background_jobs\n'
               f"  control: {url}/__admin/  (spec: {url}/__admin/spec/admin.yaml{admin_hint})\n"
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
    if origins:
        click.echo(f"  cors:    {'any origin' if origins == ('*',) else ', '.join(origins)} (the API only)")
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
