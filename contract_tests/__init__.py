"""The contract test kit: one suite that holds the fake and the real
Userpilot background-jobs API to the same spec (docs/contract.md, "Contract tests").

- ``userpilot-mock contract`` and ``pytest --pyargs contract_tests`` both run
  :func:`contract_tests.runner.run_contract`;
- ``schemathesis.toml`` (``hooks = "contract_tests.hooks"``) gives a plain
  ``schemathesis run`` the same checks and settings.

Importing this package is cheap (the pytest plugin does it in every pytest
run): ``run_contract`` and ``ContractOptions`` load on first use.
"""
from __future__ import annotations

__all__ = ["run_contract", "ContractOptions"]


def __getattr__(name):
    # deferred: the pytest plugin imports this package in every run; Schemathesis loads on first use
    if name == "run_contract":
        from .runner import run_contract
        return run_contract
    if name == "ContractOptions":
        from .options import ContractOptions
        return ContractOptions
    raise AttributeError(f"module 'contract_tests' has no attribute {name!r}")
