"""The ``userpilot-mock`` command (also ``python -m mock_server``).

Every ``serve`` option can also be set by an environment variable named
``USERPILOT_MOCK_<OPTION>`` (e.g. ``USERPILOT_MOCK_PORT``), for containers
and CI services.
"""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

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
_SETTING_OPTIONS = {"api_keys": "api_keys", "cors_origins": "cors_origins", "replay_strict": "strict"}


@main.command()
@_option("--host", env="HOST", default="127.0.0.1", show_default=True,
         help="Address to bind. 0.0.0.0 exposes the control API to others (set --admin-token).")
@_option("--port", env="PORT", default=8080, show_default=True, type=click.IntRange(*LIMITS["port"]),
         help="Port; 0 picks a free one.")
@_option("--seed", env="SEED", default=DEFAULT_SEED, show_default=True, type=int,
         help="Seed of all generated data.")
@_option("--jobs", env="JOBS", default=None, type=int,
         help=f"Jobs in each new app's history. Default: the profile's list length, else {DEFAULT_JOBS}.")
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
@_option("--profile", env="PROFILE", default=None, metavar="FILE",
         help="Follow a calibrated profile (userpilot-mock calibrate): new apps and new jobs take its "
              "timings, answers its forms. Default: the assumed defaults (docs/assumptions.md).")
@_option("--replay", env="REPLAY", default=None, metavar="CASSETTE",
         help="Answer the requests a HAR cassette recorded with its recorded answers, on the fake's "
              "clock (the answers to one request in the order and at the offsets they were recorded).")
@_option("--strict", env="STRICT", is_flag=True,
         help="With --replay: a request the cassette did not record gets 404 naming the nearest "
              "recorded one, instead of the fake's own answer.")
@click.pass_context
def serve(ctx, host, port, seed, jobs, speed, now, frozen, api_keys, public_url, max_apps, max_jobs, threads,
          server_kind, quiet, latency, error_rate, rate_limit, scenario, journal_size, journal_bytes, admin_token, cors,
          cors_origins, state, profile, replay, strict):
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
                                  server=server_kind, profile=profile, replay=replay, replay_strict=strict)
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
               f"  watch:   {url}/__admin/ui/  (the dashboard)\n"
               f"  clock:   {'frozen' if clock.frozen else f'speed {clock.speed:g}'}, seed {backend.seed}, "
               + (f"scenario {in_force.name} ({in_force.job_count} jobs per app)"
                  if in_force is not None else f"{backend.jobs_per_app} jobs per app") + ". Ctrl-C stops.")
    in_profile = backend.profile
    if in_profile.name is not None:
        unapplied = in_profile.not_applied
        click.echo(f"  profile: {in_profile.name} ({len(in_profile.measured)} parameters measured, the rest "
                   f"assumed; GET {url}/__admin/health names it)"
                   + (f"; measured but not served: {', '.join(unapplied)}" if unapplied else ""))
    replaying = app.extensions["userpilot"].replay
    if replaying is not None:
        click.echo(f"  replay:  {replaying.describe()}" + (" (strict: unrecorded requests get 404)" if strict
                                                            else " (unrecorded requests: the fake's own answers)"))
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
        _access_log("userpilot_mock.access", sys.stdout)

    try:
        run_server(server)
    finally:
        if store is not None:
            store.close()
    click.echo("userpilot-mock stopped")


