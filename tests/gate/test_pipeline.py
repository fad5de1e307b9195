from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import h3
import pytest

from hexlake.gate import Event, Gate, SchemaRegistry, SourceInfo, builtin_schemas, encode_event
from hexlake.gate.envelope import GateResult

from .conftest import NOW, WEB, hmac_hex
from .examples import CONTEXT, PROPERTIES, SEED_001, example


def run(gate: Gate, items: list[Any], source: SourceInfo = WEB, **kw: Any) -> GateResult:
    return gate.process(items, source=source, received_at=kw.pop("received_at", NOW), **kw)


def only(result: Any) -> Event:
    assert not result.errors, result.errors
    assert len(result.accepted) == 1
    return result.accepted[0]


def coarse(lat: float, lng: float) -> tuple[float, float]:
    return h3.cell_to_latlng(h3.latlng_to_cell(lat, lng, 9))


def test_seed_001_event_becomes_the_exact_envelope(gate: Gate) -> None:
    event = only(run(gate, [SEED_001]))
    lat, lng = coarse(37.7749, -122.4194)
    assert event == Event(
        event_id="550e8400-e29b-41d4-a716-446655440000",
        event_type="user_interaction",
        schema_version=1,
        source="web",
        ts=datetime(2024, 1, 15, 10, 30, tzinfo=UTC),
        received_at=NOW,
        user_key=hmac_hex(12345),
        session_id="abc123xyz",
        properties={"interaction_type": "place_view", "place_id": 67890,
                    "context": SEED_001["data"]["context"]},
        lat=lat,
        lng=lng,
        accuracy_m=h3.average_hexagon_edge_length(9, "m"),
        h3_r6=h3.latlng_to_cell(lat, lng, 6),
        h3_r9=h3.latlng_to_cell(37.7749, -122.4194, 9),
        h3_r12=h3.latlng_to_cell(lat, lng, 12),
        retention="interaction",
    )


def test_input_item_is_not_modified(gate: Gate) -> None:
    item = example("identify", location={"lat": 1.0, "lng": 2.0})
    before = repr(item)
    run(gate, [item])
    assert repr(item) == before


@pytest.mark.parametrize("schema", builtin_schemas(), ids=lambda s: s["x-event-type"])
def test_every_builtin_event_type_accepts_a_realistic_event(gate: Gate, schema: dict[str, Any]) -> None:
    event_type = schema["x-event-type"]
    event = only(run(gate, [example(event_type)]))
    assert event.event_type == event_type
    assert event.schema_version == schema["x-version"]
    assert event.retention == schema["x-retention"]
    assert event.user_key == hmac_hex("user-42")
    assert event.anonymous_key == hmac_hex("anon-7")
    assert "ip" not in event.context
    assert "user-42" not in encode_event(event).decode()


def test_precise_location_kept_only_with_consent(gate: Gate) -> None:
    item = example("location_ping", consent={"precise_location": True})
    event = only(run(gate, [item]))
    assert (event.lat, event.lng, event.accuracy_m) == (52.52, 13.405, 12.0)
    assert event.h3_r12 == h3.latlng_to_cell(52.52, 13.405, 12)
    assert event.h3_r9 == h3.latlng_to_cell(52.52, 13.405, 9)
    assert event.h3_r6 == h3.latlng_to_cell(52.52, 13.405, 6)
    assert "location" not in event.properties
    assert event.consent == {"precise_location": True}


@pytest.mark.parametrize("consent", [None, {}, {"precise_location": False}, {"analytics": True}])
def test_location_coarsened_to_r9_centre_without_consent(gate: Gate, consent: Any) -> None:
    item = example("location_ping", location={"lat": 48.8584, "lng": 2.2945, "accuracy": 5})
    if consent is not None:
        item["consent"] = consent
    event = only(run(gate, [item]))
    assert (event.lat, event.lng) == coarse(48.8584, 2.2945)
    assert event.accuracy_m == pytest.approx(h3.average_hexagon_edge_length(9, "m"))
    assert event.h3_r9 == h3.latlng_to_cell(48.8584, 2.2945, 9)
    # the precise copy inside properties is gone too
    assert "location" not in event.properties


def test_top_level_location_wins_over_properties_location(gate: Gate) -> None:
    item = example("location_ping", location={"lat": 10.0, "lng": 20.0}, consent={"precise_location": True})
    event = only(run(gate, [item]))
    assert (event.lat, event.lng) == (10.0, 20.0)
    assert "location" not in event.properties


