"""``/__admin/faults``: fault rules."""
from __future__ import annotations

from flask import Response

from .base import control, fake, json_object, reply


@control.post("/faults")
def add_fault():
    """adminCreateFault: a rule from admin.yaml FaultRuleRequest, 201 with its view."""
    return reply(fake().backend.faults.add(json_object(required=True)), 201)


@control.get("/faults")
def list_faults():
    """adminListFaults: every rule, oldest first."""
    return reply(fake().backend.faults.rules())


@control.delete("/faults")
def clear_faults():
    """adminClearFaults."""
    fake().backend.faults.clear()
    return Response(status=204)


@control.delete("/faults/<rule_id>")
def delete_fault(rule_id: str):
    """adminDeleteFault."""
    fake().backend.faults.remove(rule_id)
    return Response(status=204)
