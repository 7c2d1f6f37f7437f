"""pytest plugin of userpilot-mock, loaded through the ``pytest11`` entry point.

Imported by every pytest run of every project that installs the kit: only
the standard library here; everything else loads when used.

- The contract suite's ``--userpilot-*`` options (``pytest --pyargs
  contract_tests``): an installed package's conftest.py cannot add options
  under ``--pyargs``, so they are registered here.
"""
from __future__ import annotations


def pytest_addoption(parser):
    # -- contract test options (issue 3, `pytest --pyargs contract_tests`) ----
    from contract_tests.options import add_options
    add_options(parser)
    # -- end of contract test options ------------------------------------------
