"""Faults on demand, HTTP side: ``Prefer`` (Prism's convention), injected
errors, the two body faults, latency, rate limits, and the control API under
``/__admin/faults``.

Order of evaluation for an API call (the foundation's routing and
authentication come first): unknown path/method 404/405, authentication 401,
then here: rate limit 429, ``Prefer`` / ``__code`` / ``__example``, fault
rules and ``--error-rate``, and only then the operation. ``--latency`` is
slept before any API answer (401 and 404 included); a rule's latency before
the answer of the calls it fires on. The decisions themselves (rules,
counting, the fault generator, rate-limit windows) live in
:mod:`mock_server.backend.faults`.
"""
from __future__ import annotations

import re
import time

from flask import Blueprint, Response, current_app, request
from werkzeug.http import HTTP_STATUS_CODES

from ..backend.errors import ApiError, BadRequest
from ..backend.faults import DEFAULT_RETRY_AFTER, Faults
from ..spec import resolve
from .generic import example_for
from .render import JSON_TYPE, encode, error_response, json_response

ADMIN_PREFIX = "/__admin"
#: The vendor's message for 401 (docs/domain.md, "The surface": createImport's documented 401).
_MESSAGES = {401: "Invalid API key or insufficient permissions"}
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
#: One preference of RFC 7240: ``token [= word] *(; parameter)``, then a
#: comma or the end.
_PREFERENCE = re.compile(
    rf'[\s,]*({_TOKEN})(?:\s*=\s*({_QUOTED}|[^\s,;"]*))?\s*((?:;(?:[^,"]|{_QUOTED})*)?)\s*(?:,|$)')


# -- Prefer --------------------------------------------------------------------
def parse_prefer(text: str) -> dict[str, str | None]:
    """The preferences of a ``Prefer`` header value: lower-cased name ->
    value (unquoted; None when given without one). The first of repeated
    names wins (RFC 7240 section 2); parameters after ``;`` are ignored.
    Raises BadRequest for text that is not a list of preferences."""
    prefs: dict[str, str | None] = {}
    pos, end = 0, len(text)
    while pos < end:
        if not text[pos:].strip(" \t,"):
            break
        match = _PREFERENCE.match(text, pos)
        if match is None or match.end() == pos:
            raise BadRequest(f"unparseable Prefer header: {text!r}",
                             "expected preferences like 'code=429' or 'example=NAME', separated by commas",
                             error_code="bad_prefer")
        name, value = match.group(1).lower(), match.group(2)
        if value is not None and value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        prefs.setdefault(name, value)
        pos = match.end()
    return prefs


def _responses(op_spec: dict) -> dict:
    """The operation's responses keyed by upper-case strings ("200", "4XX")."""
    return {str(code).upper(): response for code, response in (op_spec.get("responses") or {}).items()}


def _documented_codes(op_spec: dict) -> set[str]:
    return set(_responses(op_spec))


def _response_spec(spec: dict, op_spec: dict, status: int):
    responses = _responses(op_spec)
    for key in (str(status), f"{status // 100}XX"):
        if key in responses:
            return resolve(spec, responses[key])
    return None


def _json_media(response: dict | None) -> dict | None:
    for media_type, media in ((response or {}).get("content") or {}).items():
        if "json" in media_type:
            return media or {}
    return None


def _named_examples(spec: dict, response: dict | None) -> dict:
    media = _json_media(response) or {}
    return {name: resolve(spec, example) for name, example in (media.get("examples") or {}).items()}


def check_status_preference(op_spec: dict, value, where: str) -> int:
    """The status code a ``code`` preference names: three digits, 400-599 or
    one of the operation's documented codes. Raises BadRequest otherwise."""
    if value is None or not re.fullmatch(r"[1-5]\d\d", value.strip()):
        raise BadRequest(f"{where} must be an HTTP status code such as 404 or 429, got {value!r}",
                         error_code="bad_prefer")
    status = int(value)
    documented = _documented_codes(op_spec)
    if not (400 <= status <= 599 or str(status) in documented or f"{status // 100}XX" in documented):
        codes = ", ".join(sorted(documented)) or "none"
        raise BadRequest(f"{where} {status} is neither an error code (400-599) nor documented "
                         f"for this operation", f"documented: {codes}", error_code="bad_prefer")
    return status