def _access_log(name: str, stream) -> None:
    """One line per request on ``stream`` for the logger ``name``."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


@main.command()
@click.option("--environment", type=click.Choice(["analytex", "analytex-eu"]), default=None,
              help="Record the real API in this environment (https://<environment>.userpilot.io).")
@click.option("--target", default=None, metavar="URL", help="Record this server instead (e.g. a fake).")
@click.option("--exports-target", default=None, metavar="URL",
              help="Forward the exports and lookups paths (/api/v1/analytics/exports...) here. Default: "
                   "https://appex.userpilot.io with --environment, the --target itself with --target.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), metavar="DIR",
              help="Folder of the cassette (created if missing): one HAR 1.2 file per recording.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the proxy binds.")
@click.option("--port", default=8081, show_default=True, type=click.IntRange(*LIMITS["port"]),
              help="Port of the proxy; 0 picks a free one.")
@click.option("--allow-writes", is_flag=True,
              help="Forward every method (POST /v1/imports...). Default: only GET; others get 403.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256), help="Proxy threads.")
@click.option("--quiet", is_flag=True, help="No line per exchange.")
def record(environment, target, exports_target, out_dir, host, port, allow_writes, threads, quiet):
    """Record a client's traffic with the real API (or any server) to a cassette.

    Point the client at the proxy as it would point at the fake; every
    exchange is forwarded, answered unchanged and appended to a HAR file,
    without the API key (Authorization kept as a placeholder, cookies and
    secret-like parameters and fields filtered). Ctrl-C stops and closes the file.
    """
    try:  # deferred: urllib3 and harfile (the evidence extra) load only for a recording
        import harfile  # noqa: F401

        from .evidence.har import CassetteWriter
        from .evidence.record import RecordingProxy, routes_for, target_url
    except ImportError as exc:
        click.echo(f"userpilot-mock record needs the evidence extra: pip install 'userpilot-mock[evidence]' "
                   f"({exc.name})", err=True)
        sys.exit(2)
    from .server import make_app_server, run_server  # deferred: see above

    try:
        base = target_url(environment, target)
        routes = routes_for(environment, exports_target)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        label = environment or (urlsplit_host(base))
        path = folder / f"{stamp}-{label}.har"
        forwarding = base + "".join(f"; {prefix}/... to {where}" for prefix, where in routes)
        writer = CassetteWriter(path, comment=f"recorded from {forwarding} by userpilot-mock record")
    except OSError as exc:
        click.echo(f"userpilot-mock: cannot write to {folder}: {exc.strerror or exc}", err=True)
        sys.exit(2)
    proxy = RecordingProxy(base, writer, allow_writes=allow_writes, routes=routes)
    try:
        server = make_app_server(proxy, host, port, threads)
    except OSError as exc:
        writer.close()
        click.echo(f"userpilot-mock: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        sys.exit(1)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{server.effective_port}"
    click.echo(f"userpilot-mock {__version__} recording at {url} (forwarding to {forwarding})\n"
               f"  point the client at {url} (as at the fake); cassette: {path}\n"
               f"  {'every method forwarded (--allow-writes)' if allow_writes else 'read-only: only GET is forwarded'}"
               ". Ctrl-C stops.")
    sys.stdout.flush()
    if not quiet:
        _access_log("userpilot_mock.record", sys.stderr)
    try:
        run_server(server)
    finally:
        writer.close()
    click.echo(f"userpilot-mock: recorded {proxy.count} exchange(s) to {path}"
               + (f"; {proxy.refused} write(s) refused" if proxy.refused else ""))


@main.command()
@click.argument("cassettes", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="Where to write the profile (YAML).")
@click.option("--name", default=None, help="The profile's name (default: the file's stem).")
def calibrate(cassettes, out_path, name):
    """Fit the fake's model to recorded cassettes: write a profile.

    Every job followed over several polls gives its phase durations and
    processing rate; the answers give the failure share, list length, job
    types, bytes per row and the forms of the fields. A parameter seen too
    few times keeps its assumed default and says so. Serve the result with
    `userpilot-mock serve --profile FILE`.
    """
    from .evidence.calibrate import calibrate as fit  # deferred: only this command reads cassettes
    from .evidence.calibrate import profile_yaml
    from .evidence.har import CassetteError, read_cassettes

    try:
        exchanges = read_cassettes(cassettes)
    except CassetteError as exc:
        click.echo(f"userpilot-mock calibrate: {exc}", err=True)
        sys.exit(2)
    profile = fit(exchanges, name=name or Path(out_path).stem, sources=[Path(c).name for c in cassettes])
    try:
        Path(out_path).write_text(profile_yaml(profile), encoding="utf-8")
    except OSError as exc:
        click.echo(f"userpilot-mock calibrate: cannot write {out_path}: {exc.strerror or exc}", err=True)
        sys.exit(2)
    measured = profile.measured
    click.echo(f"userpilot-mock calibrate: {len(exchanges)} exchange(s), {profile.source['jobs_followed']} job(s) "
               f"followed; {len(measured)} parameter(s) measured, the others keep their defaults; wrote {out_path}")
    for section, params in profile.sections.items():
        for pname, param in params.items():
            if param.basis != "measured":  # too few observations, or none: the assumed default is kept
                click.echo(f"  kept the default: {section}.{pname} ({param.observations} observation(s)): "
                           f"{param.basis}")


@main.command()
@click.argument("cassettes", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--base-url", default=None, metavar="URL",
              help="Send the requests to the fake at URL (default: a fresh fake, in-process).")
@click.option("--profile", default=None, metavar="FILE", help="The in-process fake follows this profile.")
def diff(cassettes, base_url, profile):
    """Where the fake's answers differ in shape from recorded ones.

    Sends the cassettes' requests to the fake and compares status codes,
    fields, types, formats and headers; values that always vary (ids,
    times, request ids) never count. Exit 0: no difference, 1: differences,
    2: a cassette or profile that cannot be read, 3: --base-url unreachable.
    """
    from .config import SettingError  # deferred: only this command reads cassettes
    from .evidence.diff import run_diff
    from .evidence.har import CassetteError, read_cassettes

    if base_url is not None and profile is not None:
        raise click.UsageError("--profile is for the in-process fake; a fake at --base-url has its own")
    try:
        exchanges = read_cassettes(cassettes)
        report = run_diff(exchanges, base_url=base_url, profile=profile)
    except (CassetteError, SettingError) as exc:
        click.echo(f"userpilot-mock diff: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:
        click.echo(f"userpilot-mock diff: cannot reach {base_url}: {exc}", err=True)
        sys.exit(3)
    click.echo(report.render(), nl=False)
    sys.exit(report.exit_code)


def urlsplit_host(url: str) -> str:
    """``host`` or ``host-port`` of a URL, for a file name."""
    parts = urlsplit(url)
    return f"{parts.hostname}-{parts.port}" if parts.port else str(parts.hostname)


@main.command()
@click.option("--vendor", "which", flag_value="vendor", help="The vendor's document as published.")
@click.option("--admin", "which", flag_value="admin", help="The control API's document.")
def spec(which):
    """Print the kit spec (default), the vendor's document or the control API's."""
    from .spec import spec_text  # deferred: `--help` stays fast
    click.echo(spec_text(which or "kit"), nl=False)


if __name__ == "__main__":
    main()