def test_events_without_location_have_no_cells(gate: Gate) -> None:
    event = only(run(gate, [example("page")]))
    assert event.lat is event.lng is event.h3_r6 is event.h3_r9 is event.h3_r12 is None


def test_location_ping_without_location_is_quarantined(gate: Gate) -> None:
    item = example("location_ping", properties={"speed_mps": 1.0})
    result = run(gate, [item])
    assert result.accepted == []
    assert [(m.path, m.keyword) for m in result.errors[0].messages] == [("/location", "required")]


def test_context_pii_removed_or_hashed(gate: Gate) -> None:
    context = {**CONTEXT, "email": "A@B.com", "name": "Jane", "traits": {"name": "Jane", "phone": "555-0100"},
               "network": {"ip": "10.0.0.1", "wifi": True}}
    event = only(run(gate, [example("track", context=context)]))
    ctx = event.context
    assert "ip" not in ctx and "name" not in ctx and "ip" not in ctx["network"]
    assert ctx["email"] == hmac_hex("a@b.com")
    assert ctx["traits"] == {"phone": hmac_hex("555-0100")}
    assert ctx["device"]["advertisingId"] == hmac_hex("ad-123")
    assert ctx["os"] == {"name": "iOS", "version": "17.2"}  # os.name is not a person's name
    assert ctx["app"]["name"] == "Places"


def test_context_location_coordinates_become_the_event_location(gate: Gate) -> None:
    context = {"location": {"city": "Paris", "country": "FR", "latitude": 48.85, "longitude": 2.35}}
    event = only(run(gate, [example("track", context=context)]))
    assert (event.lat, event.lng) == coarse(48.85, 2.35)
    assert event.context == {"location": {"city": "Paris", "country": "FR"}}


def test_identify_traits_hash_mask_drop_and_email_domain(gate: Gate) -> None:
    item = example("identify", properties=None, traits=PROPERTIES["identify"])
    event = only(run(gate, [item]))
    assert event.properties == {
        "email": hmac_hex("jane.doe@example.com"),
        "email_domain": "example.com",
        "phone": "***0132",
        "plan": "pro",
    }


def test_signup_derives_email_domain_and_hashes_email(gate: Gate) -> None:
    event = only(run(gate, [example("signup")]))
    assert event.properties["email_domain"] == "example.org"
    assert event.properties["email"] == hmac_hex("new@example.org")
    assert event.properties["method"] == "oauth"


def test_undeclared_pii_keys_in_properties_are_protected(gate: Gate) -> None:
    props = {**PROPERTIES["track"], "email": "x@y.io", "ip": "1.2.3.4", "password": "hunter2"}
    event = only(run(gate, [example("track", properties=props)]))
    assert event.properties["email"] == hmac_hex("x@y.io")
    assert "ip" not in event.properties and "password" not in event.properties
    assert event.properties["email_domain"] == "y.io"


def test_an_address_used_as_a_key_is_renamed_every_time_at_any_depth(gate: Gate) -> None:
    """Keys are classified once and remembered: an email used as a key was hashed the first time the
    gate met it and left plain ever after (the remembered class of that key said "ordinary"), so a
    second event, or the same key one level up, stored the address. IPs and phone numbers as keys
    too; the same address becomes the same key wherever it is."""
    who, ip, phone = "alice.keyed@example.com", "10.1.2.3", "+1 415 555 0100"
    props = {**PROPERTIES["track"], "scores": {who: 3, phone: 2}, who: True, ip: 1}
    first, second = (only(run(gate, [example("track", properties=props, event_id=f"k{i}")])) for i in (1, 2))
    for event in (first, second):
        stored = encode_event(event).decode()
        assert who not in stored and ip not in stored and phone not in stored, stored
        hashed = next(k for k in event.properties if k not in props)
        assert event.properties[hashed] is True and hashed in event.properties["scores"]
    assert first.properties == second.properties


def test_message_body_is_dropped(gate: Gate) -> None:
    event = only(run(gate, [example("message.sent")]))
    assert "body" not in event.properties
    assert event.properties["message_length"] == 42


def test_auth_ip_property_is_hashed(gate: Gate) -> None:
    event = only(run(gate, [example("login")]))
    assert event.properties["ip"] == hmac_hex("203.0.113.9")


