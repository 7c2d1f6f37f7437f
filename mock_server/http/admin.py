"""The control API under ``/__admin/`` (described in ``openapi/admin.yaml``).

No API key needed; it never reads or writes the server's disk (the shipped
spec files are read once, from the installed package). Apps are named by
app token in every answer, never by API key.
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from ..backend.clock import CLOCK_FIELDS, format_instant
from ..backend.errors import BadRequest, NotFound, check_fields
from ..spec import SPEC_FILES, spec_text
from .render import json_response

admin_blueprint = Blueprint("admin", __name__, url_prefix="/__admin")


def _state():
    return current_app.extensions["userpilot"]


_JSON_TYPES = ((bool, "a boolean"), (str, "a string"), (list, "an array"), (int, "a number"),
               (float, "a number"))


def _json_object(required: bool = False) -> dict | None:
    """The request's JSON body, which must be an object; None only when the
    body is empty (and not ``required``). Raises BadRequest otherwise, a
    literal ``null`` included."""
    from .app import read_json_body
    body = read_json_body(required=required)
    if body is None and not request.get_data(cache=True).strip():
        return None
    if not isinstance(body, dict):
        kind = "null" if body is None else next(name for t, name in _JSON_TYPES if isinstance(body, t))
        raise BadRequest(f"the body must be a JSON object, got {kind}")
    return body


def admin_job_view(job, t: int) -> dict:
    """The single-job form plus ``app_token``, the ``timeline`` (phase ->
    ISO 8601 instant it starts, terminal status included) and, for imports
    that failed validation, ``errors``."""
    out = job.view(t, detail=True)
    out["app_token"] = job.app_token
    out["timeline"] = {phase: format_instant(at) for phase, at in job.timeline.phase_starts().items()}
    if job.extra and "errors" in job.extra:
        out["errors"] = job.extra["errors"]
        out["error_count"] = job.extra.get("error_count", len(job.extra["errors"]))
    return out


@admin_blueprint.get("")
@admin_blueprint.get("/")
def index():
    """What the control API offers (see ``/__admin/spec/admin.yaml``)."""
    endpoints = sorted({f"{' '.join(sorted(r.methods - {'HEAD', 'OPTIONS'}))} {r.rule}"
                        for r in current_app.url_map.iter_rules() if r.rule.startswith("/__admin/")})
    return json_response({"name": "userpilot-mock control API", "spec": "/__admin/spec/admin.yaml",
                          "endpoints": endpoints})


@admin_blueprint.get("/health")
def health():
    """``{"status": "ok", "seed"}``: the seed in force (app tokens derive
    from it), so a handle that did not reset can still name its app."""
    return json_response({"status": "ok", "seed": _state().backend.seed})


@admin_blueprint.post("/reset")
def reset():
    backend = _state().backend
    backend.reset(_json_object())
    return json_response({"status": "ok", "seed": backend.seed, "clock": backend.clock.state()})


@admin_blueprint.get("/clock")
def get_clock():
    return json_response(_state().backend.clock.state())


@admin_blueprint.post("/clock")
def set_clock():
    body = check_fields(_json_object(required=True), CLOCK_FIELDS, "clock change")
    clock = _state().backend.clock
    clock.set(**body)
    return json_response(clock.state())


@admin_blueprint.post("/jobs")
def add_job():
    backend = _state().backend
    job = backend.add_job(_json_object(required=True))
    return json_response(admin_job_view(job, backend.now()), 201)


@admin_blueprint.get("/jobs")
def list_jobs():
    backend = _state().backend
    args = request.args
    app = backend.app_for(args.get("api_key"), args.get("app_token"))
    t = backend.now()
    return json_response([admin_job_view(job, t) for job in app.newest_first()])


@admin_blueprint.get("/jobs/<job_id>")
def get_job(job_id: str):
    backend = _state().backend
    return json_response(admin_job_view(backend.find_job_anywhere(job_id), backend.now()))


@admin_blueprint.post("/scenario")
def load_scenario():
    """``{"name": "<bundled>"}`` or an inline scenario document: every app
    and job is replaced by the scenario's (clock, journal, faults kept)."""
    body = _json_object(required=True)
    ref = body["name"] if set(body) == {"name"} else body
    scenario = _state().backend.use_scenario(ref)
    return json_response(scenario.summary())


@admin_blueprint.get("/scenario")
def current_scenario():
    scenario = _state().backend.scenario
    return json_response(scenario.summary() if scenario is not None else
                         {"name": None, "description": "generated histories", "history":
                          _state().backend.jobs_per_app, "jobs": 0})


@admin_blueprint.get("/scenarios")
def list_scenarios():
    from ..backend.scenarios import bundled_names, load_bundled
    return json_response([load_bundled(name).summary() for name in bundled_names()])


@admin_blueprint.get("/spec/<name>.yaml")
def get_spec(name: str):
    if name not in SPEC_FILES:
        raise NotFound(f"no spec named {name!r}", f"one of: {', '.join(f'{n}.yaml' for n in SPEC_FILES)}")
    return Response(spec_text(name), content_type="application/yaml; charset=utf-8")


__all__ = ["admin_blueprint", "admin_job_view"]
