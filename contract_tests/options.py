"""What a contract run is told: the options of ``userpilot-mock contract``,
of ``pytest --pyargs contract_tests`` and the environment variables both read.

Standard library only: the kit's pytest plugin (:mod:`contract_tests.plugin`)
imports this module in every pytest run of every project that installs the
kit (``add_options``), so it must stay cheap. Nothing here talks to a server.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from .masking import KeyMask

#: Environment variables shared by the CLI and the pytest path.
ENV_BASE_URL = "USERPILOT_BASE_URL"
ENV_ENVIRONMENT = "USERPILOT_ENVIRONMENT"
ENV_API_KEY = "USERPILOT_API_KEY"
ENV_EXPORTS_URL = "USERPILOT_EXPORTS_URL"

#: The real API's hosts (docs/domain.md, "The surface").
ENVIRONMENTS = ("analytex", "analytex-eu")
#: The exports host (the appex document's server; no EU variant is documented).
DEFAULT_EXPORTS_URL = "https://appex.userpilot.io"
SPECS = ("kit", "vendor")
ASSUMPTIONS = ("fail", "warn")
#: What the lifecycle checks do with a fake's clock: ``move`` it (frozen for the
#: run, advanced about a day, then let run again as it did) or ``keep`` it
#: (never touched: poll in real time, as against any other server).
CLOCKS = ("move", "keep")

#: Requests per second against anything that is not a fake, unless told otherwise.
DEFAULT_RATE_LIMIT = 5.0
#: Seconds between two polls of a server whose clock the suite cannot drive.
DEFAULT_POLL_INTERVAL = 5.0
#: The same for a fake whose clock the run keeps as it is (``--clock keep``):
#: short, as a fake answers at once and is not rate limited.
KEEP_CLOCK_POLL_INTERVAL = 1.0
#: Seconds to wait for a job the suite created (``--allow-writes``) to end,
#: against a server whose clock the suite cannot drive.
DEFAULT_MAX_WAIT = 120.0

#: How to give a key; the one line printed when the real API gets none.
GIVE_A_KEY = f"set {ENV_API_KEY} (or pass --api-key-file PATH); nothing was tested"
MISSING_KEY_MESSAGE = f"the real Userpilot API needs an API key: {GIVE_A_KEY}"


def missing_key_message(label: str | None = None) -> str:
    """The one line said when a target that is not a fake gets no key:
    the real API (``label`` None) by that name, any other server by its
    ``label`` (its URL, as given)."""
    if label is None:
        return MISSING_KEY_MESSAGE
    return f"{label} is not a fake (GET /__admin/health does not answer as one) and needs an API key: {GIVE_A_KEY}"


class UsageError(ValueError):
    """Options that contradict each other or an unknown value (exit 2)."""


class TargetError(RuntimeError):
    """The target cannot be reached, or needs a key it was not given (exit 3)."""


class MissingKey(TargetError):
    """A target that is not a fake was given no API key (exit 3; under
    pytest every test is skipped with the message)."""


class NoAnswer(TargetError):
    """A request of the suite got no answer. ``error``: the HTTP client's
    exception; ``reached``: the request was written to the target (the
    connection closed, was reset or timed out afterwards), rather than refused;
    ``why``: what happened, in a few words."""

    def __init__(self, message: str, *, error: BaseException, reached: bool, why: str):
        super().__init__(message)
        self.error = error
        self.reached = reached
        self.why = why


@dataclass
class ContractOptions:
    """One contract run, as the user asked for it.

    base_url: any server (wins over ``environment``); environment: the real
    API's ``analytex`` or ``analytex-eu``; neither: a fresh fake in-process.
    spec: ``kit`` (default) or ``vendor`` (the document as published, its
    known defects read from ``known_deviations.yaml``). max_examples / seed:
    Schemathesis generation (None: ``schemathesis.toml``'s, a random seed).
    allow_writes: send ``createImport`` to a target that is not a fake.
    assumptions: ``fail`` (assumed checks count as failures) or ``warn``.
    rate_limit: requests per second against targets that are not fakes
    (None: 5; 0: no limit). poll_interval / max_wait: seconds, when the suite
    must wait in real time (poll_interval None: 5, or 1 against a fake under
    ``clock="keep"``). clock: ``move`` a fake's clock through the lifecycle
    (default) or ``keep`` it as it is. quiet: no progress on stderr.
    operations: the operation ids (or ``METHOD /path``) to test, None for
    all. exports_url: where the exports operations (the paths under
    ``/api/v1/analytics/exports``) are sent; None: the base URL for a fake
    or any server (one fake serves both hosts), ``https://appex.userpilot.io``
    for ``environment``. api_key never appears in a repr.

    Internal: ``app``, a WSGI app tested as an in-process fake instead of
    a fresh one (tests); ``progress_stream``, where progress goes instead
    of stderr (the pytest path, tests).
    """

    base_url: str | None = None
    environment: str | None = None
    spec: str = "kit"
    max_examples: int | None = None
    seed: int | None = None
    junit: str | None = None
    allow_writes: bool = False
    assumptions: str = "fail"
    api_key: str | None = field(default=None, repr=False)
    rate_limit: float | None = None
    poll_interval: float | None = None
    max_wait: float = DEFAULT_MAX_WAIT
    operations: tuple[str, ...] | None = None
    clock: str = "move"
    quiet: bool = False
    exports_url: str | None = None
    app: object = field(default=None, repr=False)
    progress_stream: object = field(default=None, repr=False)

    def validated(self) -> ContractOptions:
        """A copy with environment variables applied and values checked.

        Raises UsageError for an unknown spec, environment or assumptions
        mode, a base URL that is not http(s), or negative numbers.
        """
        opts = replace(self)
        if opts.base_url is None and opts.app is None:
            opts.base_url = os.environ.get(ENV_BASE_URL) or None
        if opts.environment is None and opts.base_url is None and opts.app is None:
            opts.environment = os.environ.get(ENV_ENVIRONMENT) or None
        if opts.api_key is None:
            opts.api_key = os.environ.get(ENV_API_KEY) or None
        if opts.exports_url is None:
            opts.exports_url = os.environ.get(ENV_EXPORTS_URL) or None
        if opts.spec not in SPECS:
            raise UsageError(f"--spec must be one of {', '.join(SPECS)}, not {opts.spec!r}")
        if opts.clock not in CLOCKS:
            raise UsageError(f"--clock must be one of {', '.join(CLOCKS)}, not {opts.clock!r}")
        if opts.assumptions not in ASSUMPTIONS:
            raise UsageError(f"--assumptions must be one of {', '.join(ASSUMPTIONS)}, not {opts.assumptions!r}")
        if opts.environment is not None and opts.environment not in ENVIRONMENTS:
            raise UsageError(f"--environment must be one of {', '.join(ENVIRONMENTS)}, "
                             f"not {opts.environment!r}")
        if opts.base_url is not None:
            opts.base_url = opts.base_url.rstrip("/")
            if not opts.base_url.startswith(("http://", "https://")):
                shown = KeyMask([opts.api_key]).text(repr(opts.base_url))  # a URL may hold the key
                raise UsageError(f"--base-url must start with http:// or https://, not {shown}")
        if opts.exports_url is not None:
            opts.exports_url = opts.exports_url.rstrip("/")
            if not opts.exports_url.startswith(("http://", "https://")):
                shown = KeyMask([opts.api_key]).text(repr(opts.exports_url))
                raise UsageError(f"--exports-url must start with http:// or https://, not {shown}")
        for name in ("max_examples", "rate_limit"):
            value = getattr(opts, name)
            if value is not None and value < 0:
                raise UsageError(f"--{name.replace('_', '-')} must not be negative")
        if opts.max_examples == 0:
            raise UsageError("--max-examples must be at least 1")
        if (opts.poll_interval is not None and opts.poll_interval < 0) or opts.max_wait < 0:
            raise UsageError("--poll-interval and --max-wait must not be negative")
        return opts


def read_key_file(path: str) -> str:
    """The API key in ``path`` (first line, stripped). Raises UsageError
    when the file cannot be read or is empty; the message never holds the key."""
    try:
        with open(path, encoding="utf-8") as handle:
            key = handle.readline().strip()
    except OSError as exc:
        raise UsageError(f"cannot read the API key file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"the API key file {path} is not UTF-8 text") from None
    if not key:
        raise UsageError(f"the API key file {path} is empty")
    return key


# --------------------------------------------------------------------------- pytest

#: (option without the ``--userpilot-`` prefix, dest, help, type, choices)
PYTEST_OPTIONS = (
    ("base-url", "userpilot_contract_base_url",
     f"Contract tests: test the server at this URL (env {ENV_BASE_URL}).", str, None),
    ("environment", "userpilot_contract_environment",
     f"Contract tests: test the real API, analytex or analytex-eu (env {ENV_ENVIRONMENT}; "
     f"key from {ENV_API_KEY}).", str, ENVIRONMENTS),
    ("spec", "userpilot_contract_spec",
     "Contract tests: the kit spec (default) or the vendor's document as published.", str, SPECS),
    ("assumptions", "userpilot_contract_assumptions",
     "Contract tests: a contradicted assumption fails (default) or warns.", str, ASSUMPTIONS),
    ("allow-writes", "userpilot_contract_allow_writes",
     "Contract tests: send the writes (createImport, bulk identify, the real-time calls, an export "
     "trigger) to a target that is not a fake.", bool, None),
    ("max-examples", "userpilot_contract_max_examples",
     "Contract tests: examples per operation and phase (default: schemathesis.toml's).", int, None),
    ("contract-seed", "userpilot_contract_seed",
     "Contract tests: Schemathesis seed (and the in-process fake's data seed).", int, None),
    ("api-key-file", "userpilot_contract_api_key_file",
     f"Contract tests: read the API key from this file instead of {ENV_API_KEY}.", str, None),
    ("rate-limit", "userpilot_contract_rate_limit",
     f"Contract tests: requests/s against targets that are not fakes (default {DEFAULT_RATE_LIMIT:g}; "
     "0: none).", float, None),
    ("operation", "userpilot_contract_operations",
     "Contract tests: test only this operation (an operation id of the kit spec, e.g. listJobs, "
     "triggerExport; repeatable).", list, None),
    ("poll-interval", "userpilot_contract_poll_interval",
     f"Contract tests: seconds between polls of a target whose clock the suite does not move "
     f"(default {DEFAULT_POLL_INTERVAL:g}; {KEEP_CLOCK_POLL_INTERVAL:g} for a fake under "
     "--userpilot-clock keep).", float, None),
    ("clock", "userpilot_contract_clock",
     "Contract tests: move a fake's clock through the lifecycle checks (default; restored "
     "afterwards) or keep it as it is and poll in real time.", str, CLOCKS),
    ("quiet", "userpilot_contract_quiet",
     "Contract tests: no progress lines on stderr.", bool, None),
    ("exports-url", "userpilot_contract_exports_url",
     f"Contract tests: where the exports operations go (env {ENV_EXPORTS_URL}; default: the base URL, "
     f"{DEFAULT_EXPORTS_URL} for the real API).", str, None),
)


def add_options(parser) -> None:
    """Register the contract suite's ``--userpilot-*`` options on a pytest
    parser (called by the pytest11 plugin, :mod:`contract_tests.plugin`)."""
    group = parser.getgroup("userpilot", "userpilot-mock (fake Userpilot background-jobs API)")
    for name, dest, help_text, kind, choices in PYTEST_OPTIONS:
        if kind is bool:
            group.addoption(f"--userpilot-{name}", dest=dest, action="store_true", default=False,
                            help=help_text)
        elif kind is list:
            group.addoption(f"--userpilot-{name}", dest=dest, action="append", default=None,
                            help=help_text)
        else:
            group.addoption(f"--userpilot-{name}", dest=dest, default=None, type=kind,
                            choices=choices, help=help_text)


def options_from_pytest(config) -> ContractOptions:
    """ContractOptions from a pytest config (options registered by
    :func:`add_options`; environment variables fill the rest)."""
    def get(dest):
        try:
            return config.getoption(dest)
        except ValueError:  # not registered: no contract extra, or -p no:contract_tests.plugin
            return None

    opts = ContractOptions(
        base_url=get("userpilot_contract_base_url"),
        environment=get("userpilot_contract_environment"),
        spec=get("userpilot_contract_spec") or "kit",
        assumptions=get("userpilot_contract_assumptions") or "fail",
        allow_writes=bool(get("userpilot_contract_allow_writes")),
        max_examples=get("userpilot_contract_max_examples"),
        seed=get("userpilot_contract_seed"),
        rate_limit=get("userpilot_contract_rate_limit"),
        clock=get("userpilot_contract_clock") or "move",
        quiet=bool(get("userpilot_contract_quiet")),
        exports_url=get("userpilot_contract_exports_url"),
    )
    operations = get("userpilot_contract_operations")
    if operations:
        opts.operations = tuple(operations)
    poll = get("userpilot_contract_poll_interval")
    if poll is not None:
        opts.poll_interval = poll
    key_file = get("userpilot_contract_api_key_file")
    if key_file:
        opts.api_key = read_key_file(key_file)
    return opts


__all__ = [
    "ContractOptions", "UsageError", "TargetError", "MissingKey", "NoAnswer", "add_options",
    "options_from_pytest", "read_key_file", "missing_key_message", "MISSING_KEY_MESSAGE", "ENVIRONMENTS",
    "SPECS", "ASSUMPTIONS", "CLOCKS", "DEFAULT_EXPORTS_URL", "ENV_EXPORTS_URL",
]
