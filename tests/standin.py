"""The stand-in for the real API in the evidence tests: a second fake with
deliberately different behaviour, made with the profile machinery itself.

Its jobs process at 600 rows per minute and stay 90 s in pending_refresh;
its times carry six digits of fractional seconds; its fixed headers have
other values (``cache-control: no-store``, ``server: nginx``) and its
``x-request-id`` is 32 characters. A polling session against it (a client
listing, reading every running job, and moving the stand-in's clock) is what
a user would record against the real API.
"""
from __future__ import annotations

import json

from mock_server import create_app

NOW = "2026-11-29T12:00:00Z"
#: What the stand-in does that the default fake does not (the planted differences).
RATE = 600
PENDING_REFRESH = 90
FRACTION_DIGITS = 6
HEADERS = {"cache-control": "no-store", "server": "nginx"}
REQUEST_ID_LENGTH = 32

PROFILE = {
    "profile": 1, "name": "stand-in",
    "jobs": {"rows_per_minute": {"value": RATE}, "pending_refresh_seconds": {"value": [PENDING_REFRESH] * 2}},
    "forms": {"time_fraction_digits": {"value": FRACTION_DIGITS}, "headers": {"value": HEADERS},
              "request_id_length": {"value": REQUEST_ID_LENGTH}},
}

#: Jobs in flight when the session starts (total_rows, seconds ago), plus the seeded history.
IN_FLIGHT = ((600, 1), (1200, 4), (1800, 10), (1500, 2), (1000, 6), (900, 0))
SCENARIO = {"name": "stand-in session", "history": 25,
            "jobs": [{"type": "import" if i % 2 else "export", "total_rows": rows, "started_ago": ago,
                      "filename": f"standin-{i}.{'csv' if i % 2 else 'ndjson'}"}
                     for i, (rows, ago) in enumerate(IN_FLIGHT)]}
KEY = "stand-in-session-key"


def standin(**settings):
    """The stand-in, in-process (frozen at NOW, the session's scenario)."""
    return create_app(profile=PROFILE, now=NOW, frozen=True, scenario=SCENARIO, **settings)


def polling_session(get, advance, *, step: float = 5.0, steps: int = 80) -> int:
    """A client's polling session: list, read each running job, let
    ``step`` seconds pass; ``steps`` times. ``get(path) -> (status, body)``
    sends a request with the key; ``advance(seconds)`` moves the clock.
    Returns the requests sent."""
    sent = 0
    for _ in range(steps):
        status, body = get("/v1/background_jobs")
        sent += 1
        jobs = json.loads(body) if status == 200 else []
        for job in jobs:
            if job["status"] not in ("completed", "failed"):
                get("/v1/background_jobs/" + job["job_id"])
                sent += 1
        advance(step)
    return sent


def wsgi_session(app, key: str = KEY, **kwargs) -> int:
    """:func:`polling_session` against a WSGI app (werkzeug's test client)."""
    from werkzeug.test import Client

    client = Client(app)
    headers = {"Authorization": f"Token {key}"}

    def get(path):
        answer = client.get(path, headers=headers)
        return answer.status_code, answer.get_data()

    def advance(seconds):
        client.post("/__admin/clock", json={"advance_seconds": seconds})

    return polling_session(get, advance, **kwargs)
