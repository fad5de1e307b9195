"""Event-time bounds: a broken clock's event is quarantined with a reason naming the bound."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from hexlake.gate import Gate, SourceInfo
from hexlake.gate.envelope import GateResult

from .conftest import NOW, WEB
from .examples import example


def run(gate: Gate, items: list[Any], source: SourceInfo = WEB) -> GateResult:
    return gate.process(items, source=source, received_at=NOW)


@pytest.mark.parametrize(("timestamp", "reason"), [
    ("9999-12-31T00:00:00Z", "timestamp: 9999-12-31 is more than 1 day in the future (max_future)"),
    ("1900-01-01T00:00:00Z", "timestamp: 1900-01-01 is more than 3650 days in the past (max_past)"),
    ("1970-01-01T00:00:00Z", "timestamp: 1970-01-01 is more than 3650 days in the past (max_past)"),
])
def test_event_outside_the_bounds_is_quarantined_naming_the_bound(gate: Gate, timestamp: Any, reason: Any) -> None:
    result = run(gate, [example("page", event_id="bad", timestamp=timestamp), example("page")])
    assert len(result.accepted) == 1 and result.accepted[0].event_id != "bad"
    (error,) = result.errors
    assert [(m.path, m.keyword, m.message) for m in error.messages] == [
        ("/timestamp", reason.rsplit("(", 1)[1].rstrip(")"), reason)]
    assert len(result.quarantined) == 1


def test_events_just_inside_the_bounds_are_accepted(gate: Gate) -> None:
    inside = [example("page", event_id="f", timestamp=(NOW + timedelta(hours=23)).isoformat()),
              example("page", event_id="p", timestamp=(NOW - timedelta(days=3649)).isoformat())]
    assert len(run(gate, inside).accepted) == 2


def test_a_fast_client_clock_is_fine_when_sent_at_corrects_it(make_gate: Callable[..., Gate]) -> None:
    gate = make_gate(max_future_s=60)  # the bound applies to the skew-corrected time
    item = example("page", timestamp="2024-06-01T14:01:00Z", sent_at="2024-06-01T14:05:00Z")
    (event,) = run(gate, [item]).accepted
    assert event.ts == NOW - timedelta(minutes=4)


def test_historical_sources_accept_any_past_but_not_the_future(make_gate: Callable[..., Gate]) -> None:
    gate = make_gate(historical_sources=["takeout"])
    for source in (SourceInfo(name="takeout"), SourceInfo(name="backfill", historical=True)):
        old = example("page", event_id=f"old-{source.name}", timestamp="1999-03-01T00:00:00Z")
        future = example("page", event_id=f"future-{source.name}", timestamp="9999-12-31T00:00:00Z")
        result = run(gate, [old, future], source=source)
        assert [e.event_id for e in result.accepted] == [f"old-{source.name}"]
        assert result.errors[0].messages[0].keyword == "max_future"


def test_per_source_bounds_override_the_defaults(make_gate: Callable[..., Gate]) -> None:
    gate = make_gate(source_max_past_days={"web": 1}, source_max_future_s={"web": 60})
    late = example("page", event_id="late", timestamp=(NOW - timedelta(days=2)).isoformat())
    ahead = example("page", event_id="ahead", timestamp=(NOW + timedelta(minutes=2)).isoformat())
    result = run(gate, [late, ahead])
    assert result.accepted == []
    assert [e.messages[0].message for e in result.errors] == [
        "timestamp: 2024-05-30T12:05:00Z is more than 1 day in the past (max_past)",
        "timestamp: 2024-06-01T12:07:00Z is more than 1 minute in the future (max_future)"]
    assert len(run(gate, [late], source=SourceInfo(name="app")).accepted) == 1  # other sources: defaults
