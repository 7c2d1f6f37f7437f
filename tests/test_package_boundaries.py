"""The boundaries between the packages: ``mock_server`` (the fake and its
fixtures) never imports ``contract_tests`` (the contract kit), and the kit's
pytest options exist only where the kit can run (the ``contract`` extra)."""
from __future__ import annotations

import pytest

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Run first in a Python process: Schemathesis is then not installed as far
#: as that process can tell. Its modules are not found (``import`` fails,
#: ``importlib.util.find_spec`` answers None) and its distribution is not
#: listed (so pytest sees no ``schemathesis`` pytest11 entry point either),
#: as in a project that installed userpilot-mock without the extra.
WITHOUT_SCHEMATHESIS = textwrap.dedent("""
    import sys
    from importlib.machinery import PathFinder

    class _WithoutSchemathesis(PathFinder):
        @classmethod
        def find_spec(cls, name, path=None, target=None):
            if name.partition(".")[0] == "schemathesis":
                return None
            return super().find_spec(name, path, target)

        @classmethod
        def find_distributions(cls, *args, **kwargs):
            return (d for d in super().find_distributions(*args, **kwargs)
                    if (d.metadata["Name"] or "").lower() != "schemathesis")

    sys.meta_path[:] = [_WithoutSchemathesis if f is PathFinder else f for f in sys.meta_path]
""")

#: One option of the fixtures' plugin, and every one of the contract kit's.
FIXTURE_OPTION = "--userpilot-seed"
CONTRACT_OPTIONS = ("--userpilot-base-url", "--userpilot-environment", "--userpilot-spec",
                    "--userpilot-assumptions", "--userpilot-allow-writes", "--userpilot-max-examples",
                    "--userpilot-contract-seed", "--userpilot-api-key-file", "--userpilot-rate-limit",
                    "--userpilot-operation", "--userpilot-poll-interval", "--userpilot-clock", "--userpilot-quiet")


def imported_modules(path: Path) -> set[str]:
    """Every module a source file imports, at any depth (inside functions
    too), relative imports resolved against its package, plus the string
    arguments of ``importlib.import_module`` / ``__import__`` calls."""
    package = ".".join(path.relative_to(ROOT).parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("import_module", "__import__"):
                found.add(node.args[0].value)
    return found


def test_mock_server_never_imports_contract_tests():
    sources = sorted((ROOT / "mock_server").rglob("*.py"))
    assert len(sources) > 20
    offending = {str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path)
                                                     if m.partition(".")[0] == "contract_tests")
                 for path in sources}
    assert {path: found for path, found in offending.items() if found} == {}


def test_the_import_scan_sees_imports_inside_functions_and_relative_ones():
    module = ROOT / "mock_server" / "cli.py"
    assert "mock_server.config" in imported_modules(module)  # from .config import ...
    assert "mock_server.spec.spec_text" in imported_modules(module)  # inside a function


