"""``/__admin/jobs``: jobs made directly from job specs, and every job's timeline."""
from __future__ import annotations

from flask import request

from ... import schemas
from .base import admin_job_view, control, fake, json_object, links_base, reply


@control.post("/jobs")
def add_job():
    """adminCreateJob: a job from admin.yaml JobSpec, 201 with its control form."""
    backend = fake().backend
    job = backend.add_job(json_object(required=True), links_base=links_base())
    return reply(admin_job_view(job, backend.now()), 201)


@control.get("/jobs")
def list_jobs():
    """adminListJobs: one app's jobs, named by ``api_key`` or ``app_token``,
    newest first (at most ``limit``)."""
    backend = fake().backend
    query = schemas.check_query("adminListJobs", request.args)
    app = backend.app_for(query.get("api_key"), query.get("app_token"), links_base())
    t = backend.now()
    jobs = app.newest_first()
    if "limit" in query:
        jobs = jobs[: query["limit"]]
    return reply([admin_job_view(job, t) for job in jobs])


@control.get("/jobs/<job_id>")
def get_job(job_id: str):
    """adminGetJob: one job of any app, with its timeline."""
    backend = fake().backend
    return reply(admin_job_view(backend.find_job_anywhere(job_id), backend.now()))
