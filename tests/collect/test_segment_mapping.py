"""Segment messages → native input dicts (pure mapping, no server)."""

from __future__ import annotations

import pytest

from hexlake.collect.mapping.batch import map_items
from hexlake.collect.mapping.segment import map_message
from hexlake.errors import BadRequest


def test_track_keeps_message_id_ids_and_event_name() -> None:
    native = map_message({"type": "track", "messageId": "m-1", "userId": "u1", "anonymousId": "a1",
                          "event": "Order Completed", "properties": {"revenue": 12.5}})
    assert native["event_id"] == "m-1"
    assert native["event_type"] == "track"
    assert native["user_id"] == "u1" and native["anonymous_id"] == "a1"
    assert native["properties"] == {"revenue": 12.5, "event": "Order Completed"}


def test_call_type_of_single_endpoint_wins_over_body() -> None:
    native = map_message({"userId": "u1", "name": "Home", "properties": {"path": "/"}}, call="page")
    assert native["event_type"] == "page"
    assert native["properties"] == {"path": "/", "name": "Home"}


def test_message_without_user_or_anonymous_id_is_refused_naming_the_field() -> None:
    with pytest.raises(BadRequest) as err:
        map_message({"type": "track", "event": "x"}, where="batch[3]")
    assert err.value.field == "batch[3].userId"
    assert "userId or anonymousId is required" in err.value.message


def test_track_without_event_name_is_refused() -> None:
    with pytest.raises(BadRequest, match="track needs an event name"):
        map_message({"type": "track", "userId": "u1"})


def test_unknown_type_is_refused() -> None:
    with pytest.raises(BadRequest, match="type must be one of"):
        map_message({"type": "purchase", "userId": "u1"})


def test_device_ids_and_context_traits_never_leave_the_mapper_and_ip_is_left_to_the_gate() -> None:
    native = map_message({
        "type": "track", "userId": "u1", "event": "e",
        "context": {"ip": "203.0.113.9", "traits": {"email": "a@b.c"}, "locale": "de-DE",
                    "device": {"id": "dev-1", "advertisingId": "ad-1", "model": "Pixel 8"},
                    "library": {"name": "analytics-python", "version": "2.4.0"}, "timezone": "Europe/Berlin"},
    })
    context = native["context"]
    assert "traits" not in context
    assert context["ip"] == "203.0.113.9"  # the gate drops it (after a country lookup for geoip sources)
    assert context["device"] == {"model": "Pixel 8"}
    assert context["locale"] == "de-DE" and context["timezone"] == "Europe/Berlin"
    assert context["library"]["name"] == "analytics-python"
    assert "dev-1" not in repr(native) and "a@b.c" not in repr(native)


def test_context_location_becomes_native_location_and_city_stays_coarse() -> None:
    native = map_message({"type": "track", "userId": "u1", "event": "e", "context": {
        "location": {"latitude": 52.52, "longitude": 13.405, "city": "Berlin", "country": "DE"}}})
    assert native["location"] == {"lat": 52.52, "lng": 13.405}
    assert native["context"]["geo"] == {"city": "Berlin", "country": "DE"}
    assert "consent" not in native  # no consent → the gate coarsens lat/lng


def test_segment_consent_category_preferences_map_to_precise_location() -> None:
    native = map_message({"type": "track", "userId": "u1", "event": "e", "context": {
        "consent": {"categoryPreferences": {"Precise Location": True, "Advertising": False}}}})
    assert native["consent"] == {"precise_location": True, "advertising": False}


def test_original_timestamp_is_skew_corrected_against_batch_sent_at() -> None:
    native = map_message({"type": "track", "userId": "u1", "event": "e",
                          "originalTimestamp": "2024-05-01T10:00:00Z"}, batch_sent_at="2024-05-01T10:00:05Z")
    assert native["timestamp"] == "2024-05-01T10:00:00Z"
    assert native["sent_at"] == "2024-05-01T10:00:05Z"


def test_explicit_timestamp_is_trusted_without_correction() -> None:
    native = map_message({"type": "track", "userId": "u1", "event": "e", "timestamp": "2024-05-01T10:00:00Z"},
                         batch_sent_at="2024-05-01T10:00:05Z")
    assert native["timestamp"] == "2024-05-01T10:00:00Z"
    assert "sent_at" not in native


def test_import_never_skew_corrects() -> None:
    native = map_message({"type": "track", "userId": "u1", "event": "e",
                          "originalTimestamp": "2020-01-01T00:00:00Z", "sentAt": "2024-01-01T00:00:00Z"},
                         historical=True)
    assert native["timestamp"] == "2020-01-01T00:00:00Z"
    assert "sent_at" not in native


def test_identify_puts_traits_where_the_gate_applies_pii_rules() -> None:
    native = map_message({"type": "identify", "userId": "u1", "traits": {"email": "a@b.c", "plan": "pro"}})
    assert native["event_type"] == "identify"
    assert native["traits"] == {"email": "a@b.c", "plan": "pro"}
    assert "properties" not in native


def test_alias_sends_previous_id_as_anonymous_id_so_both_are_hashed() -> None:
    native = map_message({"type": "alias", "userId": "u1", "previousId": "anon-9"})
    assert native["event_type"] == "alias"
    assert (native["user_id"], native["anonymous_id"]) == ("u1", "anon-9")
    with pytest.raises(BadRequest, match="previousId"):
        map_message({"type": "alias", "userId": "u1"})


def test_group_needs_group_id_and_keeps_traits() -> None:
    native = map_message({"type": "group", "userId": "u1", "groupId": 42, "traits": {"name": "ACME"}})
    assert native["properties"] == {"group_id": "42"}
    assert native["traits"] == {"name": "ACME"}
    with pytest.raises(BadRequest, match="groupId"):
        map_message({"type": "group", "userId": "u1"})


def test_integrations_are_kept_in_context() -> None:
    native = map_message({"type": "screen", "anonymousId": "a", "name": "Map",
                          "integrations": {"All": False, "Mixpanel": True}})
    assert native["context"]["integrations"] == {"All": False, "Mixpanel": True}
    assert native["properties"] == {"name": "Map"}


def test_batch_mapping_keeps_good_messages_and_reports_bad_ones_by_index() -> None:
    messages = [{"type": "track", "userId": "u", "event": "a"}, {"type": "track", "event": "b"},
                {"type": "page", "anonymousId": "x"}]
    mapped = map_items(messages, lambda m, i: [map_message(m, where=f"batch[{i}]")])
    assert [n["event_type"] for n in mapped.items] == ["track", "page"]
    assert mapped.origin == [0, 2]
    assert [e.index for e in mapped.errors] == [1]
    assert mapped.errors[0].messages[0].path == "batch[1].userId"
