"""``/__admin/clock``: read and move the fake's clock."""
from __future__ import annotations

from .base import control, fake, json_object, reply


@control.get("/clock")
def get_clock():
    """adminGetClock: ``{"now", "frozen", "speed"}``."""
    return reply(fake().backend.clock.state())


@control.post("/clock")
def set_clock():
    """adminSetClock: admin.yaml ClockUpdate; the clock's state after it."""
    return reply(fake().backend.set_clock(json_object(required=True)))
