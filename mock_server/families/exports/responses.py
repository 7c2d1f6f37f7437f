"""The export operations over HTTP: triggerExport, listExportJobs,
getExportJob. Refusals are ApiErrors in the vendor's error shape: 400 for a
malformed filter, 409 while the app's export runs, 413 for a body over 1 MiB,
404 "Export job not found"."""
from __future__ import annotations

from ...backend import activity
from ...http.bodies import NO_BODY, json_body
from ...http.render import Answer, json_answer
from .models import (
    MAX_TRIGGER_BYTES,
    check_no_running_export,
    export_jobs,
    export_view,
    find_export,
    parse_trigger,
    trigger_answer,
    trigger_export,
)


def trigger_export_handler(call) -> Answer:
    """triggerExport: 201 with ``environment_app_token``, ``environment_name``,
    ``job_id``, ``links`` (the job on Show Job by Job ID) and ``start_time``."""
    backend, app = call.backend, call.app
    check_no_running_export(backend, app)  # an early 409, before the body; checked again atomically
    body = json_body(call.environ, MAX_TRIGGER_BYTES)
    definition = parse_trigger({} if body is NO_BODY else body,  # no body: no filter; a JSON null is refused
                               activity.catalogue(backend.seed, app.app_token), backend.now())
    job = trigger_export(backend, app, definition)
    return json_answer(trigger_answer(job, backend.links_base(call.links_base)), 201)


def list_export_jobs(call) -> Answer:
    """listExportJobs: a bare array of the app's export jobs of the last 3
    days, newest first."""
    backend = call.backend
    t = backend.now()
    base, key = backend.links_base(call.links_base), backend.signing_key
    jobs = export_jobs(call.app, t)
    call.shown = (t, tuple(jobs))
    return json_answer([export_view(job, t, base, key) for job in jobs])


def get_export_job(call) -> Answer:
    """getExportJob: one export job; 404 "Export job not found" for an
    unknown id, another app's job, and any job 3 days after its creation.
    ``job_id`` arrives percent-decoded."""
    backend = call.backend
    t = backend.now()
    job = find_export(call.app, call.params["job_id"], t)
    call.shown = (t, (job,))
    return json_answer(export_view(job, t, backend.links_base(call.links_base), backend.signing_key))


__all__ = ["get_export_job", "list_export_jobs", "trigger_export_handler"]
