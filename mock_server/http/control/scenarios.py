"""``/__admin/scenario`` and ``/__admin/scenarios``: named datasets of jobs."""
from __future__ import annotations

from ... import schemas
from ...backend.scenarios import bundled_names, load_bundled
from .base import control, fake, json_object, links_base, reply


@control.post("/scenario")
def load_scenario():
    """adminLoadScenario: ``{"name": "<bundled>"}`` (with ``app_token``: that
    app is made at once) or an inline scenario document: every app and job is
    replaced by the scenario's (clock, journal, faults kept)."""
    body = json_object(required=True)
    app_token = None
    if "name" in body and set(body) <= {"name", "app_token"}:  # a bundled name; a document's own errors
        checked = schemas.check("ScenarioName", body, "scenario", "invalid_scenario")  # name its jobs and fields
        ref, app_token = checked["name"], checked.get("app_token")
    else:
        ref = body
    backend = fake().backend
    summary = backend.use_scenario(ref).summary()
    if app_token is not None:  # recreated now with the scenario's jobs, not at its key's next use
        backend.app_for_token(app_token, create=True, links_base=links_base())
    return reply(summary)


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
