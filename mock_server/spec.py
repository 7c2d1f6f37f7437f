"""Load the shipped OpenAPI documents (parsed once, then cached).

The kit spec (``openapi/kit.yaml``) is built ahead of time from the vendor's
document and ``openapi/overlay.yaml`` by ``python tools/spec_build.py``;
nothing here merges or validates anything.
"""
from __future__ import annotations

import copy
from functools import cache
from pathlib import Path

from .resources import data_path
from .yamlio import load_yaml, read_yaml

SPEC_FILES = {"kit": "kit.yaml", "vendor": "vendor.yaml", "admin": "admin.yaml"}
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def spec_path(name: str = "kit") -> Path:
    """Path of a shipped spec: ``kit``, ``vendor`` or ``admin``."""
    return data_path("openapi", SPEC_FILES[name])


@cache
def spec_text(name: str = "kit") -> str:
    """The document's text as shipped (served by ``/__admin/spec/...``)."""
    return spec_path(name).read_text(encoding="utf-8")


@cache
def _load_cached(name: str) -> dict:
    return load_yaml(spec_text(name), f"openapi/{SPEC_FILES[name]}")


def load_spec(name: str = "kit") -> dict:
    """The parsed document (a fresh deep copy, so callers may change it)."""
    return copy.deepcopy(_load_cached(name))


def load_spec_file(path: str | Path) -> dict:
    """Parse an OpenAPI document from a YAML or JSON file. Raises
    :class:`~mock_server.yamlio.YamlError`."""
    return read_yaml(path)


def resolve(spec: dict, node):
    """Follow a local ``$ref`` (``#/a/b``) chain; other nodes pass through."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 32:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"only local $refs are supported: {ref}")
        node = spec
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        seen += 1
    return node


def operations(spec: dict):
    """Yield ``(path, method, operation)`` for every operation of ``spec``
    (method lower-case, as OpenAPI writes it)."""
    for path, item in (spec.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        for method in HTTP_METHODS:
            op = item.get(method)
            if isinstance(op, dict):
                yield path, method, op


def api_key_scheme(spec: dict, operation: dict):
    """``(name, scheme)`` of the first apiKey-in-header security scheme the
    operation requires (its own ``security``, else the document's), or None
    when it requires none."""
    requirements = operation.get("security", spec.get("security")) or []
    schemes = (spec.get("components") or {}).get("securitySchemes") or {}
    for requirement in requirements:
        for name in requirement or {}:
            scheme = resolve(spec, schemes.get(name) or {})
            if scheme.get("type") == "apiKey" and scheme.get("in") == "header":
                return name, scheme
    return None
