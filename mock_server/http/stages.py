"""The stages of the API pipeline (:mod:`.pipeline`), one class each.

In the order ``create_app`` declares them: :class:`ServerLatency`
(``--latency``, before any API answer, 401 and 404 included), :class:`Cors`
(``--cors``: preflights answered, CORS headers added), :class:`Route`
(404 / 405), :class:`Authenticate` (401), :class:`RateLimit` (429),
:class:`Preference` (``Prefer`` / ``__code`` / ``__example``),
:class:`FaultRules` (fault rules and ``--error-rate``), :class:`Replay`
(recorded answers, with ``--replay`` only), :class:`Operate` (the
operation), :class:`Record` (the request journal) and :class:`Observe` (the
coverage of a client's tests). Each holds what it
needs, given at start-up; none holds business rules (those are the backend's).
"""
from __future__ import annotations

import re
import time

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, RequestRedirect, Rule

from ..backend.coverage import CoverageRecorder
from ..backend.errors import ApiError
from ..backend.faults import FAULT_NAMES, Faults
from ..backend.journal import Journal
from ..evidence.replay import ReplayBook, describe_key, request_key
from .answers import (
    METHOD_NOT_ALLOWED,
    PIPELINE_CODES,
    RATE_LIMITED,
    Answers,
    allowed_methods,
    malformed_response_chunk,
    preferences,
    random_data_then_close,
)
from .auth import read_api_key
from .pipeline import Call, Stage
from .render import APP_TOKEN_KEY, T0_KEY, Answer, encode, json_answer
from .violations import RequestRules, raw_path, unrouted


class ServerLatency(Stage):
    """``--latency``: sleep a draw of the server-wide latency before any API
    answer (the control API is never delayed)."""

    name = "latency"

    def __init__(self, faults: Faults):
        self.faults = faults

    def before(self, call: Call) -> Answer | None:
        ms = self.faults.server_latency_ms()
        if ms > 0:
            call.delayed = True
            time.sleep(ms / 1000.0)
        return None


class Route(Stage):
    """404 for a path no operation has, 405 (with ``Allow``) for a method the
    path does not take; otherwise names the operation and its path
    parameters. Routes come from the spec (Werkzeug's router); a path that
    Werkzeug would redirect or merge (``//`` anywhere, a leading ``//`` that
    waitress strips, a missing trailing slash) is a 404, never a redirect."""

    name = "route"

    def __init__(self, operations: dict):
        self.operations = operations
        rules = [Rule(_rule_path(op.path), endpoint=op_id, methods=[op.method])
                 for op_id, op in operations.items()]
        self.router = Map(rules, merge_slashes=False).bind("localhost")

    def before(self, call: Call) -> Answer | None:
        environ = call.environ
        path = environ.get("PATH_INFO") or "/"
        try:
            if "//" in path or _leading_double_slash(environ):  # no operation has an empty segment
                raise NotFound()
            operation_id, params = self.router.match(path, environ.get("REQUEST_METHOD", "GET"))
        except MethodNotAllowed as exc:
            call.allowed = self.allowed(path, exc.valid_methods or [])
            raise ApiError(f"Method {environ.get('REQUEST_METHOD')} is not allowed on this path",
                           exc.description or "", status=405, error="Method Not Allowed",
                           error_code=METHOD_NOT_ALLOWED, headers={"Allow": ", ".join(call.allowed)}) from None
        except (NotFound, RequestRedirect):
            raise ApiError(f"No operation at {environ.get('PATH_INFO')}", NotFound.description, status=404,
                           error="Not Found", error_code=PIPELINE_CODES[404]) from None
        call.operation = self.operations[operation_id]
        call.params = params
        return None

    def methods_of(self, path: str, environ: dict) -> list[str] | None:
        """The ``Allow`` of a request path, None when no operation has it
        (the same paths :meth:`before` refuses are none)."""
        if "//" in path or _leading_double_slash(environ):
            return None
        try:
            self.router.match(path, "\x00")  # no operation has this method: the router lists the valid ones
        except MethodNotAllowed as exc:
            return self.allowed(path, exc.valid_methods or [])
        except (NotFound, RequestRedirect):
            return None
        return None

    def allowed(self, path: str, methods) -> list[str]:
        """The ``Allow`` of ``path`` (a request path whose method the router
        refused; ``methods``: the router's valid methods): the path template's,
        from :func:`~.answers.allowed_methods`, which an injected 405 uses too."""
        for method in methods:
            try:
                operation_id, _params = self.router.match(path, method)
            except (MethodNotAllowed, NotFound, RequestRedirect):
                continue
            return allowed_methods(self.operations, self.operations[operation_id].path)
        return sorted(methods)


