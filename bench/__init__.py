"""Benchmarks of userpilot-mock: the fake against the stack's limit and
against Prism, side by side in one run.

Run everything with ``python -m bench`` from the repository root (see
docs/benchmarks.md, "Benchmarks"). Nothing here is part of the test suite; only
``tests/test_bench_smoke.py`` imports it for a one-second mini-run.
"""
