"""The stages of the API pipeline (:mod:`.pipeline`), one class each.

In the order ``create_app`` declares them: :class:`ServerLatency`
(``--latency``, before any API answer, 401 and 404 included), :class:`Route`
(404 / 405), :class:`Authenticate` (401), :class:`RateLimit` (429),
:class:`Preference` (``Prefer`` / ``__code`` / ``__example``),
:class:`FaultRules` (fault rules and ``--error-rate``), :class:`Operate` (the
operation), :class:`Record` (the request journal) and :class:`Observe` (the
coverage of a client's tests). Each holds what it
needs, given at start-up; none holds business rules (those are the backend's).
"""
from __future__ import annotations

import time

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, RequestRedirect, Rule

from ..backend.coverage import CoverageRecorder
from ..backend.errors import ApiError
from ..backend.faults import FAULT_NAMES, Faults
from ..backend.journal import Journal
from .answers import Answers, malformed_response_chunk, preferences, random_data_then_close
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
    Werkzeug would redirect (``//``, a missing trailing slash) is a 404,
    never a redirect."""

    name = "route"

    def __init__(self, operations: dict):
        self.operations = operations
        rules = [Rule(_rule_path(op.path), endpoint=op_id, methods=[op.method])
                 for op_id, op in operations.items()]
        self.router = Map(rules).bind("localhost")

    def before(self, call: Call) -> Answer | None:
        environ = call.environ
        try:
            operation_id, params = self.router.match(environ.get("PATH_INFO") or "/",
                                                     environ.get("REQUEST_METHOD", "GET"))
        except MethodNotAllowed as exc:
            call.allowed = sorted(exc.valid_methods or [])
            raise ApiError(f"Method {environ.get('REQUEST_METHOD')} is not allowed on this path",
                           exc.description or "", status=405, error="Method Not Allowed",
                           error_code="method_not_allowed", headers={"Allow": ", ".join(call.allowed)}) from None
        except (NotFound, RequestRedirect):
            raise ApiError(f"No operation at {environ.get('PATH_INFO')}", NotFound.description, status=404,
                           error="Not Found", error_code="not_found") from None
        call.operation = self.operations[operation_id]
        call.params = params
        return None


def _rule_path(path: str) -> str:
    """An OpenAPI path template as a Werkzeug rule (``{job_id}`` -> ``<job_id>``)."""
    return path.replace("{", "<").replace("}", ">")


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
                       error_code="rate_limited", headers={"Retry-After": str(wait)})


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
        if not self.journal.size:
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


__all__ = ["Authenticate", "FaultRules", "Observe", "Operate", "Preference", "RateLimit", "Record", "Route",
           "ServerLatency"]
