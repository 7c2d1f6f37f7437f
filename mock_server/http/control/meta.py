"""The control API's own pages: the index, health, reset and the specs."""
from __future__ import annotations

from flask import Response, current_app

from ...backend.errors import NotFound
from ...spec import SPEC_FILES, spec_text
from .base import control, fake, json_object, reply


@control.get("")
@control.get("/")
def index():
    """What the control API offers (see ``/__admin/spec/admin.yaml``)."""
    endpoints = sorted({f"{' '.join(sorted(r.methods - {'HEAD', 'OPTIONS'}))} {r.rule}"
                        for r in current_app.url_map.iter_rules() if r.rule.startswith("/__admin/")})
    return reply({"name": "userpilot-mock control API", "spec": "/__admin/spec/admin.yaml",
                  "endpoints": endpoints})


@control.get("/health")
def health():
    """``{"status": "ok", "seed", "profile", "forms"}``: the seed in force
    (app tokens derive from it), so a handle that did not reset can still
    name its app; the profile's name (null: the assumed defaults) and the
    forms of its answers' bodies (what a client checking them must expect)."""
    backend = fake().backend
    return reply({"status": "ok", "seed": backend.seed, "profile": backend.profile.name,
                  "forms": backend.forms.body_forms()})


@control.post("/reset")
def reset():
    """adminReset: back to a seeded start (admin.yaml ResetRequest)."""
    backend = fake().backend
    backend.reset(json_object())
    return reply({"status": "ok", "seed": backend.seed, "clock": backend.clock.state()})


@control.get("/spec/<name>.yaml")
def get_spec(name: str):
    """adminGetSpec: one of the shipped OpenAPI documents, as shipped."""
    if name not in SPEC_FILES:
        raise NotFound(f"no spec named {name!r}", f"one of: {', '.join(f'{n}.yaml' for n in SPEC_FILES)}")
    return Response(spec_text(name), content_type="application/yaml; charset=utf-8")
