"""Operations shared by the CLI and the API: quarantine fix/replay, sources, schemas, loading."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hexlake.config import Settings
from hexlake.errors import BadRequest, Conflict, NotFound, Unauthorized
from hexlake.runtime import Runtime
from hexlake.serve import operations as ops
from hexlake.setup import initialise


@pytest.fixture
def rt(settings: Settings) -> Iterator[Runtime]:
    initialise(settings)
    runtime = Runtime(settings)
    yield runtime
    runtime.close()


def ping(event_id: str, lat: float) -> dict:
    return {"event_id": event_id, "event_type": "location_ping", "user_id": "u1",
            "timestamp": "2026-11-20T10:00:00Z", "properties": {"location": {"lat": lat, "lng": 2.0}}}


def test_fixed_quarantined_event_replays_into_the_log_once(rt: Runtime) -> None:
    sent = ops.send(rt, [ping("q1", 123.0), ping("ok", 1.0)])
    assert (sent["accepted"], sent["quarantined"]) == (1, 1)
    item = ops.quarantine_list(rt)["items"][0]
    assert item["event_id"] == "q1"
    assert ops.quarantine_replay(rt)["still_failing"][0]["id"] == item["id"]  # still broken
    ops.quarantine_fix(rt, item["id"], ping("q1", 12.0))
    assert ops.quarantine_replay(rt, [item["id"]])["replayed"] == [item["id"]]
    assert ops.quarantine_list(rt)["items"] == []
    assert ops.quarantine_list(rt, status="replayed")["items"][0]["id"] == item["id"]
    assert ops.load_once(rt)["rows"] == 2
    assert ops.query(rt, "SELECT count(*) FROM raw_events WHERE event_id = 'q1'")["rows"] == [[1]]


def test_unknown_type_quarantined_then_replayed_after_its_schema_is_added(rt: Runtime) -> None:
    ops.sources_create(rt, "strict", unknown_events="quarantine")
    event = {"event_id": "pet-1", "event_type": "pet_weighed", "user_id": "u1", "properties": {"kg": 4.2}}
    assert ops.send(rt, [event], source="strict")["quarantined"] == 1
    ops.schemas_add(rt, {"x-event-type": "pet_weighed", "x-version": 1, "x-retention": "user_activity",
                         "type": "object", "properties": {"kg": {"type": "number", "minimum": 0}},
                         "required": ["kg"]})
    assert [s["event_type"] for s in ops.schemas_list(rt)].count("pet_weighed") == 1
    result = ops.quarantine_replay(rt)
    assert len(result["replayed"]) == 1 and result["still_failing"] == []


def test_unknown_type_is_rejected_under_reject_policy_and_nothing_is_stored(rt: Runtime) -> None:
    ops.sources_create(rt, "rejecting", unknown_events="reject")
    r = ops.send(rt, [{"event_type": "mystery", "user_id": "u"}], source="rejecting")
    assert (r["accepted"], r["quarantined"], len(r["errors"])) == (0, 0, 1)
    assert ops.quarantine_list(rt)["items"] == []


def test_sources_create_list_revoke(rt: Runtime) -> None:
    from hexlake.collect.sources import get_keystore

    key = ops.sources_create(rt, "web")["write_key"]
    assert get_keystore(rt).resolve_write_key(key).name == "web"
    with pytest.raises(Conflict):
        ops.sources_create(rt, "web")
    with pytest.raises(BadRequest):
        ops.sources_create(rt, "bad name!")
    ops.sources_revoke(rt, "web")
    assert next(s for s in ops.sources_list(rt) if s["name"] == "web")["revoked_at"]
    store = get_keystore(rt)
    store._cache.clear()
    with pytest.raises(Unauthorized):
        store.resolve_write_key(key)
    with pytest.raises(NotFound):
        ops.sources_revoke(rt, "web")


def test_sending_as_an_unknown_source_is_a_clear_error(rt: Runtime) -> None:
    with pytest.raises(BadRequest, match="sources create"):
        ops.send(rt, [ping("x", 1.0)], source="nope")


def test_log_status_shows_loader_lag_until_loaded(rt: Runtime) -> None:
    ops.send(rt, [ping(f"l{i}", 1.0) for i in range(5)])
    ops.load_once(rt)
    ops.send(rt, [ping("l9", 1.0)])
    groups = {g["group"]: g for g in ops.log_status(rt)["groups"]}
    assert groups["raw_loader"]["lag"] == 1
