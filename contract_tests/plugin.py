"""pytest plugin of the contract kit, loaded through its own ``pytest11``
entry point (named after this module: ``-p no:contract_tests.plugin`` turns
it off). It registers the ``--userpilot-*`` options of ``pytest --pyargs
contract_tests`` (:data:`contract_tests.options.PYTEST_OPTIONS`): an
installed package's conftest.py cannot add options under ``--pyargs``, so a
plugin has to.

The options are registered only when Schemathesis is importable, that is when
the ``contract`` extra is installed. Why not always: this module is loaded by
every pytest run of every project that installs userpilot-mock, and a project
that only uses the fixtures (no extra) would otherwise find eleven options in
``pytest --help`` for a suite it cannot run. Without the extra, ``pytest
--pyargs contract_tests`` still collects and skips every test with the
message naming the extra (``contract_tests.test_contract``); passing one of
these options there is an "unrecognized arguments" usage error, which is the
truth: it could change nothing.

Cheap to load: :func:`importlib.util.find_spec` locates Schemathesis without
importing it, and :mod:`contract_tests.options` is standard library only.
"""
from __future__ import annotations

import importlib.util

from .options import add_options


def contract_extra_installed() -> bool:
    """Whether Schemathesis (the ``contract`` extra) can be imported, found
    without importing it. A module blocked in ``sys.modules`` (set to None)
    or left without a spec counts as missing."""
    try:
        return importlib.util.find_spec("schemathesis") is not None
    except (ImportError, ValueError):
        return False


def pytest_addoption(parser) -> None:
    """Register the contract options when the ``contract`` extra is installed."""
    if contract_extra_installed():
        add_options(parser)
