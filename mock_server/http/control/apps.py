"""``/__admin/apps``: the apps the fake holds, for the dashboard and other clients."""
from __future__ import annotations

from flask import request

from ... import schemas
from .base import control, fake, reply


@control.get("/apps")
def list_apps():
    """adminListApps: every app (admin.yaml AppSummary), the most recently requested first."""
    query = schemas.check_query("adminListApps", request.args)
    return reply(fake().backend.app_summaries(query.get("limit")))
