"""The lifecycle and the clock, on virtual time only."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from mock_server.backend.clock import Clock
from mock_server.times import format_instant, parse_instant
from mock_server.backend.errors import BadRequest
from mock_server.backend.lifecycle import PHASES, Timeline, processing_seconds


def test_phase_boundaries_belong_to_the_next_phase():
    tl = Timeline.build(1000, {"queued": 10, "validating": 5, "processing": 20, "pending_refresh": 7},
                        "completed", None, 400)
    assert [tl.status(t) for t in (1000, 1009, 1010, 1014, 1015, 1034, 1035, 1041, 1042, 5000)] == [
        "queued", "queued", "validating", "validating", "processing", "processing",
        "pending_refresh", "pending_refresh", "completed", "completed"]
    assert tl.end == 1042
    assert tl.end_time(1041) is None and tl.end_time(1042) == 1042
    assert tl.elapsed(1020) == 20 and tl.elapsed(9999) == 42


def test_completed_rows_grow_linearly_through_processing():
    tl = Timeline.build(0, {"queued": 1, "validating": 1, "processing": 100, "pending_refresh": 1},
                        "completed", None, 1000)
    assert tl.completed_rows(1) == 0
    assert tl.completed_rows(2) == 0
    assert tl.completed_rows(52) == 500
    assert tl.completed_rows(101) == 990
    assert tl.completed_rows(102) == 1000  # pending_refresh: all rows written
    assert tl.completed_rows(10_000) == 1000


def test_failure_at_processing_keeps_its_rows_and_never_reaches_total():
    tl = Timeline.build(0, {"queued": 1, "validating": 1, "processing": 30, "pending_refresh": 1},
                        "failed", "processing", 1000)
    assert tl.status(31) == "processing" and tl.status(32) == "failed"
    at_failure = tl.completed_rows(32)
    assert 0 < at_failure < 1000
    assert tl.completed_rows(10_000) == at_failure


def test_failure_at_validating_has_no_rows():
    tl = Timeline.build(0, {"queued": 2, "validating": 3, "processing": 30, "pending_refresh": 1},
                        "failed", "validating", 1000)
    assert [tl.status(t) for t in (0, 2, 5)] == ["queued", "validating", "failed"]
    assert tl.completed_rows(100) == 0
    assert "processing" not in tl.phase_starts()


def test_processing_follows_the_documented_throughput():
    assert processing_seconds(1200) == 60
    assert processing_seconds(10_000) == 500
    assert processing_seconds(0) == 1


@settings(max_examples=200, deadline=None)
@given(rows=st.integers(0, 50_000), d=st.lists(st.integers(0, 500), min_size=4, max_size=4),
       fail=st.sampled_from([None, "validating", "processing"]), t1=st.integers(0, 60_000),
       t2=st.integers(0, 60_000))
def test_status_and_rows_never_go_backwards(rows, d, fail, t1, t2):
    tl = Timeline.build(0, dict(zip(PHASES, d)), "failed" if fail else "completed", fail, rows)
    a, b = sorted((t1, t2))
    order = {s: i for i, s in enumerate(PHASES)} | {"completed": 4, "failed": 4}
    assert order[tl.status(a)] <= order[tl.status(b)]
    assert tl.completed_rows(a) <= tl.completed_rows(b) <= rows
    assert (tl.end_time(b) is None) == (tl.status(b) in PHASES)


def test_clock_frozen_advance_and_never_backwards():
    real = [1000.0]
    clock = Clock(now=5000.0, frozen=True, real=lambda: real[0])
    real[0] += 50
    assert clock.now() == 5000.0
    clock.advance(30)
    assert clock.now() == 5030.0
    with pytest.raises(BadRequest):
        clock.set(now=4000)
    with pytest.raises(BadRequest):
        clock.advance(-1)
    with pytest.raises(BadRequest):
        clock.set(speed=0)
    with pytest.raises(BadRequest):
        clock.set(speed=-2)
    assert clock.now() == 5030.0  # nothing changed by the refused requests


def test_clock_speed_scales_real_time():
    real = [0.0]
    clock = Clock(now=100.0, speed=600, real=lambda: real[0])
    real[0] = 2.0
    assert clock.now() == pytest.approx(1300.0)
    clock.set(frozen=True)
    real[0] = 10.0
    assert clock.now() == pytest.approx(1300.0)


def test_clock_holds_still_when_the_real_clock_steps_back():
    real = [10.0]
    clock = Clock(now=0.0, real=lambda: real[0])
    real[0] = 20.0
    assert clock.now() == 10.0
    real[0] = 15.0
    assert clock.now() == 10.0


@pytest.mark.parametrize("text,expected", [
    ("2026-11-29T12:00:00Z", 1795953600.0),
    ("2026-11-29T12:00:00+00:00", 1795953600.0),
    ("2026-11-29 12:00:00", 1795953600.0),
    ("2026-11-29T13:00:00+01:00", 1795953600.0),
])
def test_parse_instant(text, expected):
    assert parse_instant(text) == expected
    assert format_instant(expected) == "2026-11-29T12:00:00Z"


@pytest.mark.parametrize("bad", ["yesterday", "", "2026-13-01T00:00:00Z", True, None, [], float("nan")])
def test_parse_instant_refuses_garbage(bad):
    with pytest.raises(BadRequest):
        parse_instant(bad)
