"""Validation of the control API's documents against ``openapi/admin.yaml``.

``admin.yaml`` (OpenAPI 3.1, so its schemas are JSON Schema 2020-12) is the
one definition of every body the control API takes and of scenario files:
:func:`check` validates a document against one of its components with
jsonschema, and turns what is wrong into a 400 naming the field and the rule.
Limits the code needs as numbers (for a message, or a setting) are read from
the same schemas with :func:`limit`, so each exists once.

A schema node may carry ``x-error`` (an OpenAPI extension, ignored by other
tools): the sentence said when that node's rule fails, for rules whose
jsonschema wording names no field (``not``, ``anyOf``) or a pattern a person
cannot read.

No Flask here; the document and the validators are built once, on first use.
"""
from __future__ import annotations

import json
import re
from functools import cache, lru_cache
from typing import Any

from .backend.errors import BadRequest
from .resources import data_path
from .times import parse_iso8601

#: Where admin.yaml lives for ``$ref`` resolution: the scenario file schema
#: (fixtures/scenario.schema.json) refers to it relative to its own ``$id``.
ADMIN_URI = "https://github.com/userpilot-mock/userpilot-mock/openapi/admin.yaml"
SCENARIO_SCHEMA_URI = "https://github.com/userpilot-mock/userpilot-mock/fixtures/scenario.schema.json"
#: Problems listed in one error's ``details`` before "and N more".
MAX_LISTED = 5

_NOT_FIELD_SPECIFIC = ("not", "anyOf", "oneOf", "required", "dependentRequired")


@lru_cache(maxsize=1)
def admin_document() -> dict:
    """The parsed ``openapi/admin.yaml`` (do not change it)."""
    from .spec import load_spec  # deferred: spec imports yamlio, only needed once a body is checked
    return load_spec("admin")


@lru_cache(maxsize=1)
def registry():
    """A ``referencing`` registry holding admin.yaml (at :data:`ADMIN_URI`)
    and the scenario file schema, for validators of either."""
    # deferred: jsonschema and referencing cost ~0.1-0.3 s to import, paid at the first control request
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    scenario_schema = json.loads(data_path("fixtures", "scenario.schema.json").read_text(encoding="utf-8"))
    return Registry().with_resources([
        (ADMIN_URI, Resource.from_contents(admin_document(), default_specification=DRAFT202012)),
        (SCENARIO_SCHEMA_URI, Resource.from_contents(scenario_schema, default_specification=DRAFT202012)),
    ])


def _date_time(value) -> bool:
    return not isinstance(value, str) or parse_iso8601(value) is not None


@lru_cache(maxsize=1)
def _format_checker():
    """The one format checked: ``date-time``, as :mod:`mock_server.times` reads ISO 8601."""
    from jsonschema import FormatChecker  # deferred: see registry()

    checker = FormatChecker(formats=())
    checker.checks("date-time")(_date_time)
    return checker


@cache
def validator(component: str):
    """A Draft 2020-12 validator of ``#/components/schemas/<component>`` of
    admin.yaml, its ``format: date-time`` read as :mod:`mock_server.times`
    reads ISO 8601. Raises KeyError for an unknown component."""
    from jsonschema import Draft202012Validator  # deferred: see registry()

    if component not in admin_document()["components"]["schemas"]:
        raise KeyError(f"admin.yaml has no schema {component!r}")
    return Draft202012Validator({"$ref": f"{ADMIN_URI}#/components/schemas/{component}"},
                                registry=registry(), format_checker=_format_checker())


