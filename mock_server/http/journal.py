"""The request journal: every request to the API operations (not to
``/__admin/``), with what it breaks in the kit spec.

Each answered request is recorded (404, 405 and 401 included) in a bounded
deque (``Settings.journal_size``, default 1,000: the oldest fall off), cleared
by every reset. Header *values* are never recorded, and query values whose
name looks secret (``api_key``, ``token``, ...) read ``[Filtered]``: an API
key must not leak into a journal or a test report.

Violations are checked against rules precomputed once per operation from the
kit spec (:class:`RequestRules`): a missing required header or security
header, a malformed ``Authorization``, an unknown or missing query parameter,
a body where the operation takes none (a body on a GET), a missing body or a
content type the operation does not accept, a path parameter outside its
schema, a path or method no operation has. The fake still answers as the real
API would; the journal only says what the spec does not allow (as Prism's
validation does). Checking costs a few dictionary look-ups per request;
entries are stored as tuples and turned into JSON only when read.

Why not a validation library: openapi-core's ``validate_request``, measured
on this machine against the kit spec, costs about 4.8 ms per request (the
fake's whole in-process answer takes about 0.4 ms; this check about 2 µs,
recording the entry about 10 µs in all), and it lets an unknown query
parameter and a body on a GET through, two of the mistakes clients make most.
The rules above are what the kit spec can say about these requests.
"""
from __future__ import annotations

import re
import threading
import time
from collections import deque
from datetime import datetime, timezone
from urllib.parse import parse_qs, unquote

from flask import Blueprint, current_app, g, request

from ..backend.clock import format_instant, parse_instant
from ..backend.errors import BadRequest
from ..spec import api_key_scheme, resolve
from .render import APP_TOKEN_KEY, T0_KEY, json_response

journal_blueprint = Blueprint("journal", __name__, url_prefix="/__admin")

ADMIN_PREFIX = "/__admin"
_TOKEN_SCHEME = re.compile(r"\s*token\s+\S", re.IGNORECASE)
_BODYLESS = ("GET", "HEAD", "DELETE", "OPTIONS", "TRACE")


def _violation(location: str, name: str, message: str) -> dict:
    return {"location": location, "name": name, "message": message}


class _ParamCheck:
    """A path parameter's schema reduced to what can be checked on a string:
    ``type`` integer/number/boolean, ``enum``, ``pattern``, lengths."""

    __slots__ = ("name", "kind", "enum", "pattern", "min_length", "max_length")

    def __init__(self, name: str, schema: dict):
        self.name = name
        self.kind = schema.get("type")
        self.enum = tuple(str(v) for v in schema["enum"]) if schema.get("enum") else None
        self.pattern = re.compile(schema["pattern"]) if schema.get("pattern") else None
        self.min_length = schema.get("minLength")
        self.max_length = schema.get("maxLength")

    def problem(self, value: str) -> str | None:
        if self.kind == "integer" and not re.fullmatch(r"[+-]?\d+", value):
            return f"{self.name} must be an integer, got {value!r}"
        if self.kind == "number":
            try:
                float(value)
            except ValueError:
                return f"{self.name} must be a number, got {value!r}"
        if self.kind == "boolean" and value not in ("true", "false"):
            return f"{self.name} must be true or false, got {value!r}"
        if self.enum is not None and value not in self.enum:
            return f"{self.name} must be one of {', '.join(self.enum)}, got {value!r}"
        if self.pattern is not None and not self.pattern.search(value):
            return f"{self.name} does not match the pattern {self.pattern.pattern!r}"
        if self.min_length is not None and len(value) < self.min_length:
            return f"{self.name} is shorter than {self.min_length} characters"
        if self.max_length is not None and len(value) > self.max_length:
            return f"{self.name} is longer than {self.max_length} characters"
        return None

    @property
    def trivial(self) -> bool:
        return self.kind in (None, "string") and self.enum is None and self.pattern is None \
            and self.min_length is None and self.max_length is None


