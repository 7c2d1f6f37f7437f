"""The request pipeline of the fake API: one declared list of stages.

A request to the API (anything but ``/__admin/``) becomes a :class:`Call` and
passes the stages ``create_app`` declares, in order. Every stage is a
:class:`Stage` with one interface of two steps:

- ``before(call)`` runs on the way in; returning an :class:`~.render.Answer`
  (or raising an :class:`~mock_server.backend.errors.ApiError`) answers the
  request there, and the stages after it are skipped;
- ``after(call, answer)`` runs on the way out for *every* stage, in the same
  order, whatever answered: it may record the answer or replace it.

So the list reads in the order a request meets the rules (404/405, 401, 429,
``Prefer``, fault rules, the operation), and a recording stage at the end
sees every answer, refusals included. An exception that is not an ApiError
is a bug of ours: it is logged and answered 500, still in the error shape.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from werkzeug.wrappers import Request

from ..backend.errors import ApiError
from .render import Answer, error_answer

log = logging.getLogger("userpilot_mock")

#: A Host header fit to build links on: a name or an address, and a port.
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?")


class Call:
    """One request to the API on its way through the pipeline.

    ``environ``: the WSGI environ; ``fake``: the :class:`~.fake.Fake`;
    ``operation``: the :class:`~.fake.Operation` the route names (None
    until routed, or when none does); ``params``: its path parameters,
    percent-decoded; ``app``: the authenticated
    :class:`~mock_server.backend.models.App` (None for an operation that
    needs no key); ``fault``: a body fault to apply to the answer (a fault
    rule's name) or None; ``allowed``: for a path that exists with other
    methods, those methods (a 405); ``injected``: what injected the answer
    (``Prefer``, a fault rule, ``--error-rate``, ``--rate-limit``, a body
    fault), None for the operation's own; ``preflight``: True for a CORS
    preflight the fake answered (``--cors``); ``delayed``: an injected latency
    held the answer; ``shown``: the jobs the operation's answer shows, for
    the coverage of a client's tests, set by its handler: ``(t, None)`` for
    the whole list of ``app`` at instant ``t`` (whole UTC epoch seconds),
    ``(t, jobs)`` for those jobs (a sequence), None for none.
    """

    __slots__ = ("environ", "fake", "backend", "operation", "params", "app", "fault", "allowed", "injected",
                 "preflight", "delayed", "shown", "_request")

    def __init__(self, environ: dict, fake):
        self.environ = environ
        self.fake = fake
        self.backend = fake.backend
        self.operation: Any = None  # the Operation, once routed
        self.params: Mapping[str, Any] = {}
        self.app = None
        self.fault: str | None = None
        self.allowed: list[str] | None = None
        self.injected: str | None = None
        self.preflight = False
        self.delayed = False
        self.shown: tuple | None = None
        self._request: Request | None = None

    @property
    def request(self) -> Request:
        """Werkzeug's view of the request (headers, query, body), made on first use."""
        if self._request is None:
            self._request = Request(self.environ)
        return self._request

    @property
    def args(self):
        """The parsed query string (a MultiDict)."""
        return self.request.args

    @property
    def links_base(self) -> str:
        """The public URL the client reached: the base of new jobs' ``links``."""
        return public_url(self.environ)


def public_url(environ: dict) -> str:
    """The URL a request reached, ``scheme://host[:port]`` (no slash at the
    end); a malformed ``Host`` is replaced by the address the server listens
    on, so no header can put arbitrary text into an answer's links."""
    host = environ.get("HTTP_HOST") or ""
    if not _HOST.fullmatch(host):
        host = f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT', '80')}"
    return f"{environ.get('wsgi.url_scheme', 'http')}://{host}"


class Stage:
    """One stage of the pipeline (see the module docstring). ``name``
    labels it in docs and errors."""

    name = "stage"

    def before(self, call: Call) -> Answer | None:
        """The way in: an answer ends the request here; None lets it go on."""
        return None

    def after(self, call: Call, answer: Answer) -> Answer:
        """The way out: the answer to send (``answer`` or a replacement)."""
        return answer


class Pipeline:
    """The API as a WSGI app: ``stages`` (a sequence of :class:`Stage`), run
    for each request of ``fake`` as the module docstring says."""

    def __init__(self, fake, stages: Sequence[Stage]):
        self.fake = fake
        self.stages = tuple(stages)
        # Stages that do nothing on a way are skipped there (every request pays for the rest).
        self._befores = tuple(s.before for s in self.stages if type(s).before is not Stage.before)
        self._afters = tuple(s.after for s in self.stages if type(s).after is not Stage.after)

    def answer(self, call: Call) -> Answer:
        """Run ``call`` through the stages; returns the answer to send."""
        answer = None
        try:
            for before in self._befores:
                answer = before(call)
                if answer is not None:
                    break
        except ApiError as error:
            answer = error_answer(error)
        except Exception as exc:
            answer = internal_error(exc)
        if answer is None:  # no stage answered: the pipeline has no operation stage
            answer = internal_error(LookupError("no stage answered"))
        try:
            for after in self._afters:
                answer = after(call, answer)
        except Exception as exc:
            answer = internal_error(exc)
        return answer

    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        return self.answer(Call(environ, self.fake)).send(environ, start_response)


def internal_error(exc: BaseException) -> Answer:
    """The answer to a bug of ours, ``exc`` (logged with its traceback): 500
    in the error shape, naming only the exception's type."""
    log.error("unexpected error", exc_info=exc)
    return error_answer(ApiError("Internal error in userpilot-mock", type(exc).__name__, status=500,
                                 error="Internal Server Error", error_code="internal_error"))


__all__ = ["Call", "Pipeline", "Stage", "internal_error", "public_url"]