class Answers:
    """Builds the answers of injected statuses from the kit spec: the
    operation's documented response where it has one (a named or inline
    example, else the ErrorResponse shape with the documented description
    as message, else a value generated from its schema), else a generic
    answer in the error shape."""

    def __init__(self, spec: dict, operations: dict):
        self.spec = spec
        self.operations = operations
        self._documented: dict = {}

    def _documented_body(self, operation, status: int):
        """(kind, value) for a documented status: ("example", value),
        ("error", (label, message)) or ("schema", value); None when
        undocumented or without a JSON body."""
        key = (operation.operation_id, status)
        if key not in self._documented:
            response = _response_spec(self.spec, operation.spec, status)
            media = _json_media(response)
            found = None
            if media is not None:
                examples = _named_examples(self.spec, response)
                schema = resolve(self.spec, media.get("schema") or {})
                if examples:
                    found = ("example", next(iter(examples.values())).get("value"))
                elif "example" in media:
                    found = ("example", media["example"])
                elif "errors" in (schema.get("properties") or {}):
                    label, _, message = (response.get("description") or "").partition(" - ")
                    found = ("error", (label.strip(), message.strip()))
                else:
                    found = ("schema", example_for(self.spec, schema))
            self._documented[key] = found
        return self._documented[key]

    def error(self, operation, status: int, source: str, retry_after: int | None = None) -> Response:
        """The answer of an injected ``status`` for ``operation``; ``source``
        says what injected it (in ``details``). A 429 always carries
        ``Retry-After``; a 405 ``Allow``."""
        reason = HTTP_STATUS_CODES.get(status, "Error")
        headers = {}
        if status == 429 and retry_after is None:
            retry_after = DEFAULT_RETRY_AFTER
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        if status == 405:
            headers["Allow"] = ", ".join(sorted({op.method for op in self.operations.values()
                                                 if op.path == operation.path}))
        documented = self._documented_body(operation, status)
        if documented is not None and documented[0] != "error":
            return json_response(encode(documented[1]), status, headers)
        message = _MESSAGES.get(status, reason)
        if documented is not None:
            message = documented[1][1] or message
        details = f"injected by userpilot-mock ({source})"
        error_code = re.sub(r"[^a-z0-9]+", "_", reason.lower()).strip("_") or "error"
        return error_response(ApiError(message, details, status=status, error=reason,
                                       error_code=error_code, headers=headers))

    def example(self, operation, name: str, status: int | None) -> Response:
        """The named example ``name`` of ``operation`` (in the response of
        ``status`` when given, else the first response that has it). Raises
        BadRequest listing the names it has when it has no such example."""
        responses = _responses(operation.spec)
        codes = list(responses)
        if status is not None:
            codes = [c for c in codes if c in (str(status), f"{status // 100}XX")]
        codes.sort(key=lambda c: (not c.startswith("2"), c))
        names = []
        for code in codes:
            examples = _named_examples(self.spec, resolve(self.spec, responses[code]))
            if name in examples:
                answer = status if status is not None else (int(code) if code.isdigit() else 200)
                headers = {"Preference-Applied": f"example={name}"}
                if answer == 429:
                    headers["Retry-After"] = str(DEFAULT_RETRY_AFTER)
                return json_response(encode(examples[name].get("value")), answer, headers)
            names.extend(n for n in examples if n not in names)
        where = f" in its {status} response" if status is not None else ""
        raise BadRequest(f"{operation.operation_id} has no example named {name!r}{where}",
                         f"examples it has: {', '.join(names) if names else 'none'}",
                         error_code="unknown_example")


def _preferences(operation) -> tuple[int | None, str | None, str]:
    """(status, example name, label) asked by ``Prefer`` or, failing that,
    the ``__code`` / ``__example`` query parameters. Raises BadRequest."""
    status = example = None
    label = ""
    header = request.environ.get("HTTP_PREFER")
    if header:
        prefs = parse_prefer(header)
        if "code" in prefs:
            status = check_status_preference(operation.spec, prefs["code"], "Prefer code")
            label = f"Prefer: code={status}"
        if "example" in prefs:
            example = prefs["example"]
            if not example:
                raise BadRequest("Prefer example needs a name, e.g. example=empty", error_code="bad_prefer")
    if "__" in request.environ.get("QUERY_STRING", ""):
        args = request.args
        if status is None and "__code" in args:
            status = check_status_preference(operation.spec, args.get("__code"), "__code")
            label = f"__code={status}"
        if example is None and "__example" in args:
            example = args.get("__example")
            if not example:
                raise BadRequest("__example needs a name", error_code="bad_prefer")
    return status, example, label


