"""``/__admin/scenario`` and ``/__admin/scenarios``: named datasets of jobs."""
from __future__ import annotations

from ... import schemas
from ...backend.scenarios import bundled_names, load_bundled
from .base import control, fake, json_object, reply


@control.post("/scenario")
def load_scenario():
    """adminLoadScenario: ``{"name": "<bundled>"}`` or an inline scenario
    document: every app and job is replaced by the scenario's (clock,
    journal, faults kept)."""
    body = json_object(required=True)
    if set(body) == {"name"}:  # a bundled name; a document's own errors name its jobs and fields
        ref = schemas.check("ScenarioName", body, "scenario", "invalid_scenario")["name"]
    else:
        ref = body
    return reply(fake().backend.use_scenario(ref).summary())


@control.get("/scenario")
def current_scenario():
    """adminGetScenario: the scenario in use (``name`` null for generated histories)."""
    backend = fake().backend
    scenario = backend.scenario
    return reply(scenario.summary() if scenario is not None else
                 {"name": None, "description": "generated histories", "history": backend.jobs_per_app, "jobs": 0})


@control.get("/scenarios")
def list_scenarios():
    """adminListScenarios: the bundled scenarios' summaries."""
    return reply([load_bundled(name).summary() for name in bundled_names()])
