"""The jobs family: List Jobs and Check job status (``listJobs``, ``getJob``).

Every job of an app, whatever family made it, is listed and read here; the
lifecycle is :mod:`mock_server.backend.lifecycle`'s.
"""
from __future__ import annotations

from ...http.render import Answer, job_fragment, json_answer, list_body


def list_jobs(call) -> Answer:
    """listJobs: a bare JSON array of the app's jobs, newest first."""
    backend = call.backend
    t = backend.now()
    call.shown = (t, None)
    return json_answer(list_body(call.app, t, backend.forms))


def get_job(call) -> Answer:
    """getJob: one job plus ``completed_rows``; 404 for an unknown id or
    another app's job. ``job_id`` arrives percent-decoded (``%3A`` = ``:``)."""
    backend = call.backend
    job = backend.find_job(call.app, call.params["job_id"])
    t = backend.now()
    call.shown = (t, (job,))
    return json_answer(job_fragment(job, t, True, backend.forms))


__all__ = ["get_job", "list_jobs"]