# -- body faults ---------------------------------------------------------------
def malformed_response_chunk(status: int, body: bytes) -> Response:
    """MALFORMED_RESPONSE_CHUNK: the operation's answer (``status``, a 200
    for a good request) declaring ``Content-Length`` of the whole ``body``
    but sending only its first half; waitress then closes the connection
    (the client sees an incomplete read)."""
    response = Response(body[: len(body) // 2], status=status, content_type=JSON_TYPE)
    response.headers["Content-Length"] = str(len(body))
    return response


def random_data_then_close(data: bytes) -> Response:
    """RANDOM_DATA_THEN_CLOSE: a 200 "JSON" answer of ``data`` (bytes that
    are not JSON), streamed without a length so that waitress closes the
    connection after it."""
    return Response(iter([data]), status=200, content_type=JSON_TYPE)


# -- the hook ------------------------------------------------------------------
def before_operation(state, operation, app):
    """The ``FakeState.before_operation`` hook: rate limit, ``Prefer``,
    fault rules, ``--error-rate`` (in that order). Returns the answer that
    replaces the operation's, or None to let it run."""
    faults: Faults = state.faults
    environ = request.environ
    if not faults.active and "HTTP_PREFER" not in environ and "__" not in environ.get("QUERY_STRING", ""):
        return None
    app_token = app.app_token if app is not None else None
    answers: Answers = state.fault_answers
    wait = faults.rate_check(app_token)
    if wait is not None:
        limit, window = faults.rate_limit
        return error_response(ApiError(
            f"Rate limit exceeded: at most {limit} requests per {window:g} seconds",
            f"retry after {wait} seconds", status=429, error="Too Many Requests",
            error_code="rate_limited", headers={"Retry-After": str(wait)}))
    status, example, label = _preferences(operation)
    if example is not None:
        return answers.example(operation, example, status)
    if status is not None:
        if status < 400:  # a documented success: the operation's own answer
            return None
        response = answers.error(operation, status, label)
        response.headers["Preference-Applied"] = f"code={status}"
        return response
    decision = faults.decide(operation.operation_id, app_token)
    if decision is None:
        return None
    if decision.latency_ms > 0:
        time.sleep(decision.latency_ms / 1000.0)
    if decision.status is not None:
        return answers.error(operation, decision.status, decision.source, decision.retry_after)
    if decision.fault == "MALFORMED_RESPONSE_CHUNK":
        return malformed_response_chunk(*_operation_answer(state, operation, app))
    if decision.fault == "RANDOM_DATA_THEN_CLOSE":
        return random_data_then_close(faults.random_bytes(64 + faults.rng.randrange(448)))
    return None


def _operation_answer(state, operation, app) -> tuple[int, bytes]:
    """The status and body the operation answers this request with (it runs, side
    effects included: a faulted createImport still creates its job, as a
    real server whose answer broke on the way would have), at least 2 bytes
    so that half of it is short."""
    try:
        if operation.handler is not None:
            response = operation.handler(state, app, **(request.view_args or {}))
        else:
            _status, body = operation.generic
            response = json_response(encode(body if body is not None else {}))
        status, data = response.status_code, response.get_data()
    except ApiError as error:
        status, data = error.status, encode(error.body())
    return status, data if len(data) >= 2 else b"{}"


def _server_latency():
    """``--latency``: sleep before any API answer (the control API is never
    delayed)."""
    if not request.path.startswith(ADMIN_PREFIX):
        ms = current_app.extensions["userpilot"].faults.server_latency_ms()
        if ms > 0:
            time.sleep(ms / 1000.0)


# -- control API ---------------------------------------------------------------
faults_blueprint = Blueprint("admin_faults", __name__, url_prefix=f"{ADMIN_PREFIX}/faults")


def _faults() -> Faults:
    return current_app.extensions["userpilot"].faults


@faults_blueprint.post("")
def add_fault():
    from .app import read_json_body
    body = read_json_body(required=True)
    if not isinstance(body, dict):
        raise BadRequest("a fault rule must be a JSON object")
    return json_response(_faults().add(body), 201)


@faults_blueprint.get("")
def list_faults():
    return json_response(_faults().rules())


@faults_blueprint.delete("")
def clear_faults():
    _faults().clear()
    return Response(status=204)


@faults_blueprint.delete("/<rule_id>")
def delete_fault(rule_id: str):
    _faults().remove(rule_id)
    return Response(status=204)


def install_faults(app, state) -> Faults:
    """Wire faults into a fake made by ``create_app``: ``state.faults`` (a
    :class:`~mock_server.backend.faults.Faults` from the settings'
    ``latency``, ``error_rate``, ``rate_limit``), the before-operation hook,
    a reset hook (reset forgets rules and rate-limit windows), the control
    endpoints and, with ``latency``, the server-wide sleep. Raises
    ValueError for bad settings."""
    backend = state.backend
    settings = backend.settings
    faults = Faults(backend, {op_id: (op.method, op.path) for op_id, op in state.operations.items()},
                    latency=settings.latency, error_rate=settings.error_rate,
                    rate_limit=settings.rate_limit)
    state.faults = faults
    state.fault_answers = Answers(state.spec, state.operations)
    state.before_operation.append(before_operation)
    backend.reset_hooks.append(faults.reset)
    app.register_blueprint(faults_blueprint)
    if faults.latency is not None:
        app.before_request(_server_latency)
    return faults


__all__ = ["Answers", "before_operation", "check_status_preference", "install_faults",
           "malformed_response_chunk", "parse_prefer", "random_data_then_close"]
