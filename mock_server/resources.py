"""Locate the data files the kit ships: the OpenAPI documents and `fixtures/`.

In a wheel they live in ``mock_server/_data/`` (copied there at build time,
see ``pyproject.toml``); in a source checkout or an editable install they are
the repository's top-level ``openapi/`` and ``fixtures/`` folders.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def data_root(kind: str) -> Path:
    """Return the folder holding ``kind`` ("openapi" or "fixtures").

    Raises FileNotFoundError when neither the wheel nor the checkout layout
    has it (a broken install).
    """
    for candidate in (_PACKAGE / "_data" / kind, _PACKAGE.parent / kind):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"userpilot-mock data folder {kind!r} not found (broken install?)")


def data_path(kind: str, *parts: str) -> Path:
    """Path of a shipped file, e.g. ``data_path("openapi", "kit.yaml")``."""
    return data_root(kind).joinpath(*parts)
