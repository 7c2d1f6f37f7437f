"""Build ``openapi/kit.yaml`` from the vendor's document and the kit's overlay.

``openapi/vendor.yaml`` is Userpilot's List Jobs document as published;
``openapi/overlay.yaml`` is an OpenAPI Overlay 1.0.0 document whose actions
add the neighbouring operations and correct the vendor's defects, each with
its evidence or its assumption. This tool applies the one to the other::

    python tools/spec_build.py          # rewrite openapi/kit.yaml
    python tools/spec_build.py --check  # exit 1 if kit.yaml is stale

Overlay semantics implemented (Overlay 1.0.0): actions run in order; each
``target`` is an RFC 9535 JSONPath evaluated against the document as it
stands at that point; ``remove: true`` deletes every selected node from its
parent; otherwise ``update`` is merged into every selected node: objects are
merged recursively (a key present on both sides with object values is merged,
with array values is appended to, with anything else is replaced), and an
array target gets the update value appended as one item.

Development tool only, run from a checkout: it needs ``python-jsonpath`` (a
dev dependency) and reads the repository's ``openapi/`` folder. It is not part
of the wheel, which ships only the documents the fake serves (kit.yaml,
vendor.yaml, admin.yaml); nothing on the serving path imports it.
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any, cast

import jsonpath
import yaml

from mock_server.yamlio import read_yaml

#: The repository's OpenAPI folder: vendor.yaml and overlay.yaml in, kit.yaml out.
OPENAPI = Path(__file__).resolve().parents[1] / "openapi"

HEADER = (
    "# GENERATED FILE, do not edit: run `python tools/spec_build.py`.\n"
    "# Built from openapi/vendor.yaml (Userpilot's List Jobs document as published)\n"
    "# with openapi/overlay.yaml (the kit's additions, among them the operations of\n"
    "# vendor-jobs-, vendor-exports- and vendor-bulk-operations.yaml, and its\n"
    "# corrections, each with its evidence or assumption) applied.\n"
)


def load_yaml(path: str | Path) -> Any:
    """Parse the YAML file at ``path`` with the kit's one YAML reader.

    Raises :class:`mock_server.yamlio.YamlError` if it cannot be read or is not YAML.
    """
    return read_yaml(path)


def _merge(target: dict | list, update: Any, where: str) -> None:
    """Merge ``update`` into ``target`` in place (see the module docstring)."""
    if isinstance(target, list):
        target.append(update)
        return
    if not isinstance(update, dict):
        raise ValueError(f"{where}: update must be an object to merge into an object")
    for key, value in update.items():
        current = target.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            _merge(current, value, where)
        elif isinstance(current, list) and isinstance(value, list):
            current.extend(value)
        else:
            target[key] = value


def _remove(matches: list, where: str) -> None:
    """Delete each matched node from its parent object or array."""
    seen = set()
    from_lists = []
    for match in matches:
        if match.parent is None:
            raise ValueError(f"{where}: cannot remove the document root")
        parent, key = match.parent.obj, match.parts[-1]
        if (id(parent), key) in seen:
            continue
        seen.add((id(parent), key))
        if isinstance(parent, list):
            from_lists.append((key, parent))
        else:
            del parent[key]
    # Highest index first, so earlier deletions do not shift later ones.
    for index, parent in sorted(from_lists, key=lambda item: item[0], reverse=True):
        del parent[index]


def apply_overlay(document: dict, overlay: dict) -> dict:
    """Return a deep copy of ``document`` with ``overlay``'s actions applied.

    ``document``: a parsed OpenAPI document; ``overlay``: a parsed Overlay
    1.0.0 document (its ``actions`` list is used; ``extends`` is not read
    here). Neither argument is modified.

    Raises ValueError, naming the action (1-based index and target), when an
    action's target selects nothing, selects a primitive value, is not a
    valid RFC 9535 path, or the action has neither ``update`` nor
    ``remove: true``.
    """
    result = copy.deepcopy(document)
    for number, action in enumerate(overlay.get("actions") or [], start=1):
        target = action.get("target")
        where = f"overlay action {number} (target {target!r})"
        try:
            matches = list(jsonpath.finditer(target, result, strict=True))
        except jsonpath.JSONPathError as exc:
            raise ValueError(f"{where}: invalid JSONPath: {exc}") from exc
        if not matches:
            raise ValueError(f"{where}: target selects nothing")
        for match in matches:
            if not isinstance(match.obj, (dict, list)):
                raise ValueError(f"{where}: target selects a primitive at {match.path}")
        if action.get("remove") is True:
            _remove(matches, where)
        elif "update" in action:
            for match in matches:
                _merge(cast("dict | list", match.obj), copy.deepcopy(action["update"]), where)
        else:
            raise ValueError(f"{where}: action has neither update nor remove: true")
    return result


def build_kit_spec() -> dict:
    """Parse ``openapi/overlay.yaml`` and the document it ``extends``
    (``openapi/vendor.yaml``, resolved next to the overlay) and return the
    kit spec as a dict. Raises what load_yaml and apply_overlay raise."""
    overlay_path = OPENAPI / "overlay.yaml"
    overlay = load_yaml(overlay_path)
    vendor = load_yaml(overlay_path.parent / overlay["extends"])
    return apply_overlay(vendor, overlay)


def render_kit_spec(spec: dict) -> str:
    """Serialise ``spec`` as deterministic YAML text (key order kept) under a
    "generated, do not edit" header comment."""
    return HEADER + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=100)


def main(argv: list[str] | None = None) -> int:
    """Command line: rewrite openapi/kit.yaml, or with ``--check`` return 1
    (and say so on stderr) when it differs from a fresh build."""
    parser = argparse.ArgumentParser(prog="python tools/spec_build.py",
                                     description="Build openapi/kit.yaml from vendor.yaml + overlay.yaml.")
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if openapi/kit.yaml is out of date")
    args = parser.parse_args(argv)
    text = render_kit_spec(build_kit_spec())
    kit_path = OPENAPI / "kit.yaml"
    if args.check:
        current = kit_path.read_text(encoding="utf-8") if kit_path.exists() else None
        if current != text:
            print(f"{kit_path} is stale: run `python tools/spec_build.py`", file=sys.stderr)
            return 1
        print(f"{kit_path} is up to date")
        return 0
    kit_path.write_text(text, encoding="utf-8")
    print(f"wrote {kit_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
