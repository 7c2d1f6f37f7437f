"""``create_app``: the fake as a Flask app, generated from the kit spec.

One route per operation of the spec (Werkzeug's router, in the pipeline);
operations a job family handles use its handler, any other is answered with
schema-valid data from its response schema. A request to the API passes the
stages declared below, in order; the control API (``/__admin/``) is the Flask
app's own blueprint. Every error is in the vendor's ErrorResponse shape.
"""
from __future__ import annotations

from pathlib import Path

from flask import Flask

from ..backend.store import Store
from ..config import Settings
from ..families import error_codes, handlers, job_types
from ..spec import load_spec, load_spec_file
from .control import register_control_api
from .fake import Fake
from .files import Files
from .front import Front
from .pipeline import Pipeline
from .stages import (
    Authenticate,
    Cors,
    FaultRules,
    Observe,
    Operate,
    Preference,
    RateLimit,
    Record,
    Replay,
    Route,
    ServerLatency,
)


def create_app(settings: Settings | None = None, *, spec: dict | str | Path | None = None,
               store: Store | None = None, server_adds_server_header: bool = False, api_slots: int | None = None,
               **overrides) -> Flask:
    """The fake as a Flask (WSGI) app.

    ``settings`` (:class:`~mock_server.config.Settings`) and keyword
    overrides (``seed``, ``jobs``, ``now``, ``speed``, ``frozen``,
    ``api_keys``, ``public_url``, ``max_apps``, ...) configure it, final once
    it returns; ``spec`` replaces the bundled kit spec (a dict or a path) and
    every operation in it is served; ``profile`` (a setting: a path, a
    document or a Profile) the calibrated profile it follows; ``replay`` (a
    setting: a cassette path) recorded answers it serves; ``store`` is where its state lives
    (default: memory; :func:`mock_server.backend.sqlite_store.open_store` for a
    file). ``server_adds_server_header``: the WSGI server sends ``server:
    Cowboy`` itself, so the app must not. ``api_slots``: API requests
    answered at once (the server's ``--threads``; None: no bound; the
    control API never waits for one). The state is
    ``app.extensions["userpilot"]`` (a :class:`~.fake.Fake`). Raises
    TypeError for an unknown setting, :class:`~mock_server.config.SettingError`
    for a bad value.
    """
    settings = Settings.build(settings, **overrides)
    if spec is None:
        spec_doc = load_spec("kit")
    elif isinstance(spec, dict):
        spec_doc = spec
    else:
        spec_doc = load_spec_file(spec)
    fake = Fake.build(settings, spec_doc, handlers(), store=store, add_server_header=not server_adds_server_header,
                      error_codes=error_codes(), job_types=job_types())
    backend = fake.backend

    route = Route(fake.operations)
    cors = [Cors(settings.cors_origins, route)] if settings.cors_origins else []
    api = Pipeline(fake, [
        ServerLatency(backend.faults),            # --latency, before any API answer
        *cors,                                    # --cors: preflights before authentication, CORS headers
        route,                                    # 404 unknown path, 405 wrong method
        Authenticate(),                           # 401
        RateLimit(backend.faults),                # 429 past --rate-limit
        Preference(fake.answers),                 # Prefer / __code / __example
        FaultRules(backend.faults, fake.answers),  # fault rules, --error-rate
        *([Replay(fake.replay, settings.replay_strict, tuple(k for k, _v in backend.forms.headers))]  # --replay
          if fake.replay is not None else []),
        Operate(),                                # the operation
        Record(backend.journal, fake.request_rules),  # the request journal
        Observe(backend.coverage),                # what the client got, for the coverage of its tests
    ])

    app = Flask("mock_server")
    app.url_map.merge_slashes = False  # `//` is a 404 in the error shape, never a redirect built from Host
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["userpilot"] = fake
    register_control_api(app)
    app.wsgi_app = Front(api, app.wsgi_app, fake.add_server_header,  # type: ignore[method-assign]
                         api_slots, Files(fake), backend.forms)
    return app


__all__ = ["create_app"]
