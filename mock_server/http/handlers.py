"""Domain handlers: one function per operation of the kit spec that has
business behind it (parse, call the backend, serialise). Operations without
one are answered by :mod:`.generic`.

A handler is ``handler(state, app, **path_params) -> Response`` where
``state`` is the :class:`~.app.FakeState` and ``app`` the authenticated
:class:`~mock_server.backend.models.App`.
"""
from __future__ import annotations

from .imports import create_import_handler
from .render import job_fragment, json_response, list_body


def list_jobs(state, app):
    """listJobs: a bare JSON array of the app's jobs, newest first."""
    backend = state.backend
    return json_response(list_body(app, backend.now()))


def get_job(state, app, job_id: str):
    """getJob: one job plus ``completed_rows``; 404 for an unknown id or
    another app's job. ``job_id`` arrives percent-decoded (``%3A`` = ``:``)."""
    backend = state.backend
    job = backend.find_job(app, job_id)
    return json_response(job_fragment(job, backend.now(), detail=True))


#: operationId -> handler. Later features register theirs here.
HANDLERS = {
    "listJobs": list_jobs,
    "getJob": get_job,
    "createImport": create_import_handler,
}