def _pytest(*args, shim: bool, cwd: Path):
    prelude = WITHOUT_SCHEMATHESIS if shim else ""
    code = prelude + "\nimport sys, pytest\nsys.exit(pytest.console_main())\n"
    return subprocess.run([sys.executable, "-c", code, "-p", "no:cacheprovider", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


@pytest.mark.slow
def test_pytest_help_without_the_contract_extra_has_only_the_fixture_options(tmp_path):
    without = _pytest("--help", shim=True, cwd=tmp_path)
    assert without.returncode == 0, without.stdout + without.stderr
    assert FIXTURE_OPTION in without.stdout
    assert [o for o in CONTRACT_OPTIONS if o in without.stdout] == []
    with_extra = _pytest("--help", shim=False, cwd=tmp_path)
    assert with_extra.returncode == 0, with_extra.stdout + with_extra.stderr
    assert FIXTURE_OPTION in with_extra.stdout
    assert [o for o in CONTRACT_OPTIONS if o not in with_extra.stdout] == []


@pytest.mark.slow
def test_pytest_pyargs_without_the_contract_extra_skips_naming_the_extra(tmp_path):
    result = _pytest("--pyargs", "contract_tests", "-rs", shim=True, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" not in result.stdout and "skipped" in result.stdout
    assert "pip install 'userpilot-mock[contract]' (schemathesis)" in result.stdout


def test_loading_the_contract_plugin_imports_nothing_heavy():
    heavy = ("schemathesis", "hypothesis", "requests", "click", "flask", "yaml", "mock_server")
    code = ("import sys, contract_tests.plugin as p\n"
            "assert p.contract_extra_installed()\n"
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"imported at plugin load: {result.stdout.strip()}"


# ------------------------------------------------- Schemathesis: one adapter

#: The module allowed to use Schemathesis internals (its docstring lists them).
ADAPTER = ROOT / "contract_tests" / "_schemathesis.py"
#: Undocumented attributes of public Schemathesis objects the adapter reads.
INTERNAL_ATTRIBUTES = frozenset({
    "recorder", "failure_info", "code_sample", "_serializers", "is_negative_at", "meta", "unexpected_methods",
    "checks_config_for", "custom_kwargs", "get_by_name", "_unique_key", "max_failures",
})


def public_schemathesis(name: str) -> bool:
    """Whether a dotted name under ``schemathesis`` is public: a name of
    ``schemathesis.__all__``, or of the ``__all__`` of a namespace it
    exports (``schemathesis.openapi.media_type``); what such a public name
    holds (a class's methods, a loader's keywords) is the docs' business."""
    import schemathesis

    parts = name.split(".")
    if parts == ["schemathesis"]:
        return True
    if parts[1] not in schemathesis.__all__:
        return False
    namespace = getattr(schemathesis, parts[1])
    exported = getattr(namespace, "__all__", None)
    return len(parts) == 2 or exported is None or parts[2] in exported


def schemathesis_uses(path: Path) -> tuple[set[str], set[str]]:
    """``(dotted Schemathesis names, internal attribute names)`` a source
    file uses: its imports of ``schemathesis...`` and the attribute chains it
    reads from the module ``schemathesis`` (``schemathesis.openapi.from_dict``);
    and which of :data:`INTERNAL_ATTRIBUTES` it reads from anything (``x.meta``
    or ``getattr(x, "meta")``)."""
    names = {m for m in imported_modules(path) if m.partition(".")[0] == "schemathesis"}
    attributes = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("getattr", "hasattr", "setattr") \
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) \
                and node.args[1].value in INTERNAL_ATTRIBUTES:
            attributes.add(node.args[1].value)
        if isinstance(node, ast.Attribute):
            if node.attr in INTERNAL_ATTRIBUTES:
                attributes.add(node.attr)
            chain, base = [node.attr], node.value
            while isinstance(base, ast.Attribute):
                chain.append(base.attr)
                base = base.value
            if isinstance(base, ast.Name) and base.id == "schemathesis":
                names.add(".".join(["schemathesis", *reversed(chain)][:3]))
    return names, attributes


def test_only_the_adapter_uses_schemathesis_internals():
    sources = sorted((ROOT / "contract_tests").glob("*.py"))
    assert ADAPTER in sources and len(sources) > 10
    offending = {}
    for path in sources:
        if path == ADAPTER:
            continue
        names, attributes = schemathesis_uses(path)
        internal = sorted(n for n in names if not public_schemathesis(n)) + sorted(attributes)
        if internal:
            offending[path.name] = internal
    assert offending == {}, "Schemathesis internals outside contract_tests/_schemathesis.py"


def test_the_adapter_scan_sees_what_the_adapter_uses():
    names, attributes = schemathesis_uses(ADAPTER)
    assert {"schemathesis.engine", "schemathesis.core.failures.Failure",
            "schemathesis.transport.wsgi.WSGI_TRANSPORT"} <= names
    assert not public_schemathesis("schemathesis.engine") and not public_schemathesis("schemathesis.config")
    assert public_schemathesis("schemathesis.openapi.media_type") and public_schemathesis("schemathesis.check")
    assert {"recorder", "_serializers", "meta"} <= attributes
    # every internal the adapter uses is named in its docstring
    doc = ast.get_docstring(ast.parse(ADAPTER.read_text(encoding="utf-8")))
    for name in sorted(n for n in names if not public_schemathesis(n)):
        assert name.rsplit(".", 1)[-1] in doc or name in doc, f"{name} is not listed in the adapter's docstring"
    assert [a for a in attributes if a not in doc] == []
