"""Property tests: whatever JSON arrives, every item gets exactly one outcome and nothing raises."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import h3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hexlake.gate import DedupeWindow, Gate, SchemaRegistry, SourceInfo, builtin_schemas
from hexlake.gate.config import GateConfig
from hexlake.privacy import Hasher

from .conftest import NOW, SECRET
from .examples import example

REGISTRY = SchemaRegistry(":memory:")
TYPES = sorted({s["x-event-type"] for s in builtin_schemas()})
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
field_values = {
    "event_type": st.sampled_from([*TYPES, "custom"]) | json_values,
    "event_id": st.text(max_size=8) | json_values,
    "user_id": st.text(max_size=8) | st.integers() | json_values,
    "timestamp": st.datetimes().map(lambda d: d.isoformat()) | st.integers() | json_values,
    "sent_at": st.datetimes().map(lambda d: d.isoformat()) | json_values,
    "properties": json_values,
    "data": json_values,
    "traits": json_values,
    "context": json_values,
    "consent": st.dictionaries(st.text(max_size=5), st.booleans()) | json_values,
    "location": st.fixed_dictionaries({"lat": st.floats(-90, 90), "lng": st.floats(-180, 180)}) | json_values,
    "schema_version": st.integers() | json_values,
}
event_like = st.fixed_dictionaries({}, optional=field_values)
items = st.lists(event_like | json_values, max_size=8)


def new_gate() -> Gate:
    return Gate(REGISTRY, Hasher(SECRET), GateConfig(), DedupeWindow(1000), clock=lambda: NOW)


@SETTINGS
@given(batch=items, policy=st.sampled_from(["accept", "quarantine", "reject"]))
def test_every_item_gets_exactly_one_outcome_and_process_never_raises(batch: Any, policy: Any) -> None:
    result = new_gate().process(batch, source=SourceInfo(name="p", unknown_events=policy), received_at=NOW)
    indexes = result.accepted_index + result.duplicates + [e.index for e in result.errors]
    assert sorted(indexes) == list(range(len(batch)))
    assert len(result.accepted) == len(result.accepted_index)
    assert {q.event_id for q in result.quarantined} <= {e.event_id for e in result.errors}
    # refusals are explained, never the catch-all for an unexpected exception
    assert all(m.keyword != "error" for e in result.errors for m in e.messages), result.errors
    for event in result.accepted:
        assert "ip" not in event.context
        if event.lat is not None:
            assert event.h3_r9 == h3.latlng_to_cell(event.lat, event.lng, 9)


@SETTINGS
@given(
    event_type=st.sampled_from(TYPES),
    user_id=st.text(min_size=1, max_size=30) | st.integers(min_value=-(2**63), max_value=2**63),
    lat=st.floats(-89.9, 89.9),
    lng=st.floats(-179.9, 179.9),
    precise=st.booleans(),
)
def test_valid_events_round_trip_with_right_hashes_and_cells(
    event_type: Any, user_id: Any, lat: float, lng: float, precise: Any
) -> None:
    item = example(event_type, user_id=user_id, location={"lat": lat, "lng": lng},
                   consent={"precise_location": precise})
    result = new_gate().process([item], source=SourceInfo(name="p"), received_at=NOW)
    (event,) = result.accepted
    assert event.user_key == hmac.new(SECRET, str(user_id).encode(), hashlib.sha256).hexdigest()
    if precise:
        assert (event.lat, event.lng) == (lat, lng)
    else:
        assert (event.lat, event.lng) == h3.cell_to_latlng(h3.latlng_to_cell(lat, lng, 9))
    assert event.h3_r9 == h3.latlng_to_cell(lat, lng, 9)
    assert event.h3_r12 == h3.latlng_to_cell(event.lat, event.lng, 12)
    assert event.h3_r6 == h3.latlng_to_cell(event.lat, event.lng, 6)
