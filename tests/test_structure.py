"""The tree keeps its shape: no import cycles, every deferred import says why,
the layers apart, one source for each identifier shape. (That mock_server never
imports contract_tests: tests/test_package_boundaries.py.)"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from mock_server import ids, schemas
from mock_server.backend.generate import FILENAME_EXTENSIONS

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mock_server", "contract_tests")


def _modules(package: str) -> dict[str, Path]:
    out = {}
    for path in (ROOT / package).rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, known: set[str]):
    """``(imported module, line, in a function?)`` for every import of ours in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    functions = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                 for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            if target in known:
                yield target, node.lineno, id(node) in functions


def _graph():
    modules = {}
    for package in PACKAGES:
        modules.update(_modules(package))
    known = set(modules)
    return modules, {name: {t for t, _line, _inner in _imports(name, path, known) if t != name}
                     for name, path in modules.items()}


def test_no_import_cycles():
    _modules_, graph = _graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    # a package importing its own submodules is not a cycle of modules
    real = [c for c in cycles if not any(b.startswith(a + ".") or a.startswith(b + ".") for a, b in zip(c, c[1:]))]
    assert real == []


def test_every_import_inside_a_function_says_why():
    modules, _graph_ = _graph()
    known = set(modules)
    silent = []
    for name, path in modules.items():
        lines = path.read_text(encoding="utf-8").splitlines()
        for _target, line, inner in _imports(name, path, known | _third_party(path)):
            if inner and not _says_deferred(lines, line - 1):
                silent.append(f"{path.relative_to(ROOT)}:{line}")
    assert sorted(set(silent)) == []


def _says_deferred(lines: list[str], index: int) -> bool:
    """True when a comment with "deferred" is on the import's line or above it
    within its function (up to the ``def``)."""
    while index >= 0:
        text = lines[index].strip()
        if "#" in text and "deferred" in text.split("#", 1)[1]:
            return True
        if text.startswith(("def ", "async def ")):
            return False
        index -= 1
    return False


def _third_party(path: Path) -> set[str]:
    """Every module name imported in ``path`` (ours and others'), so that
    deferred imports of libraries are held to the same rule."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", sorted(m for m in _modules("mock_server")
                                          if m.startswith(("mock_server.backend", "mock_server.families"))
                                          and not m.endswith(".responses")))
def test_the_backend_never_touches_flask_or_http(module):
    path = _modules("mock_server")[module]
    source = path.read_text(encoding="utf-8")
    assert not re.search(r"^\s*(from|import) (flask|werkzeug)\b", source, re.MULTILINE), module
    assert not re.search(r"^\s*from \.+http\b", source, re.MULTILINE), module


def test_admin_yaml_states_the_identifier_shapes_of_ids_py():
    assert schemas.schema("AppToken")["pattern"] == ids.APP_TOKEN_PATTERN
    assert schemas.schema("BundledScenario")["pattern"] == ids.SCENARIO_NAME_PATTERN
    assert ids.APP_TOKEN_EXAMPLE in schemas.schema("AppToken")["examples"]


@pytest.mark.parametrize("name, accepted", [
    ("users.csv", True), ("USERS.CSV", True), ("a.ndjson", True), ("a.JsonL", True), (".csv", True),
    ("export.parquet", True), ("EXPORT.AVRO", True),
    ("users.txt", False), ("users.csv.gz", False), ("tab\there.csv", False), ("line\nbreak.csv", False),
])
def test_admin_yaml_filename_rule_is_the_fakes(name, accepted):
    pattern = re.compile(schemas.limit("JobFields", "filename", "pattern"))
    assert bool(pattern.search(name)) is accepted
    assert name.lower().endswith(FILENAME_EXTENSIONS) is (accepted or "\t" in name or "\n" in name)


def test_admin_yaml_is_a_valid_openapi_3_1_document():
    from openapi_spec_validator import validate

    validate(schemas.admin_document())


def test_the_default_settings_conform_to_admin_yaml():
    """Settings.checked skips the schema for values left at their defaults."""
    from mock_server.config import DEFAULT_JOBS, Settings

    defaults = Settings()
    # jobs None: the profile's list_length, which checked() resolves (the default profile's: DEFAULT_JOBS)
    assert defaults.jobs is None and defaults.checked().jobs == DEFAULT_JOBS
    assert schemas.problems("ResetRequest", {"seed": defaults.seed, "jobs": DEFAULT_JOBS,
                                             "frozen": defaults.frozen, "speed": defaults.speed}) == []
