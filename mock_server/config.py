"""Settings of one fake, shared by the CLI, ``create_app`` and ``MockServer``.

No Flask here: importing this module is cheap.
"""
from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_SEED = 20250519  # the day the real responses were captured
DEFAULT_JOBS = 25
DEFAULT_MAX_APPS = 1000
DEFAULT_JOURNAL_SIZE = 1000
#: A key printed in the start-up banner so a person can try the fake at once.
DEMO_API_KEY = "demo-api-key"


@dataclass
class Settings:
    """Settings of a fake.

    seed: int, drives all generated data. jobs: jobs per new app (>= 0).
    now: start instant of the clock (UTC epoch seconds; None = real now).
    speed: clock speed (> 0). frozen: clock stopped until advanced.
    api_keys: keys accepted (empty = any non-empty key). public_url: base of
    ``links`` (None = the URL the request came to). max_apps: apps kept before
    the least recently used is forgotten. journal_size: requests kept in the
    journal. scenario: a bundled scenario name or a path, loaded at start.
    latency: added to every API answer, ``"50-200ms"``/``"100ms"``/``"0.1s"``
    or ``(low_ms, high_ms)`` (None = none). error_rate: share (0..1) of API
    calls answered 503. rate_limit: per-app limit, ``"600/min"`` or
    ``(requests, window_seconds)`` (None = none). See mock_server.backend.faults.
    """

    seed: int = DEFAULT_SEED
    jobs: int = DEFAULT_JOBS
    now: float | None = None
    speed: float = 1.0
    frozen: bool = False
    api_keys: tuple[str, ...] = ()
    public_url: str | None = None
    max_apps: int = DEFAULT_MAX_APPS
    journal_size: int = DEFAULT_JOURNAL_SIZE
    latency: str | tuple[float, float] | None = None
    error_rate: float = 0.0
    rate_limit: str | tuple[int, float] | None = None
    #: A bundled scenario name, a path to a scenario file, a parsed document or
    #: None (generated histories). Read once, when the backend starts.
    scenario: object = None
    extra: dict = field(default_factory=dict)

    def check(self) -> "Settings":
        """Raise ValueError, naming the setting, for a value the fake cannot
        run with; return self. (``now`` is already UTC epoch seconds here;
        ``latency``, ``rate_limit`` and ``scenario`` are checked where they
        are parsed.)"""
        def whole(name, low, high):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name}: must be a whole number from {low} to {high}, got {value!r}")

        whole("seed", -2**63, 2**63 - 1)
        whole("jobs", 0, 1_000_000)
        whole("max_apps", 1, 10_000_000)
        whole("journal_size", 0, 10_000_000)
        if not isinstance(self.frozen, bool):
            raise ValueError(f"frozen: must be true or false, got {self.frozen!r}")
        if any(not isinstance(key, str) or not key.strip() for key in self.api_keys):
            raise ValueError("api_keys: every accepted API key must be a non-empty string")
        if self.public_url is not None and (not isinstance(self.public_url, str) or not
                                            self.public_url.startswith(("http://", "https://"))
                                            or len(self.public_url) < 9):
            raise ValueError(f"public_url: must be an absolute http(s) URL, got {self.public_url!r}")
        rate = self.error_rate
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise ValueError(f"error_rate: must be a number from 0 to 1, got {rate!r}")
        return self