class RequestRules:
    """What one operation of the spec allows, computed once at start-up.

    ``query``: declared query parameter names; ``required_query``;
    ``headers``: ``(WSGI environ key, header name)`` of required headers;
    ``security``: the API key header's environ key and name (or None);
    ``media_types``: request body media types (None = the operation takes no
    body); ``body_required``; ``path_checks``: :class:`_ParamCheck` list.
    """

    __slots__ = ("operation_id", "method", "query", "required_query", "headers", "security",
                 "media_types", "body_required", "path_checks")

    def __init__(self, spec: dict, path: str, method: str, operation: dict, secured: bool):
        self.operation_id = operation.get("operationId") or f"{method} {path}"
        self.method = method
        item = (spec.get("paths") or {}).get(path) or {}
        params: dict[tuple[str, str], dict] = {}
        for raw in list(item.get("parameters") or []) + list(operation.get("parameters") or []):
            param = resolve(spec, raw) or {}
            if "name" in param and "in" in param:
                params[(param["in"], param["name"].lower() if param["in"] == "header" else param["name"])] = param
        self.query = frozenset(name for (where, name) in params if where == "query")
        self.required_query = tuple(name for (where, name), p in params.items()
                                    if where == "query" and p.get("required"))
        self.headers = tuple(("HTTP_" + p["name"].upper().replace("-", "_"), p["name"])
                             for (where, _), p in params.items()
                             if where == "header" and p.get("required")
                             and p["name"].lower() not in ("content-type", "content-length"))
        self.security = None
        found = api_key_scheme(spec, operation) if secured else None
        if found:
            name, scheme = found
            header = scheme.get("name", "Authorization")
            self.security = ("HTTP_" + header.upper().replace("-", "_"), header, name)
        body = resolve(spec, operation.get("requestBody")) if operation.get("requestBody") else None
        if body:
            self.media_types = tuple(m.lower() for m in (body.get("content") or {}))
            self.body_required = bool(body.get("required"))
        else:
            self.media_types = None
            self.body_required = False
        checks = [_ParamCheck(name, resolve(spec, p.get("schema")) or {})
                  for (where, name), p in params.items() if where == "path"]
        self.path_checks = tuple(c for c in checks if not c.trivial)

    def check(self, environ: dict, args, view_args) -> list[dict]:
        """Violations of this operation's rules by the request in ``environ``
        (``args``: parsed query, or None when the query string is empty;
        ``view_args``: decoded path parameters)."""
        out = []
        security = self.security
        if security is not None:
            value = environ.get(security[0])
            if not value or not _TOKEN_SCHEME.match(value):
                if not value or not value.strip():
                    out.append(_violation("header", security[1], f"missing {security[1]} header "
                                          f"(security {security[2]}: '{security[1]}: Token <API key>')"))
                elif security[1].lower() == "authorization":
                    out.append(_violation("header", security[1], "Authorization must be "
                                          "'Token <API key>' (another scheme or no key was sent)"))
        for key, name in self.headers:
            if not environ.get(key):
                out.append(_violation("header", name, f"missing required header {name}"))
        if args is not None:
            for name in args:
                if name not in self.query:
                    declared = ", ".join(sorted(self.query)) or "none"
                    out.append(_violation("query", name, f"unknown query parameter {name!r} "
                                          f"({self.operation_id} declares {declared})"))
        for name in self.required_query:
            if args is None or name not in args:
                out.append(_violation("query", name, f"missing required query parameter {name!r}"))
        length = environ.get("CONTENT_LENGTH")
        has_body = (length.strip() not in ("", "0")) if length else \
            "chunked" in (environ.get("HTTP_TRANSFER_ENCODING") or "").lower()
        if self.media_types is None:
            if has_body:
                out.append(_violation("body", "requestBody", f"{self.method} {self.operation_id} takes no "
                                      "request body, but one was sent"))
        elif not has_body:
            if self.body_required:
                out.append(_violation("body", "requestBody", f"a request body is required "
                                      f"({', '.join(self.media_types)})"))
        else:
            sent = (environ.get("CONTENT_TYPE") or "").split(";", 1)[0].strip().lower()
            if not any(_media_matches(sent, allowed) for allowed in self.media_types):
                out.append(_violation("header", "Content-Type",
                                      f"Content-Type {sent or '(none)'!r} is not accepted; "
                                      f"{self.operation_id} takes {', '.join(self.media_types)}"))
        for check in self.path_checks:
            value = view_args.get(check.name) if view_args else None
            if value is not None:
                problem = check.problem(str(value))
                if problem:
                    out.append(_violation("path", check.name, problem))
        return out


def _media_matches(sent: str, allowed: str) -> bool:
    if allowed in ("*/*", sent):
        return True
    if allowed.endswith("/*"):
        return sent.startswith(allowed[:-1])
    return False


