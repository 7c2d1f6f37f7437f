"""The one YAML reader of the kit, with one error format.

Every YAML (or JSON) document the kit reads goes through :func:`load_yaml`:
the shipped OpenAPI documents, scenario files, the contract kit's known
deviations, profiles. A malformed document raises :class:`YamlError`, whose
text is always ``<source> is not valid YAML at line L, column C: <problem>``.

PyYAML is imported on first use (this module is imported by the pytest
plugin's handle, which must stay cheap to load).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any


class YamlError(ValueError):
    """A document that is not YAML, or a file that cannot be read as text.

    ``source`` names the document (a path or a label); ``kind`` is
    ``syntax``, ``encoding`` or ``unreadable``; ``problem`` says what is
    wrong, ``line`` / ``column`` (1-based) where, when known. ``reason`` is
    the text after the source: ``is not valid YAML at line 3, column 7:
    mapping values are not allowed here``, ``is not UTF-8 text``, ``cannot
    be read: Permission denied``; ``str()`` is ``"<source> <reason>"``.
    """

    def __init__(self, source: str, problem: str, line: int | None = None, column: int | None = None,
                 *, kind: str = "syntax"):
        self.source = source
        self.problem = problem
        self.line = line
        self.column = column
        self.kind = kind
        where = f" at line {line}, column {column}" if line is not None else ""
        self.reason = {"syntax": f"is not valid YAML{where}: {problem}", "encoding": "is not UTF-8 text",
                       "unreadable": f"cannot be read: {problem}"}[kind]
        super().__init__(f"{source} {self.reason}")


def _loader():
    import yaml  # deferred: PyYAML costs ~20 ms to import, and most runs read no YAML
    return yaml, getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str, source: str = "document") -> Any:
    """Parse YAML (JSON is YAML) ``text`` safely (no Python objects).

    Raises YamlError naming ``source``, with the line and column of the
    problem when PyYAML gives them."""
    yaml, loader = _loader()
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or type(exc).__name__
        if mark is None:
            raise YamlError(source, problem) from None
        raise YamlError(source, problem, mark.line + 1, mark.column + 1) from None


def read_text(path: str | Path, label: str | None = None) -> str:
    """The UTF-8 text of the file at ``path``. Raises YamlError (naming
    ``label``, default the path) when it cannot be read or is not UTF-8."""
    label = label or str(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise YamlError(label, "not UTF-8 text", kind="encoding") from None
    except OSError as exc:
        raise YamlError(label, str(exc.strerror or exc), kind="unreadable") from None


def read_yaml(path: str | Path, label: str | None = None) -> Any:
    """Read and parse the YAML file at ``path``. Raises YamlError."""
    label = label or str(path)
    return load_yaml(read_text(path, label), label)


__all__ = ["YamlError", "load_yaml", "read_text", "read_yaml"]
