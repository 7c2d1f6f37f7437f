"""Schema-valid answers for operations that have no domain handler.

Any operation of the kit spec without a handler in :mod:`.handlers` is still
served: its first documented 2xx response, filled from the response schema
(``example`` / ``default`` / first ``enum`` value first, then a minimal value
of the schema's type and format). Deterministic, computed once at start-up.
"""
from __future__ import annotations

from ..spec import resolve

_FORMAT_STRINGS = {
    "date-time": "2025-05-19T07:27:14Z",
    "date": "2025-05-19",
    "uri": "https://analytex.userpilot.io/",
    "email": "support@userpilot.com",
    "uuid": "c6f91301-54c1-4df7-a077-b34715c38875",
    "binary": "",
    "byte": "",
}


def example_for(spec: dict, schema, depth: int = 0):
    """A value valid against ``schema`` (OpenAPI 3.0 Schema Object; local
    ``$ref`` followed; ``allOf`` merged; first of ``oneOf``/``anyOf``)."""
    schema = resolve(spec, schema) or {}
    if depth > 12:
        return None
    if "example" in schema:
        return schema["example"]
    if "default" in schema:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "allOf" in schema:
        merged: dict = {}
        for part in schema["allOf"]:
            part = resolve(spec, part)
            for k, v in part.items():
                if k == "properties":
                    merged.setdefault("properties", {}).update(v)
                elif k == "required":
                    merged.setdefault("required", []).extend(v)
                else:
                    merged.setdefault(k, v)
        return example_for(spec, merged, depth + 1)
    for key in ("oneOf", "anyOf"):
        if schema.get(key):
            return example_for(spec, schema[key][0], depth + 1)
    kind = schema.get("type") or ("object" if "properties" in schema else "string")
    if kind == "object":
        return {name: example_for(spec, sub, depth + 1)
                for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        item = example_for(spec, schema.get("items") or {}, depth + 1)
        return [item] * max(1, int(schema.get("minItems", 1)))
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return float(schema.get("minimum", 0))
    if kind == "boolean":
        return True
    text = _FORMAT_STRINGS.get(schema.get("format"), "string")
    return text.ljust(int(schema.get("minLength", 0)), "x")


def generic_answer(spec: dict, operation: dict):
    """``(status, body)`` for ``operation``: its first 2xx response, with a
    JSON body generated from its schema (None when it documents no body)."""
    responses = operation.get("responses") or {}
    for code in sorted(responses, key=str):
        if str(code).startswith("2"):
            response = resolve(spec, responses[code])
            content = (response or {}).get("content") or {}
            for media_type, media in content.items():
                if "json" in media_type:
                    return int(code), example_for(spec, media.get("schema") or {})
            return int(code), None
    return 200, None
