"""``/__admin/coverage``: what clients got from the fake, over the documented
universe (docs/coverage.md), for a test runner that drives a standalone fake."""
from __future__ import annotations

from flask import Response

from ... import coverage
from .base import control, fake, reply


@control.get("/coverage")
def get_coverage():
    """adminGetCoverage: the report (admin.yaml CoverageReport) of everything
    observed since the fake started or the coverage was last cleared."""
    current = fake()
    return reply(coverage.report(current.backend.coverage.snapshot(), current.coverage_universe))


@control.delete("/coverage")
def clear_coverage():
    """adminClearCoverage: forget what was observed (a reset does not)."""
    fake().backend.coverage.clear()
    return Response(status=204)
