"""The state of one fake, declared once: :class:`Fake` (and its :class:`Operation`\\ s).

``create_app`` builds one :class:`Fake` and keeps it as
``app.extensions["userpilot"]``; every stage of the pipeline and every view
of the control API reads what it needs from it. Nothing is attached to it
later: every field is here, typed and documented.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .. import coverage
from ..backend.core import Backend
from ..config import SettingError, Settings
from ..evidence.har import CassetteError
from ..evidence.replay import ReplayBook
from ..spec import api_key_scheme, operations
from .answers import Answers
from .generic import generic_answer
from .violations import RequestRules


@dataclass(frozen=True)
class Operation:
    """One operation of the served spec: ``operation_id``; ``method`` (upper
    case) and ``path`` (the OpenAPI template); ``spec`` (its Operation
    Object); ``secured`` (it needs an API key); ``handler`` (its family's,
    or None); ``generic`` (``(status, body)`` of its schema-valid answer,
    for an operation no family handles)."""

    operation_id: str
    method: str
    path: str
    spec: dict
    secured: bool
    handler: Callable | None
    generic: tuple[int, object] | None


@dataclass(eq=False)
class Fake:
    """Everything one fake holds.

    ``settings``: final once built (nothing changes them later). ``spec``:
    the kit spec served. ``backend``: apps, jobs, the clock, fault rules and
    the journal, behind its store. ``operations``: operationId ->
    :class:`Operation`, the routes. ``answers``: the answers of injected
    statuses and examples, from the spec. ``request_rules``: operationId ->
    what the spec allows of a request (the journal's violations).
    ``add_server_header``: answers carry ``server: Cowboy`` (False when the
    WSGI server sends it itself). ``replay``: the recorded answers it serves
    (``settings.replay``'s cassette), None when it replays none.
    ``coverage_universe``: what the coverage of a client's tests is counted
    over (:func:`mock_server.coverage.universe`).
    """

    settings: Settings
    spec: dict
    backend: Backend
    operations: dict[str, Operation]
    answers: Answers
    request_rules: dict[str, RequestRules]
    add_server_header: bool
    coverage_universe: dict
    replay: ReplayBook | None = None

    @classmethod
    def build(cls, settings: Settings, spec: dict, handlers: dict[str, Callable], *, store=None,
              add_server_header: bool = True, error_codes: dict[str, dict[int, str]] | None = None,
              job_types: tuple[str, ...] = ()) -> Fake:
        """A fake serving every operation of ``spec``, with ``handlers``
        (operationId -> handler) for those that have business behind them and
        a generic schema-valid answer for the rest. ``store``: where its state
        lives (default: memory). ``error_codes``: operationId -> status ->
        the ``error_code`` of its real answers (the families'), which
        injected statuses carry too. ``job_types``: the types of the jobs its
        families and histories make. Raises ValueError for bad settings (a
        SettingError naming ``replay`` for a cassette it cannot read), and
        what the store raises."""
        replay = None
        if settings.replay is not None:
            try:
                replay = ReplayBook.load(settings.replay)
            except CassetteError as exc:
                raise SettingError("replay", str(exc)) from None
        ops: dict[str, Operation] = {}
        for path, method, op in operations(spec):
            operation_id = op.get("operationId") or f"{method.upper()} {path}"
            handler = handlers.get(operation_id)
            ops[operation_id] = Operation(operation_id, method.upper(), path, op,
                                          api_key_scheme(spec, op) is not None, handler,
                                          None if handler else generic_answer(spec, op))
        backend = Backend(settings, store=store,
                          operations={op_id: (op.method, op.path) for op_id, op in ops.items()},
                          operation_limits=declared_limits(ops))
        rules = {op_id: RequestRules(spec, op.path, op.method, op.spec, op.secured) for op_id, op in ops.items()}
        return cls(settings, spec, backend, ops, Answers(spec, ops, error_codes), rules,
                   add_server_header, coverage.universe(spec, job_types), replay)


def declared_limits(operations: dict[str, Operation]) -> dict[str, tuple[str, int, float]]:
    """operationId -> ``(bucket, requests, seconds)`` for every operation
    whose spec declares ``x-userpilot-rate-limit: {requests, per_seconds,
    bucket}`` (the bucket defaults to the operationId: operations naming one
    bucket share its window). Raises ValueError for a malformed one."""
    out = {}
    for op_id, op in operations.items():
        declared = op.spec.get("x-userpilot-rate-limit")
        if declared is None:
            continue
        requests, seconds = declared.get("requests"), declared.get("per_seconds")
        if not isinstance(requests, int) or requests < 1 or not isinstance(seconds, (int, float)) or seconds <= 0:
            raise ValueError(f"{op_id}: x-userpilot-rate-limit needs requests >= 1 and per_seconds > 0, got {declared}")
        out[op_id] = (str(declared.get("bucket") or op_id), requests, float(seconds))
    return out


__all__ = ["Fake", "Operation", "declared_limits"]