@cache
def parameters(operation_id: str) -> dict[str, tuple[str, Any, dict]]:
    """The parameters of admin.yaml's operation ``operation_id``: name ->
    (``in``, a validator of its schema, the schema, its ``$ref`` followed). Raises
    KeyError for an unknown operation."""
    from jsonschema import Draft202012Validator  # deferred: see registry()

    from .spec import resolve  # deferred: see admin_document()

    for path, item in admin_document()["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and operation.get("operationId") == operation_id:
                pointer = "/paths/" + path.replace("~", "~0").replace("/", "~1") + f"/{method}/parameters"
                return {param["name"]: (param["in"], Draft202012Validator(
                            {"$ref": f"{ADMIN_URI}#{pointer}/{i}/schema"}, registry=registry(),
                            format_checker=_format_checker()), resolve(admin_document(), param.get("schema") or {}))
                        for i, param in enumerate(operation.get("parameters") or [])}
    raise KeyError(f"admin.yaml has no operation {operation_id!r}")


_INTEGER = re.compile(r"[+-]?[0-9]{1,19}")


def check_query(operation_id: str, args) -> dict[str, Any]:
    """The query parameters of a control request (``args``: name -> value,
    the first of repeated ones) checked against admin.yaml's operation
    ``operation_id``: returns them as a dict (a parameter whose schema is an
    integer as an int, the others as strings). Raises BadRequest for a name
    the operation does not declare, or a value its schema refuses."""
    declared = {name for name, (where_, _v, _s) in parameters(operation_id).items() if where_ == "query"}
    unknown = sorted(set(args) - declared)
    if unknown:
        raise BadRequest(f"unknown filter(s): {', '.join(unknown)}",
                         f"filters: {', '.join(sorted(declared)) or 'none'}")
    values: dict[str, Any] = {name: args[name] for name in args}
    for name, value in values.items():
        _in, check_value, written = parameters(operation_id)[name]
        if written.get("type") == "integer" and _INTEGER.fullmatch(value):
            value = values[name] = int(value)  # a query string's integer, as its schema states it
        errors = list(check_value.iter_errors(value))
        if errors:
            leaf = next(_leaves(errors[0]))
            raise BadRequest(f"{name}: {_sentence(leaf)}", f"query parameter {name}")
    return values


def where(path) -> str:
    """A field path as people write it: ``jobs[3].total_rows``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_KINDS = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
          float: "a number", type(None): "null"}


def _sentence(error) -> str:
    """What one jsonschema error says, ``x-error`` preferred (see the module docstring)."""
    node = error.validator_value if error.validator == "not" else error.schema
    hint = node.get("x-error") if isinstance(node, dict) else None
    if error.validator == "type" and error.validator_value == "object" and not error.absolute_path:
        return f"must be a JSON object, got {_KINDS.get(type(error.instance), 'another value')}"
    if hint and error.validator in _NOT_FIELD_SPECIFIC:
        return hint
    shown = _shown(error.instance)
    if hint and error.validator == "pattern":
        return f"{shown} does not match: {hint}"
    message = error.message
    if isinstance(error.instance, str) and shown != repr(error.instance):
        message = message.replace(repr(error.instance), shown)
    return f"{message}: {hint}" if hint else message


def _shown(value, limit: int = 60) -> str:
    """``repr(value)``, a long string cut to ``limit`` characters (a message
    never echoes a whole file someone sent)."""
    if isinstance(value, str) and len(value) > limit:
        return repr(value[: limit - 3] + "...")
    return repr(value)


def _leaves(error):
    """The most specific errors of ``error``: through ``if``/``then``/``else``
    and ``allOf`` wrappers; into the best-matching alternative of an
    ``anyOf``/``oneOf`` that has no ``x-error`` of its own to speak for it."""
    from jsonschema.exceptions import best_match  # deferred: see registry()

    if not error.context:
        yield error
    elif error.validator not in ("anyOf", "oneOf"):
        for sub in error.context:
            yield from _leaves(sub)
    elif isinstance(error.schema, dict) and error.schema.get("x-error"):
        yield error
    else:
        yield from _leaves(best_match(error.context))


def problems(component: str, document: Any) -> list[tuple[list, str]]:
    """``[(field path, sentence)]`` for everything ``document`` breaks in
    the admin.yaml schema ``component``, in document order; empty when it
    conforms."""
    errors = sorted(validator(component).iter_errors(document),
                    key=lambda e: [(0, p) if isinstance(p, int) else (1, str(p)) for p in e.absolute_path])
    out: list[tuple[list, str]] = []
    shaped = set()
    for leaf in (leaf for error in errors for leaf in _leaves(error)):
        path = list(leaf.absolute_path)
        if leaf.validator in ("format", "pattern"):  # both say "not of this shape": say it once
            key = tuple(map(str, path))
            if key in shaped:
                continue
            shaped.add(key)
        out.append((path, _sentence(leaf)))
    return out


def check(component: str, document: Any, what: str, error_code: str = "bad_request") -> Any:
    """``document`` when it conforms to the admin.yaml schema ``component``;
    else raises BadRequest (``error_code``): message ``<what>: <field>:
    <rule>`` for the first problem, ``details`` listing up to
    :data:`MAX_LISTED` of them. ``what`` names the document for people
    ("reset body", "job spec")."""
    found = problems(component, document)
    if not found:
        return document
    lines = [f"{where(path)}: {sentence}" if path else sentence for path, sentence in found]
    more = len(lines) - MAX_LISTED
    details = "; ".join(lines[:MAX_LISTED]) + (f"; and {more} more" if more > 0 else "")
    raise BadRequest(f"{what}: {lines[0]}", f"{what}: {details}", error_code=error_code)


def schema(component: str) -> dict:
    """The admin.yaml schema ``component`` as written (do not change it)."""
    return admin_document()["components"]["schemas"][component]


def limit(component: str, *path: str) -> Any:
    """A value of the admin.yaml schema ``component``, following ``path``
    through ``properties`` and local ``$ref`` (e.g. ``limit("ResetRequest",
    "jobs", "maximum")``). Raises KeyError when the schema has none."""
    node = schema(component)
    for step in path:
        while "$ref" in node and step not in node:
            node = schema(node["$ref"].rsplit("/", 1)[-1])
        if step in node:
            node = node[step]
        else:
            node = node["properties"][step]
    return node


__all__ = ["ADMIN_URI", "check", "check_query", "limit", "parameters", "problems", "registry", "schema",
           "validator", "where"]