class Journal:
    """The most recent ``size`` requests, oldest first. Thread-safe.

    Entries are stored as tuples and turned into dicts only when read
    (:meth:`entries`), so recording stays cheap.
    """

    def __init__(self, size: int):
        self.size = max(0, int(size))
        self._entries: deque = deque(maxlen=self.size)
        self._lock = threading.Lock()

    def record(self, entry: tuple) -> None:
        if self.size:
            self._entries.append(entry)

    def clear(self) -> int:
        """Forget every entry; returns how many there were."""
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
            return count

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self, method: str | None = None, path: str | None = None,
                since: float | None = None) -> list[dict]:
        """Entries as dicts (docs/journal.md, "Request journal"), oldest first,
        filtered by ``method`` (any case), ``path`` (compared after
        percent-decoding both) and ``since`` (received at or after, UTC epoch
        seconds)."""
        with self._lock:
            snapshot = list(self._entries)
        method = method.upper() if method else None
        wanted = unquote(path) if path else None
        out = []
        for (m, raw_path, query, status, received, clock_now, app_token, elapsed, operation,
             violations) in snapshot:
            if method and m != method:
                continue
            if wanted is not None and unquote(raw_path) != wanted:
                continue
            if since is not None and received < since:
                continue
            out.append({
                "method": m,
                "path": raw_path,
                "query": _masked_query(query) if query else {},
                "status": status,
                "received_at": _iso_ms(received),
                "clock_now": format_instant(clock_now),
                "app_token": app_token,
                "duration_ms": round(elapsed * 1000, 3),
                "operation": operation,
                "violations": [dict(v) for v in violations],
            })
        return out


#: Query parameters whose values the journal never shows (a client that
#: puts its key in the URL must not see it echoed in a test report).
_SECRET_NAME = re.compile(r"key|token|secret|password|passwd|auth|signature", re.IGNORECASE)
FILTERED = "[Filtered]"


def _masked_query(query: str) -> dict:
    parsed = parse_qs(query, keep_blank_values=True)
    for name, values in parsed.items():
        if _SECRET_NAME.search(name):
            parsed[name] = [FILTERED] * len(values)
    return parsed


def _iso_ms(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


def _raw_path(environ: dict) -> str:
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        if "://" in raw[:10]:  # absolute-form request target
            raw = "/" + raw.split("://", 1)[1].partition("/")[2]
        return raw.split("?", 1)[0]
    return environ.get("PATH_INFO") or "/"


def install_journal(app, state) -> None:
    """Give ``state`` a :class:`Journal` (``state.journal``) and the
    precomputed :class:`RequestRules` of each operation, record every
    non-admin request after it is answered, clear the journal on reset, and
    register ``/__admin/requests``."""
    journal = Journal(state.backend.settings.journal_size)
    state.journal = journal
    state.backend.reset_hooks.append(journal.clear)
    rules = {op_id: RequestRules(state.spec, op.path, op.method, op.spec, op.secured)
             for op_id, op in state.operations.items()}
    state.request_rules = rules
    backend = state.backend
    wall = time.time
    perf = time.perf_counter

    @app.after_request
    def record(response):
        req = request._get_current_object()  # one context look-up, not one per attribute
        environ = req.environ
        path_info = environ.get("PATH_INFO") or ""
        if path_info.startswith(ADMIN_PREFIX) and (len(path_info) == len(ADMIN_PREFIX)
                                                   or path_info[len(ADMIN_PREFIX)] == "/"):
            return response
        t0 = environ.get(T0_KEY)
        elapsed = perf() - t0 if t0 is not None else 0.0
        rule = req.url_rule
        query = environ.get("QUERY_STRING") or ""
        raw_path = _raw_path(environ)
        operation = rule.endpoint if rule is not None else None
        op_rules = rules.get(operation)
        if op_rules is not None:
            violations = op_rules.check(environ, req.args if query else None, req.view_args)
        else:
            operation = None
            violations = _unrouted(req, raw_path)
        journal.record((req.method, raw_path, query, response.status_code, wall() - elapsed,
                        backend.clock.now(), environ.get(APP_TOKEN_KEY), elapsed,
                        operation, violations))
        return response

    app.register_blueprint(journal_blueprint)


def _unrouted(req, raw_path: str) -> list[dict]:
    exc = req.routing_exception
    code = getattr(exc, "code", None)
    if code == 405:
        allowed = ", ".join(sorted(getattr(exc, "valid_methods", None) or []))
        return [_violation("method", req.method, f"{req.method} is not allowed on {raw_path} "
                           f"(allowed: {allowed or 'none'})")]
    return [_violation("path", raw_path, f"no operation of the kit spec matches "
                       f"{req.method} {raw_path}")]


def _state():
    return current_app.extensions["userpilot"]


@journal_blueprint.get("/requests")
def list_requests():
    args = request.args
    unknown = set(args) - {"method", "path", "since"}
    if unknown:
        raise BadRequest(f"unknown filter(s): {', '.join(sorted(unknown))}", "filters: method, path, since")
    since = parse_instant(args["since"]) if args.get("since") else None
    entries = _state().journal.entries(args.get("method"), args.get("path"), since)
    return json_response(entries)


@journal_blueprint.delete("/requests")
def clear_requests():
    return json_response({"status": "ok", "deleted": _state().journal.clear()})


__all__ = ["Journal", "RequestRules", "install_journal", "journal_blueprint"]