# -- time --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        ("2024-06-01T12:00:00Z", datetime(2024, 6, 1, 12, tzinfo=UTC)),
        ("2024-06-01T14:00:00+02:00", datetime(2024, 6, 1, 12, tzinfo=UTC)),
        ("2024-06-01T12:00:00", datetime(2024, 6, 1, 12, tzinfo=UTC)),
        ("2024-06-01T12:00:00.250", datetime(2024, 6, 1, 12, 0, 0, 250000, tzinfo=UTC)),
        (1717243200000, datetime(2024, 6, 1, 12, tzinfo=UTC)),
        (1717243200500.0, datetime(2024, 6, 1, 12, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_timestamp_formats(gate: Gate, timestamp: Any, expected: Any) -> None:
    assert only(run(gate, [example("page", timestamp=timestamp)])).ts == expected


def test_missing_timestamp_is_received_at(gate: Gate) -> None:
    item = example("page")
    del item["timestamp"]
    assert only(run(gate, [item])).ts == NOW


def test_clock_skew_corrected_from_item_sent_at(gate: Gate) -> None:
    # client clock is 1 hour fast: it stamped 13:00 and sent at 13:04; we received at 12:05
    item = example("page", timestamp="2024-06-01T13:00:00Z", sent_at="2024-06-01T13:04:00Z")
    assert only(run(gate, [item])).ts == NOW - timedelta(minutes=4)


def test_clock_skew_corrected_from_batch_sent_at(gate: Gate) -> None:
    item = example("page", timestamp="2024-06-01T13:00:00Z")
    sent = datetime(2024, 6, 1, 13, 4, tzinfo=UTC)
    assert only(run(gate, [item], sent_at=sent)).ts == NOW - timedelta(minutes=4)


def test_skew_larger_than_limit_is_ignored(make_gate: Callable[..., Gate]) -> None:
    gate = make_gate(max_clock_skew_s=600)
    item = example("page", timestamp="2024-06-01T13:00:00Z", sent_at="2024-06-01T13:04:00Z")
    assert only(run(gate, [item])).ts == datetime(2024, 6, 1, 13, tzinfo=UTC)


@pytest.mark.parametrize("timestamp", ["yesterday", 1717243200, True, {"t": 1}])
def test_bad_timestamp_is_quarantined(gate: Gate, timestamp: Any) -> None:
    result = run(gate, [example("page", timestamp=timestamp)])
    assert result.accepted == []
    assert result.errors[0].messages[0].path == "/timestamp"
    assert len(result.quarantined) == 1


# -- refusals ----------------------------------------------------------------------------------------


def test_invalid_event_gets_quarantine_record_and_client_error(gate: Gate) -> None:
    bad = example("user_interaction", properties={"interaction_type": "teleport", "place_id": 1.5})
    result = run(gate, [example("page"), bad])
    assert len(result.accepted) == 1 and result.accepted_index == [0]
    (error,) = result.errors
    assert error.index == 1 and error.event_id == "user_interaction-1"
    assert [(m.path, m.keyword) for m in error.messages] == [
        ("/properties/interaction_type", "enum"),
        ("/properties/place_id", "type"),
    ]
    (record,) = result.quarantined
    body = record.to_failure_json()
    assert body["processor"] == "gate"
    assert body["failure"]["timestamp"] == NOW.isoformat()
    assert body["failure"]["messages"][0] == {
        "path": "/properties/interaction_type", "keyword": "enum", "message": error.messages[0].message}
    assert body["payload"] == bad
    assert (record.source, record.event_type, record.event_id) == ("web", "user_interaction", "user_interaction-1")


def test_missing_required_field_points_at_it_under_the_alias_used(gate: Gate) -> None:
    result = run(gate, [{"event_type": "user_interaction", "data": {"interaction_type": "visit"}}])
    assert [(m.path, m.keyword) for m in result.errors[0].messages] == [("/data/place_id", "required")]


@pytest.mark.parametrize(
    ("item", "path", "keyword"),
    [
        ([1, 2], "", "type"),
        ("text", "", "type"),
        ({}, "/event_type", "required"),
        ({"event_type": 5}, "/event_type", "type"),
        ({"event_type": "x" * 200}, "/event_type", "maxLength"),
        ({"event_type": "page", "event_id": 7}, "/event_id", "type"),
        ({"event_type": "page", "user_id": True}, "/user_id", "type"),
        ({"event_type": "page", "properties": []}, "/properties", "type"),
        ({"event_type": "page", "context": "x"}, "/context", "type"),
        ({"event_type": "page", "consent": {"precise_location": "yes"}}, "/consent", "type"),
        ({"event_type": "page", "location": {"lat": 95, "lng": 0}}, "/location", "location"),
        ({"event_type": "page", "schema_version": 9}, "/schema_version", "schema_version"),
    ],
)
def test_malformed_events_are_quarantined_with_the_field_named(gate: Gate, item: Any, path: Any, keyword: Any) -> None:
    result = run(gate, [item])
    assert result.accepted == [] and len(result.quarantined) == 1
    assert (result.errors[0].messages[0].path, result.errors[0].messages[0].keyword) == (path, keyword)


def test_unknown_type_accepted_schemaless_with_privacy_rules(gate: Gate) -> None:
    item = {"event_type": "custom_thing", "user_id": "u", "properties": {"color": "red", "email": "a@b.co",
            "location": {"lat": 1.5, "lng": 2.5}}, "context": {"ip": "1.1.1.1", "locale": "de"}}
    event = only(run(gate, [item]))
    assert event.schema_version == 0 and event.retention is None
    assert event.properties == {"color": "red", "email": hmac_hex("a@b.co"), "email_domain": "b.co"}
    assert event.context == {"locale": "de"}
    assert (event.lat, event.lng) == coarse(1.5, 2.5)


def test_unknown_type_quarantine_policy(gate: Gate) -> None:
    result = run(gate, [{"event_type": "custom_thing"}], source=SourceInfo(name="s", unknown_events="quarantine"))
    assert result.accepted == [] and len(result.quarantined) == 1
    assert result.errors[0].messages[0].keyword == "unknownEventType"


def test_unknown_type_reject_policy_errors_without_quarantine(gate: Gate) -> None:
    result = run(gate, [{"event_type": "custom_thing"}], source=SourceInfo(name="s", unknown_events="reject"))
    assert result.accepted == [] and result.quarantined == []
    assert result.errors[0].index == 0 and result.errors[0].messages[0].path == "/event_type"


def test_known_type_is_validated_whatever_the_policy(gate: Gate) -> None:
    result = run(gate, [example("page")], source=SourceInfo(name="s", unknown_events="reject"))
    assert len(result.accepted) == 1


# -- ids and dedupe ----------------------------------------------------------------------------------


def test_missing_event_id_gets_a_uuid7(gate: Gate) -> None:
    item = example("page")
    del item["event_id"]
    event = only(run(gate, [item]))
    assert len(event.event_id) == 36 and event.event_id[14] == "7"


def test_duplicate_within_a_batch(gate: Gate) -> None:
    result = run(gate, [example("page"), example("page"), example("screen")])
    assert result.duplicates == [1]
    assert result.accepted_index == [0, 2]


def test_duplicate_across_batches_and_release_after_failed_append(gate: Gate) -> None:
    assert len(run(gate, [example("page")]).accepted) == 1
    assert run(gate, [example("page")]).duplicates == [0]
    gate.release(["page-1"])
    assert len(run(gate, [example("page")]).accepted) == 1


def test_quarantined_event_id_is_not_reserved(gate: Gate) -> None:
    bad = example("login", properties={})
    assert len(run(gate, [bad]).quarantined) == 1
    assert len(run(gate, [example("login")]).accepted) == 1


def test_every_item_has_exactly_one_outcome(gate: Gate) -> None:
    items = [example("page"), example("page"), 3, {"event_type": "login"}, example("screen")]
    result = run(gate, items)
    outcomes = sorted(result.accepted_index + result.duplicates + [e.index for e in result.errors])
    assert outcomes == list(range(len(items)))


# -- enrichers ---------------------------------------------------------------------------------------


def test_enrichers_run_once_per_batch_after_h3(registry: SchemaRegistry) -> None:
    from hexlake.gate import DedupeWindow, Gate
    from hexlake.gate.config import GateConfig
    from hexlake.privacy import Hasher

    calls = []

    def enricher(events: list[Any]) -> None:
        calls.append([e.h3_r9 for e in events])
        for e in events:
            e.properties = {**e.properties, "country": "DE"}

    def broken(events: list[Any]) -> None:
        raise RuntimeError("boom")

    gate = Gate(registry, Hasher(b"k" * 32), GateConfig(), DedupeWindow(10), enrichers=[enricher, broken])
    result = run(gate, [example("location_ping"), example("page")])
    assert calls == [[h3.latlng_to_cell(52.52, 13.405, 9), None]]
    assert all(e.properties["country"] == "DE" for e in result.accepted)
