"""The boundaries between the packages: ``mock_server`` (the fake and its
fixtures) never imports ``contract_tests`` (the contract kit), and the kit's
pytest options exist only where the kit can run (the ``contract`` extra)."""
from __future__ import annotations

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
                    "--userpilot-operation", "--userpilot-poll-interval")


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


def test_pytest_help_without_the_contract_extra_has_only_the_fixture_options(tmp_path):
    without = _pytest("--help", shim=True, cwd=tmp_path)
    assert without.returncode == 0, without.stdout + without.stderr
    assert FIXTURE_OPTION in without.stdout
    assert [o for o in CONTRACT_OPTIONS if o in without.stdout] == []
    with_extra = _pytest("--help", shim=False, cwd=tmp_path)
    assert with_extra.returncode == 0, with_extra.stdout + with_extra.stderr
    assert FIXTURE_OPTION in with_extra.stdout
    assert [o for o in CONTRACT_OPTIONS if o not in with_extra.stdout] == []


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
