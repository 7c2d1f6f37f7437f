"""What every view of the control API shares: its blueprint, the fake it
controls, JSON bodies in and out, and the control form of a job."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from ...backend import jsonutil
from ...backend.errors import BadRequest
from ...backend.models import Job
from ...times import format_instant
from ..front import ADMIN_PREFIX
from ..pipeline import public_url
from ..render import JSON_TYPE, encode

#: The one blueprint of the control API; every view module adds its routes to it.
control = Blueprint("control", __name__, url_prefix=ADMIN_PREFIX)

_KINDS = ((bool, "a boolean"), (str, "a string"), (list, "an array"), (int, "a number"), (float, "a number"))


def fake():
    """The :class:`~mock_server.http.fake.Fake` this control API drives."""
    return current_app.extensions["userpilot"]


def reply(body, status: int = 200) -> Response:
    """A JSON answer (the real API's content type)."""
    return Response(encode(body), status=status, content_type=JSON_TYPE)


def json_object(required: bool = False) -> dict | None:
    """The request's JSON body, which must be an object; None only when the
    body is empty (and not ``required``). Raises BadRequest for malformed
    JSON, bad UTF-8, a missing body, or a value that is not an object (a
    literal ``null`` included)."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if required:
            raise BadRequest("a JSON body is required")
        return None
    try:
        body = jsonutil.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("the body is not valid JSON", str(exc)) from None
    except RecursionError:
        raise BadRequest("the body is not valid JSON", "nested too deeply") from None
    if not isinstance(body, dict):
        kind = "null" if body is None else next(name for t, name in _KINDS if isinstance(body, t))
        raise BadRequest(f"the body must be a JSON object, got {kind}")
    return body


def links_base() -> str:
    """The public URL the client reached (base of new jobs' ``links``)."""
    return public_url(request.environ)


def admin_job_view(job: Job, t: int) -> dict:
    """The single-job form at instant ``t``, plus ``app_token``, the
    ``timeline`` (phase -> ISO 8601 instant it starts, terminal status
    included) and what the job's family keeps besides (an import's
    ``errors`` and ``error_count``)."""
    out = job.view(t, detail=True)
    out["app_token"] = job.app_token
    out["timeline"] = {phase: format_instant(at) for phase, at in job.timeline.phase_starts().items()}
    if job.extra:
        out.update(job.extra)
    return out


__all__ = ["admin_job_view", "control", "fake", "json_object", "links_base", "reply"]
