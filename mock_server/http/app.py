"""``create_app``: the Flask app generated from the kit spec.

At start-up one route is registered per operation of the spec; operations
with a domain handler use it, any other is answered with schema-valid data
from its response schema. Order of answers: unknown path 404, wrong method
405 (with ``Allow``), missing/empty/non-``Token`` Authorization 401, then the
operation. Every error is in the vendor's ErrorResponse shape.
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import replace
from pathlib import Path

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from ..backend.clock import check_speed, parse_instant
from ..backend.errors import ApiError, BadRequest, Unauthorized
from ..backend.models import Backend
from ..config import Settings
from ..spec import api_key_scheme, load_spec, load_spec_file, operations
from . import handlers as handlers_module
from .generic import generic_answer
from .render import APP_TOKEN_KEY, BASE_HEADERS, SERVER_HEADER, STATUS_LINES, T0_KEY, encode, error_response, json_response, request_id

access_log = logging.getLogger("userpilot_mock.access")

_PATH_PARAM = re.compile(r"\{([^{}]+)\}")
_AUTH = re.compile(r"\s*token\s+(\S(?:.*\S)?)\s*$", re.IGNORECASE | re.DOTALL)


class Operation:
    """One operation of the spec: ``operation_id``, ``method`` (upper case),
    ``path`` (OpenAPI template), ``spec`` (the Operation Object),
    ``secured`` (an API key is required), ``generic`` (status, body) for
    operations without a domain handler."""

    __slots__ = ("operation_id", "method", "path", "spec", "secured", "generic", "handler")

    def __init__(self, operation_id, method, path, spec, secured, handler, generic):
        self.operation_id = operation_id
        self.method = method
        self.path = path
        self.spec = spec
        self.secured = secured
        self.handler = handler
        self.generic = generic


class FakeState:
    """What the HTTP layer holds for one fake: the ``backend``, the parsed
    ``spec`` and its ``operations`` (operationId -> :class:`Operation`), and
    ``before_operation`` hooks ``hook(state, operation, app) -> Response|None``
    run after authentication (faults, rate limits)."""

    def __init__(self, backend: Backend, spec: dict, server_adds_server_header: bool):
        self.backend = backend
        self.spec = spec
        self.operations: dict[str, Operation] = {}
        self.before_operation: list = []
        self.server_adds_server_header = server_adds_server_header


def api_key_from_header(value: str | None) -> str:
    """The API key in ``Authorization: Token <API key>`` (scheme word
    case-insensitive: older vendor pages write ``token``). Raises
    Unauthorized for a missing, empty or other-scheme header."""
    if not value or not value.strip():
        raise Unauthorized("Invalid API key or insufficient permissions",
                           "missing Authorization header: send 'Authorization: Token <API key>'",
                           error_code="missing_api_key")
    match = _AUTH.match(value)
    if not match:
        raise Unauthorized("Invalid API key or insufficient permissions",
                           "the Authorization header must be 'Token <API key>'",
                           error_code="invalid_authorization")
    return match.group(1)


def _flask_rule(path: str) -> str:
    return _PATH_PARAM.sub(lambda m: f"<{m.group(1)}>", path)


def build_settings(settings: Settings | None = None, **overrides) -> Settings:
    """Settings from an optional base and keyword overrides (``now`` may be
    ISO 8601; ``api_keys`` any iterable). Raises TypeError for an unknown
    setting and ValueError, naming the setting, for a bad value."""
    settings = replace(settings) if settings else Settings()
    unknown = set(overrides) - set(Settings.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    if "api_keys" in overrides:
        keys = overrides["api_keys"] or ()
        overrides["api_keys"] = (keys,) if isinstance(keys, str) else tuple(keys)
    settings = replace(settings, **overrides)
    try:
        if settings.now is not None:
            settings.now = parse_instant(settings.now)
        check_speed(settings.speed)
    except ApiError as exc:
        name = "now" if "speed" not in exc.message else "speed"
        raise ValueError(f"{name}: {exc.message}") from None
    return settings.check()


def create_app(settings: Settings | None = None, *, spec: dict | str | Path | None = None,
               server_adds_server_header: bool = False, **overrides) -> Flask:
    """The fake as a Flask (WSGI) app.

    ``settings`` (:class:`~mock_server.config.Settings`) and keyword
    overrides (``seed``, ``jobs``, ``now``, ``speed``, ``frozen``,
    ``api_keys``, ``public_url``, ``max_apps``, ...) configure it; ``spec``
    replaces the bundled kit spec (a dict or a path) and every operation in it
    is served. ``server_adds_server_header``: the WSGI server sends
    ``server: Cowboy`` itself (waitress with ``ident``), so the app must not.
    The backend is ``app.extensions["userpilot"].backend``.
    """
    settings = build_settings(settings, **overrides)
    if settings.public_url is None:
        settings.public_url = "http://localhost"
    if spec is None:
        spec_doc = load_spec("kit")
    elif isinstance(spec, dict):
        spec_doc = spec
    else:
        spec_doc = load_spec_file(spec)

    backend = Backend(settings)
    state = FakeState(backend, spec_doc, server_adds_server_header)
    app = Flask("mock_server")
    app.extensions["userpilot"] = state
    app.json.sort_keys = False

    for path, method, op in operations(spec_doc):
        operation_id = op.get("operationId") or f"{method.upper()} {path}"
        handler = handlers_module.HANDLERS.get(operation_id)
        operation = Operation(operation_id, method.upper(), path, op, api_key_scheme(spec_doc, op) is not None,
                              handler, None if handler else generic_answer(spec_doc, op))
        state.operations[operation_id] = operation
        app.add_url_rule(_flask_rule(path), endpoint=operation_id, view_func=_make_view(state, operation),
                         methods=[method.upper()], provide_automatic_options=False)

    from .admin import admin_blueprint
    app.register_blueprint(admin_blueprint)
    from .journal import install_journal
    install_journal(app, state)
    _install_error_handlers(app)
    app.wsgi_app = RealApiHeaders(app.wsgi_app, not server_adds_server_header)
    from .faults import install_faults
    install_faults(app, state)  # rate limit, Prefer, fault rules, latency; /__admin/faults
    return app


def _make_view(state: FakeState, operation: Operation):
    backend = state.backend

    def view(**path_params):
        app = None
        if operation.secured:
            app = backend.authenticate(api_key_from_header(request.headers.get("Authorization")))
            request.environ[APP_TOKEN_KEY] = app.app_token
        for hook in state.before_operation:
            response = hook(state, operation, app)
            if response is not None:
                return response
        if operation.handler is not None:
            return operation.handler(state, app, **path_params)
        status, body = operation.generic
        if body is None:
            return json_response(b"", status)
        return json_response(encode(body), status)

    view.__name__ = operation.operation_id
    return view


def _install_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def on_api_error(error: ApiError):
        return error_response(error)

    @app.errorhandler(HTTPException)
    def on_http_exception(error: HTTPException):
        status = error.code or 500
        headers = {}
        if status == 405:
            allowed = sorted(getattr(error, "valid_methods", None) or [])
            headers["Allow"] = ", ".join(allowed)
            message = f"Method {request.method} is not allowed on this path"
        elif status == 404:
            message = f"No operation at {request.path}"
        else:
            message = error.description or error.name
        return error_response(ApiError(message, error.description or message, status=status,
                                       error=error.name,
                                       error_code=error.name.lower().replace(" ", "_"),
                                       headers=headers))

    @app.errorhandler(Exception)
    def on_unexpected(error: Exception):  # a bug of ours: still the error shape
        logging.getLogger("userpilot_mock").exception("unexpected error")
        return error_response(ApiError("Internal error in userpilot-mock", type(error).__name__,
                                       status=500, error="Internal Server Error",
                                       error_code="internal_error"))


class RealApiHeaders:
    """WSGI middleware around the Flask app: every answer gets the headers
    the real API sends (``cache-control``, ``server: Cowboy`` unless the WSGI
    server sends it, a 20-character ``x-request-id``; docs/domain.md), its status
    line written as Cowboy writes it ("401 Unauthorized", where Werkzeug
    upper-cases), and an access log line (apps by token, never the key).

    Done here rather than in Flask hooks: appending to the WSGI header list
    costs a fraction of setting Werkzeug headers one by one, on every request.
    """

    def __init__(self, wsgi_app, add_server_header: bool):
        self.wsgi_app = wsgi_app
        self.static = tuple(BASE_HEADERS) + ((SERVER_HEADER,) if add_server_header else ())

    def __call__(self, environ, start_response):
        t0 = environ[T0_KEY] = time.perf_counter()
        static = self.static

        def start(status, headers, exc_info=None):
            if not status.startswith("200"):
                status = STATUS_LINES.get(int(status[:3]), status)
            headers.extend(static)
            headers.append(("x-request-id", request_id()))
            if access_log.isEnabledFor(logging.INFO):
                access_log.info("%s %s %s %s %s %.1fms", environ.get("REMOTE_ADDR") or "-",
                                environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), status[:3],
                                environ.get(APP_TOKEN_KEY, "-"), (time.perf_counter() - t0) * 1000)
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)


def read_json_body(required: bool = False):
    """The request's JSON body (None when empty and not ``required``).
    Raises BadRequest for malformed JSON, bad UTF-8 or a missing body."""
    from ..backend import jsonutil
    raw = request.get_data(cache=True)
    if not raw.strip():
        if required:
            raise BadRequest("a JSON body is required")
        return None
    try:
        return jsonutil.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("the body is not valid JSON", str(exc)) from None
    except RecursionError:
        raise BadRequest("the body is not valid JSON", "nested too deeply") from None
