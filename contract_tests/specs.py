"""The two specs a contract run checks against (``--spec kit|vendor``).

- ``kit``: ``openapi/kit.yaml``, the fake's own spec (the vendor's documents
  with the overlay's corrections and assumptions).
- ``vendor``: Userpilot's documents as published, as the kit bundles them
  byte for byte: the List Jobs document (``openapi/vendor.yaml``), the appex
  export operations (``vendor-exports-operations.yaml``) and the analytex
  bulk identify and real-time operations (``vendor-bulk-operations.yaml``),
  joined into one document (their paths do not overlap). Joining changes
  nothing the documents say: each added document's local ``$ref`` values are
  resolved in place (its components would collide with List Jobs' own, which
  differ), and the servers are List Jobs' (the runner points the exports
  paths at the exports host, :func:`with_exports_host`). The neighbouring
  jobs operations (``vendor-jobs-operations.yaml``: Check job status with its
  ``{{job_id}}`` templated path, Request Data Import) are a transcription the
  kit spec adds, not a published document: not part of it.

In a wheel the two added documents ship inside this package (``_vendor/``,
pyproject.toml); in a checkout they are read from ``openapi/``.
"""
from __future__ import annotations

import copy
from functools import cache
from pathlib import Path

from mock_server.spec import load_spec, resolve
from mock_server.yamlio import read_yaml

#: The vendor's documents joined to List Jobs for ``--spec vendor``.
VENDOR_DOCUMENTS = ("vendor-exports-operations.yaml", "vendor-bulk-operations.yaml")

_HERE = Path(__file__).resolve().parent


def vendor_document_path(name: str) -> Path:
    """Where one of :data:`VENDOR_DOCUMENTS` is: next to this package in a
    wheel, ``openapi/`` in a checkout. Raises FileNotFoundError."""
    for candidate in (_HERE / "_vendor" / name, _HERE.parent / "openapi" / name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"the vendor document {name} of the contract kit is missing (broken install?)")


def _resolved(node, document: dict, depth: int = 0):
    """``node`` with every local ``$ref`` replaced by (a copy of) what it names in ``document``."""
    if depth > 64:
        raise ValueError("$ref chain too deep")
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target = document
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            return _resolved(copy.deepcopy(target), document, depth + 1)
        return {key: _resolved(value, document, depth) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolved(item, document, depth) for item in node]
    return node


@cache
def _vendor() -> dict:
    spec = load_spec("vendor")
    for name in VENDOR_DOCUMENTS:
        document = read_yaml(vendor_document_path(name))
        for path, item in (document.get("paths") or {}).items():
            if path in spec["paths"]:
                raise ValueError(f"{name}: {path} is already in vendor.yaml")
            spec["paths"][path] = _resolved(item, document)
    return spec


def load(name: str) -> dict:
    """The spec ``name`` (``kit`` or ``vendor``) as a fresh dict the caller may change."""
    if name == "vendor":
        return copy.deepcopy(_vendor())
    return load_spec(name)


def with_exports_host(spec: dict, exports_url: str, is_exports_path) -> dict:
    """``spec`` with a path-level ``servers`` entry ``exports_url`` on each
    path ``is_exports_path(path)`` says is the exports host's: Schemathesis
    then sends those operations there (a run against the real API: the
    exports live on ``https://appex.userpilot.io``, the rest on analytex).
    Changes ``spec`` in place and returns it."""
    for path, item in (spec.get("paths") or {}).items():
        if is_exports_path(path) and isinstance(item, dict):
            item["servers"] = [{"url": exports_url}]
    return spec


def declares_no_key(spec: dict, path: str, method: str) -> bool:
    """Whether the operation ``method path`` of ``spec`` asks for no API key:
    no security requirement (its own, else the document's) and no required
    ``Authorization`` header parameter (its own or its path's)."""
    item = (spec.get("paths") or {}).get(path) or {}
    operation = item.get(method.lower()) or {}
    requirements = operation.get("security", spec.get("security")) or []
    if any(requirement for requirement in requirements):
        return False
    for parameter in list(item.get("parameters") or []) + list(operation.get("parameters") or []):
        parameter = resolve(spec, parameter)
        if isinstance(parameter, dict) and parameter.get("in") == "header" \
                and str(parameter.get("name", "")).lower() == "authorization" and parameter.get("required"):
            return False
    return True