def _leading_double_slash(environ: dict) -> bool:
    """True when the request target starts with ``//`` (waitress strips the
    extra slashes from ``PATH_INFO``; Werkzeug's router would too)."""
    return (environ.get("REQUEST_URI") or environ.get("RAW_URI") or "").startswith("//")


def _rule_path(path: str) -> str:
    """An OpenAPI path template as a Werkzeug rule (``{job_id}`` -> ``<job_id>``)."""
    return path.replace("{", "<").replace("}", ">")


#: Headers a browser app may read from an API answer (CORS): those a client branches on.
CORS_EXPOSED = "Retry-After, X-Request-Id, Link, Preference-Applied, Allow"
#: How long a browser may keep a preflight's answer (seconds).
CORS_MAX_AGE = "600"
_HEADER_LIST = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:\s*,\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*")


class Cors(Stage):
    """CORS for browser apps on another origin (``--cors``, ``--cors-origin``;
    ``origins``: ``("*",)`` for any, else exact ``scheme://host[:port]``
    origins). A preflight (``OPTIONS`` with ``Origin`` and
    ``Access-Control-Request-Method``) from an allowed origin to a path of
    the API is answered 204 here, before authentication: the path's methods,
    the headers asked for, a max age. Every other API answer to an allowed
    origin carries ``Access-Control-Allow-Origin`` (the origin itself, with
    ``Vary: Origin``) and ``Access-Control-Expose-Headers``. Another origin
    gets no CORS header (its preflight is the path's 405). The control API is
    no stage's: it never carries them."""

    name = "cors"

    def __init__(self, origins, route: Route):
        self.any = "*" in origins
        self.origins = frozenset(o.lower() for o in origins if o != "*")
        self.route = route

    def _allowed(self, environ: dict) -> str | None:
        origin = environ.get("HTTP_ORIGIN")
        if origin and (self.any or origin.lower() in self.origins):
            return origin
        return None

    def before(self, call: Call) -> Answer | None:
        environ = call.environ
        if environ.get("REQUEST_METHOD") != "OPTIONS" or "HTTP_ACCESS_CONTROL_REQUEST_METHOD" not in environ:
            return None
        origin = self._allowed(environ)
        methods = self.route.methods_of(environ.get("PATH_INFO") or "/", environ) if origin else None
        if methods is None:
            return None  # not ours to allow: the route answers (404, or 405 for OPTIONS)
        call.preflight = True
        headers = [("Access-Control-Allow-Origin", origin), ("Vary", "Origin"),
                   ("Access-Control-Allow-Methods", ", ".join(methods)), ("Access-Control-Max-Age", CORS_MAX_AGE)]
        asked = (environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS") or "").strip()
        if asked and len(asked) <= 1024 and _HEADER_LIST.fullmatch(asked):
            headers.append(("Access-Control-Allow-Headers", asked))
        return Answer(204, b"", headers)

    def after(self, call: Call, answer: Answer) -> Answer:
        if call.preflight:
            return answer
        origin = self._allowed(call.environ)
        if origin is not None:
            answer.headers.extend((("Access-Control-Allow-Origin", origin), ("Vary", "Origin"),
                                   ("Access-Control-Expose-Headers", CORS_EXPOSED)))
        return answer


class Authenticate(Stage):
    """401 for an operation that needs an API key and gets none, another
    scheme, or a key ``--api-key`` does not accept; otherwise the key's app
    (created on first use) is ``call.app``."""

    name = "authenticate"

    def before(self, call: Call) -> Answer | None:
        if call.operation.secured:
            environ = call.environ
            app = call.backend.authenticate(read_api_key(environ.get("HTTP_AUTHORIZATION")), call.links_base)
            call.app = app
            environ[APP_TOKEN_KEY] = app.app_token
        return None


class RateLimit(Stage):
    """429 with ``Retry-After`` past the rate limit (per app, wall clock):
    the one an operation declares (``x-userpilot-rate-limit``, e.g. the
    real-time calls' 600 per minute) whenever rate limiting is on, else
    ``--rate-limit``."""

    name = "rate limit"

    def __init__(self, faults: Faults):
        self.faults = faults

    def before(self, call: Call) -> Answer | None:
        faults = self.faults
        if not faults.limiting or call.app is None:
            return None
        operation_id = call.operation.operation_id
        wait = faults.rate_check(call.app.app_token, operation_id)
        if wait is None:
            return None
        limit, window = faults.limit_of(operation_id)
        call.injected = "--rate-limit"
        raise ApiError(f"Rate limit exceeded: at most {limit} requests per {window:g} seconds",
                       f"retry after {wait} seconds", status=429, error="Too Many Requests",
                       error_code=RATE_LIMITED, headers={"Retry-After": str(wait)})


class Preference(Stage):
    """``Prefer: code=N`` / ``example=NAME`` (Prism's convention), or the
    ``__code`` / ``__example`` query parameters: the operation's documented
    answer of that code or example instead of its own."""

    name = "prefer"

    def __init__(self, answers: Answers):
        self.answers = answers

    def before(self, call: Call) -> Answer | None:
        environ = call.environ
        if "HTTP_PREFER" not in environ and "__" not in environ.get("QUERY_STRING", ""):
            return None
        operation = call.operation
        status, example, label = preferences(operation, environ, call.args)
        if example is not None:
            call.injected = f"example={example}"
            return self.answers.example(operation, example, status)
        if status is None or status < 400:  # a documented success: the operation's own answer
            return None
        call.injected = label
        answer = self.answers.error(operation, status, label)
        answer.set_header("Preference-Applied", f"code={status}")
        return answer


class FaultRules(Stage):
    """Fault rules (``/__admin/faults``) and ``--error-rate``: an injected
    status, latency, or one of the two body faults. MALFORMED_RESPONSE_CHUNK
    lets the operation run (its side effects happen, as on a real server
    whose answer broke on the way) and cuts its answer on the way out."""

    name = "fault rules"

    def __init__(self, faults: Faults, answers: Answers):
        self.faults = faults
        self.answers = answers

    def before(self, call: Call) -> Answer | None:
        faults = self.faults
        if not faults.active:
            return None
        app = call.app
        decision = faults.decide(call.operation.operation_id, app.app_token if app is not None else None)
        if decision is None:
            return None
        if decision.latency_ms > 0:
            call.delayed = True
            time.sleep(decision.latency_ms / 1000.0)
        if decision.status is not None:
            call.injected = decision.source
            return self.answers.error(call.operation, decision.status, decision.source, decision.retry_after)
        if decision.fault == "RANDOM_DATA_THEN_CLOSE":
            call.injected = decision.source
            call.fault = decision.fault
            return random_data_then_close(faults.random_bytes(64 + faults.rng.randrange(448)))
        call.fault = decision.fault
        return None

    def after(self, call: Call, answer: Answer) -> Answer:
        if call.fault == "MALFORMED_RESPONSE_CHUNK":
            call.injected = "MALFORMED_RESPONSE_CHUNK"
            return malformed_response_chunk(answer)
        return answer


class Replay(Stage):
    """``--replay CASSETTE``: a request the cassette recorded gets its
    recorded answer on the fake's clock (:mod:`mock_server.evidence.replay`);
    any other gets the fake's own answer, or with ``strict`` a 404 naming
    the nearest recorded request. After the fault rules, so ``Prefer`` and
    injected faults still apply over a replay."""

    name = "replay"

    def __init__(self, book: ReplayBook, strict: bool = False, fixed_headers: tuple[str, ...] = ()):
        self.book = book
        self.strict = strict
        #: headers every answer gets from the front door (the profile's fixed ones): not sent twice
        self.fixed = frozenset(name.lower() for name in fixed_headers) | {"server"}

    def before(self, call: Call) -> Answer | None:
        environ = call.environ
        key = request_key(environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO") or "/",
                          call.args.items(multi=True) if environ.get("QUERY_STRING") else (),
                          bool(environ.get("HTTP_AUTHORIZATION")))
        backend = call.backend
        recorded = self.book.answer(key, backend.clock.now(), backend.generation)
        if recorded is not None:
            call.injected = f"replay of {self.book.source}"
            return Answer(recorded.status, recorded.body,
                          [(k, v) for k, v in recorded.headers if k.lower() not in self.fixed])
        if not self.strict:
            return None
        raise ApiError(f"No recorded answer for {describe_key(key)}",
                       f"the cassette {self.book.source} did not record this request (--strict); nearest recorded "
                       f"request: {self.book.nearest(key)}", status=404, error="Not Found",
                       error_code="not_recorded")


class Operate(Stage):
    """The operation itself: its family's handler, or, for an operation of
    the spec no family handles, its schema-valid generic answer."""

    name = "operation"

    def before(self, call: Call) -> Answer | None:
        operation = call.operation
        if operation.handler is not None:
            return operation.handler(call)
        status, body = operation.generic
        return json_answer(b"" if body is None else encode(body), status)


class Record(Stage):
    """The request journal: every answered API request (401, 404 and 405
    included), with what it breaks in the kit spec."""

    name = "journal"

    def __init__(self, journal: Journal, rules: dict[str, RequestRules]):
        self.journal = journal
        self.rules = rules
        self._wall = time.time
        self._perf = time.perf_counter

    def after(self, call: Call, answer: Answer) -> Answer:
        if not self.journal.enabled:
            return answer
        environ = call.environ
        t0 = environ.get(T0_KEY)
        elapsed = self._perf() - t0 if t0 is not None else 0.0
        query = environ.get("QUERY_STRING") or ""
        path = raw_path(environ)
        operation = call.operation
        method = environ.get("REQUEST_METHOD", "GET")
        if operation is not None:
            operation_id = operation.operation_id
            violations = self.rules[operation_id].check(environ, call.args if query else None, call.params)
        elif call.preflight:  # a CORS preflight the fake was told to allow: no operation, nothing broken
            operation_id, violations = None, []
        else:
            operation_id = None
            violations = unrouted(method, path, call.allowed)
        self.journal.record(method, path, query, answer.status, self._wall() - elapsed,
                            call.backend.clock.now(), environ.get(APP_TOKEN_KEY), elapsed, operation_id,
                            violations)
        return answer


class Observe(Stage):
    """The coverage of a client's tests (:mod:`mock_server.backend.coverage`):
    what every answer was (operation, status, injected or not, a body fault,
    a delay) and, for an answer of the operation's own, the statuses of the
    jobs it showed."""

    name = "coverage"

    def __init__(self, recorder: CoverageRecorder):
        self.observe = recorder.observe

    def after(self, call: Call, answer: Answer) -> Answer:
        operation = call.operation
        status = answer.status
        injected = call.injected is not None
        fault = call.fault
        shown = call.shown
        if shown is not None and (injected or not 200 <= status < 300):
            shown = None  # the client did not see the operation's own jobs
        self.observe((operation.operation_id if operation is not None else None, status, injected,
                      fault if fault in FAULT_NAMES else None,
                      status == 429 and answer.header("Retry-After") is not None, call.delayed),
                     call.backend.generation, call.app, shown)
        return answer


__all__ = ["CORS_EXPOSED", "Authenticate", "Cors", "FaultRules", "Observe", "Operate", "Preference", "RateLimit",
           "Record", "Replay", "Route", "ServerLatency"]
