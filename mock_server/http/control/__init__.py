"""The control API under ``/__admin/`` (described in ``openapi/admin.yaml``):
reset, clock, apps, jobs, faults, requests, scenarios, coverage, spec,
health, and the dashboard (``/__admin/ui/``, static files of this package). One package,
registered on a Flask app by one call, :func:`register_control_api`.

No API key needed (an admin token when the fake has one; :mod:`.guard`
says who may call it); it never reads or writes the server's disk (the shipped
spec files are read once, from the installed package). Apps are named by
app token in every answer, never by API key. Every body and query parameter
is checked against admin.yaml (:mod:`mock_server.schemas`), by the backend
for bodies and by the views for query parameters.
"""
from __future__ import annotations

import logging

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from ...backend.errors import ApiError
from . import apps, clock, coverage, faults, jobs, journal, meta, scenarios, ui  # noqa: F401 - each adds its views
from .base import control, reply
from .guard import Guard


def register_control_api(app: Flask) -> None:
    """Add the control API to ``app`` (a Flask app whose
    ``extensions["userpilot"]`` is the :class:`~mock_server.http.fake.Fake`
    it controls), with its errors in the vendor's error shape."""
    app.register_blueprint(control)
    guard = Guard(app.extensions["userpilot"].settings)

    @app.before_request
    def guarded():  # Host, admin token, Content-Type (guard.py), before any view
        guard.check(request.environ)

    @app.errorhandler(ApiError)
    def on_api_error(error: ApiError):
        response = reply(error.body(), error.status)
        for name, value in error.headers.items():
            response.headers[name] = value
        return response

    @app.errorhandler(HTTPException)
    def on_http_exception(error: HTTPException):
        status = error.code or 500
        headers = {}
        if status == 405:
            headers["Allow"] = ", ".join(sorted(getattr(error, "valid_methods", None) or []))
            message = f"Method {request.method} is not allowed on this path"
        elif status == 404:
            message = f"No operation at {request.path}"
        else:
            message = error.description or error.name
        return on_api_error(ApiError(message, error.description or message, status=status, error=error.name,
                                     error_code=error.name.lower().replace(" ", "_"), headers=headers))

    @app.errorhandler(Exception)
    def on_unexpected(error: Exception):  # a bug of ours: still the error shape
        logging.getLogger("userpilot_mock").exception("unexpected error")
        return on_api_error(ApiError("Internal error in userpilot-mock", type(error).__name__, status=500,
                                     error="Internal Server Error", error_code="internal_error"))


__all__ = ["register_control_api"]
