"""Strict JSON parsing (RFC 8259), shared by every body and file the fake reads."""
from __future__ import annotations

import json


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON value")


def loads(text: str | bytes):
    """``json.loads`` that refuses ``NaN``, ``Infinity`` and ``-Infinity``
    (Python's parser accepts them; JSON does not). Raises ValueError
    (``json.JSONDecodeError`` for syntax) and RecursionError for absurd
    nesting, like ``json.loads``."""
    return json.loads(text, parse_constant=_no_constant)
