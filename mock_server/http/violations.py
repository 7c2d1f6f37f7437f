"""What a request breaks in the kit spec, for the request journal.

Violations are checked against rules precomputed once per operation from the
kit spec (:class:`RequestRules`): a missing required header or security
header, a malformed ``Authorization``, an unknown or missing query parameter,
a body where the operation takes none (a body on a GET), a missing body or a
content type the operation does not accept, a path parameter outside its
schema, a path or method no operation has. The fake still answers as the real
API would; the journal only says what the spec does not allow (as Prism's
validation does). Checking costs a few dictionary look-ups per request.

Why not a validation library: openapi-core's ``validate_request``, measured
on this machine against the kit spec, costs about 4.8 ms per request (the
fake's whole in-process answer takes about 0.4 ms; this check about 2 µs,
recording the entry about 10 µs in all), and it lets an unknown query
parameter and a body on a GET through, two of the mistakes clients make most.
The rules above are what the kit spec can say about these requests.
"""
from __future__ import annotations

import re

from ..spec import api_key_scheme, resolve
from .auth import api_key_of


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
        self.media_types: tuple[str, ...] | None
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
            if api_key_of(value) is None:
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


def raw_path(environ: dict) -> str:
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        if "://" in raw[:10]:  # absolute-form request target
            raw = "/" + raw.split("://", 1)[1].partition("/")[2]
        return raw.split("?", 1)[0]
    return environ.get("PATH_INFO") or "/"




def unrouted(method: str, raw_path: str, allowed: list[str] | None) -> list[dict]:
    """The violation of a request no operation matched: a method the path
    does not allow (``allowed``: the methods it does, None when no operation
    has the path), or a path no operation has."""
    if allowed is not None:
        return [_violation("method", method, f"{method} is not allowed on {raw_path} "
                           f"(allowed: {', '.join(sorted(allowed)) or 'none'})")]
    return [_violation("path", raw_path, f"no operation of the kit spec matches {method} {raw_path}")]


__all__ = ["RequestRules", "raw_path", "unrouted"]
