"""Settings of one fake, shared by the CLI, ``create_app``, ``MockServer`` and
the pytest plugin.

Standard library only at import (the pytest plugin imports it in every run);
checking settings loads what it needs on first use. The settings a reset may
also change (seed, jobs, now, frozen, speed) obey admin.yaml's
``ResetRequest``, checked through :mod:`mock_server.schemas`; the others'
bounds are :data:`LIMITS`, here once.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, fields, replace

DEFAULT_SEED = 20250519  # the day the real responses were captured
DEFAULT_JOBS = 25
DEFAULT_MAX_APPS = 1000
DEFAULT_JOURNAL_SIZE = 1000
#: Bytes the request journal may hold in all (its entries' estimated sizes).
DEFAULT_JOURNAL_BYTES = 16 * 1024 * 1024
#: Jobs the whole fake holds (every app's history, scenario jobs, jobs made
#: by imports and the control API): about 1-2 KB each, so ~200-400 MB at most.
DEFAULT_MAX_JOBS = 200_000
#: The environment variable of the control API's token (``serve --admin-token``),
#: which the handle and the pytest plugin send too.
ADMIN_TOKEN_ENV = "USERPILOT_MOCK_ADMIN_TOKEN"
#: A key printed in the start-up banner so a person can try the fake at once.
DEMO_API_KEY = "demo-api-key"


#: Bounds of the settings only a server has (inclusive), used by the CLI,
#: ``MockServer`` and the pytest plugin alike.
LIMITS = {"port": (0, 65535), "max_apps": (1, 10_000_000), "journal_size": (0, 10_000_000),
          "journal_bytes": (0, 1 << 40), "max_jobs": (1, 100_000_000)}
#: An admin token: visible ASCII, no white space (it is sent as ``Authorization: Bearer <token>``).
_ADMIN_TOKEN = re.compile(r"[\x21-\x7e]{1,1024}")
#: An origin ``--cors-origin`` accepts: ``scheme://host[:port]``, no path (RFC 6454).
_ORIGIN = re.compile(r"https?://[^/\s?#]+")


class SettingError(ValueError):
    """A setting the fake cannot run with: ``setting`` (its name, as a
    keyword of :class:`Settings`) and ``message`` (what is wrong), as data;
    ``str()`` is ``"<setting>: <message>"``."""

    def __init__(self, setting: str, message: str):
        super().__init__(f"{setting} {message}" if message.startswith("must ") else f"{setting}: {message}")
        self.setting = setting
        self.message = message


def check_whole(name: str, value, low: int, high: int) -> int:
    """``value`` if it is a whole number from ``low`` to ``high``, else
    SettingError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        free = " (0: a free port)" if name == "port" else ""
        raise SettingError(name, f"must be an integer from {low} to {high}{free}, got {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """Settings of a fake, final once checked (:meth:`build`).

    seed: int, drives all generated data. jobs: jobs per new app (>= 0;
    None: the profile's ``jobs.list_length``, 25 by default).
    now: start instant of the clock (UTC epoch seconds; None = real now).
    speed: clock speed (> 0). frozen: clock stopped until advanced.
    api_keys: keys accepted (empty = any non-empty key). public_url: base of
    ``links`` (None = the URL each client reached). max_apps: apps kept before
    the least recently used is forgotten. max_jobs: jobs the whole fake holds
    (least recently used apps forgotten first; a request that alone would
    pass it is a 400). journal_size: requests kept in the journal;
    journal_bytes: bytes it holds in all. scenario: a bundled scenario name
    or a path, loaded at start.
    latency: added to every API answer, ``"50-200ms"``/``"100ms"``/``"0.1s"``
    or ``(low_ms, high_ms)`` (None = none). error_rate: share (0..1) of API
    calls answered 503. rate_limit: per-app limit, ``"600/min"`` or
    ``(requests, window_seconds)``, or ``"documented"`` (None = none); while
    it is set, operations that declare a limit (the real-time calls, 600 per
    minute) count against theirs instead. See mock_server.backend.faults.
    admin_token: the control API then requires ``Authorization: Bearer
    <token>`` (None = no token). cors_origins: origins whose browsers may call
    the API (``("*",)``: any; empty: no CORS). listen_host: the address the
    server is bound to (None: unknown, as in-process, read as loopback); while
    it is a loopback address the control API refuses another ``Host``.
    profile: a calibrated profile (docs/evidence.md): a path to its YAML
    file, a parsed document or a :class:`~mock_server.backend.profile.Profile`
    (None = the assumed defaults); checked settings hold the Profile.
    replay: a cassette (HAR file path) whose recorded answers the fake
    serves for the requests it recorded; replay_strict: unrecorded
    requests get a 404 instead of the fake's own answer.
    """

    seed: int = DEFAULT_SEED
    jobs: int | None = None
    now: float | None = None
    speed: float = 1.0
    frozen: bool = False
    api_keys: tuple[str, ...] = ()
    public_url: str | None = None
    max_apps: int = DEFAULT_MAX_APPS
    journal_size: int = DEFAULT_JOURNAL_SIZE
    journal_bytes: int = DEFAULT_JOURNAL_BYTES
    max_jobs: int = DEFAULT_MAX_JOBS
    latency: str | tuple[float, float] | None = None
    error_rate: float = 0.0
    rate_limit: str | tuple[int, float] | None = None
    #: A bundled scenario name, a path to a scenario file, a parsed document or
    #: None (generated histories). Read once, when the backend starts.
    scenario: object = None
    admin_token: str | None = None
    cors_origins: tuple[str, ...] = ()
    listen_host: str | None = None
    profile: object = None
    replay: str | os.PathLike | None = None
    replay_strict: bool = False
    extra: dict = field(default_factory=dict)

    @classmethod
    def build(cls, base: Settings | None = None, **overrides) -> Settings:
        """Checked settings from an optional ``base`` and keyword overrides
        (``now`` may be ISO 8601; ``api_keys`` any iterable or one string;
        ``latency`` and ``rate_limit`` as their parsers take them). Raises
        TypeError for an unknown setting and :class:`SettingError`, naming
        the setting, for a bad value."""
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        for name in ("api_keys", "cors_origins"):
            if name in overrides:
                values = overrides[name] or ()
                overrides[name] = (values,) if isinstance(values, str) else tuple(values)
        return replace(base or cls(), **overrides).checked()

    def checked(self) -> Settings:
        """These settings with ``now``, ``latency``, ``rate_limit`` and
        ``profile`` in their parsed forms (epoch seconds, ``(low_ms,
        high_ms)``, ``(count, seconds)``, a Profile or None) and ``jobs``
        resolved. Raises SettingError naming the setting."""
        # deferred: the schemas and parsers load admin.yaml, not needed to import the settings
        from . import schemas
        from .backend.errors import ApiError
        from .backend.faults import check_error_rate, parse_latency, parse_rate_limit
        from .backend.profile import ProfileError, load_profile
        from .times import parse_instant

        try:
            profile = load_profile(self.profile)
        except ProfileError as exc:
            raise SettingError("profile", str(exc)) from None
        jobs = self.jobs
        if jobs is None:
            jobs = profile.value("jobs", "list_length") if profile is not None else DEFAULT_JOBS
        if self.replay is not None and not isinstance(self.replay, (str, os.PathLike)):
            raise SettingError("replay", f"must be the path of a HAR cassette, got {type(self.replay).__name__}")
        if self.replay_strict and self.replay is None:
            raise SettingError("replay_strict", "needs a cassette to replay (--replay CASSETTE)")

        now = self.now
        if now is not None:
            try:
                now = parse_instant(now)
            except ApiError as exc:
                raise SettingError("now", exc.message) from None
        defaults = Settings()
        # The defaults conform (tests/test_structure.py checks them): only a value given is checked, so that a
        # fake started with its defaults never loads jsonschema (~0.1 s of start-up).
        reset_like = {name: getattr(self, name) for name in ("seed", "jobs", "frozen", "speed")
                      if getattr(self, name) != getattr(defaults, name)
                      or type(getattr(self, name)) is not type(getattr(defaults, name))}
        for name, value in reset_like.items():
            if isinstance(value, float) and not math.isfinite(value):  # JSON has no NaN: no schema sees it
                raise SettingError(name, f"must be a finite number, got {value!r}")
        for path, sentence in schemas.problems("ResetRequest", reset_like) if reset_like else ():
            raise SettingError(str(path[0]) if path else "settings", sentence)
        for name in ("max_apps", "journal_size", "journal_bytes", "max_jobs"):
            check_whole(name, getattr(self, name), *LIMITS[name])
        if self.jobs is not None and self.jobs > self.max_jobs:
            raise SettingError("jobs", f"{self.jobs} jobs per app are more than the fake holds in all "
                                       f"(max_jobs {self.max_jobs}, --max-jobs)")
        if self.admin_token is not None and (not isinstance(self.admin_token, str)
                                             or not _ADMIN_TOKEN.fullmatch(self.admin_token)):
            raise SettingError("admin_token", "must be 1 to 1024 visible ASCII characters without spaces")
        for origin in self.cors_origins:
            if origin != "*" and (not isinstance(origin, str) or not _ORIGIN.fullmatch(origin)):
                raise SettingError("cors_origins", f"must be '*' or origins like http://localhost:3000 "
                                                   f"(scheme://host[:port], no path), got {origin!r}")
        if self.listen_host is not None and not isinstance(self.listen_host, str):
            raise SettingError("listen_host", f"must be an address or a host name, got {self.listen_host!r}")
        if any(not isinstance(key, str) or not key.strip() for key in self.api_keys):
            raise SettingError("api_keys", "every accepted API key must be a non-empty string")
        if self.public_url is not None and (not isinstance(self.public_url, str) or not
                                            self.public_url.startswith(("http://", "https://"))
                                            or len(self.public_url) < 9):
            raise SettingError("public_url", f"must be an absolute http(s) URL, got {self.public_url!r}")
        try:
            latency = parse_latency(self.latency)
        except ValueError as exc:
            raise SettingError("latency", str(exc)) from None
        try:
            rate_limit = parse_rate_limit(self.rate_limit)
        except ValueError as exc:
            raise SettingError("rate_limit", str(exc)) from None
        try:
            error_rate = check_error_rate(self.error_rate)
        except ValueError as exc:
            raise SettingError("error_rate", str(exc)) from None
        return replace(self, now=now, latency=latency, rate_limit=rate_limit, error_rate=error_rate, jobs=jobs,
                       profile=profile)
