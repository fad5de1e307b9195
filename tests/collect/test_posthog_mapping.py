"""PostHog events → native input dicts, and the drop-in body decoding (pure, no server)."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime

import pytest

from hexlake.collect.body import decode_json as decode_body
from hexlake.collect.mapping.posthog import map_event
from hexlake.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def one(ev: dict, **kw: object) -> dict:
    out = map_event(ev, received_at=NOW, **kw)  # type: ignore[arg-type]
    assert len(out) == 1
    return out[0]


def test_custom_event_is_a_track_with_uuid_as_event_id_and_lib_as_context() -> None:
    native = one({"event": "clicked", "distinct_id": "u1", "uuid": "0190-aaaa",
                  "properties": {"button": "buy", "$lib": "posthog-python", "$lib_version": "7.9",
                                 "$ip": "198.51.100.4", "$os": "Linux", "$feature/x": True}})
    assert native["event_type"] == "track" and native["event_id"] == "0190-aaaa"
    assert native["user_id"] == "u1"
    assert native["properties"] == {"button": "buy", "event": "clicked"}
    assert native["context"]["library"] == {"name": "posthog-python", "version": "7.9"}
    assert native["context"]["os"] == {"name": "Linux"}
    assert native["context"]["posthog"] == {"$feature/x": True}
    assert native["context"]["ip"] == "198.51.100.4"  # for the gate, which never stores it


def test_distinct_id_and_token_may_come_inside_properties_like_posthog_js() -> None:
    native = one({"event": "$pageview", "properties": {"distinct_id": "u2", "token": "hxw_x",
                  "$current_url": "https://ex.com/a", "$pathname": "/a", "$title": "A",
                  "$session_id": "s1", "$device_id": "dev-1"}})
    assert native["event_type"] == "page"
    assert native["user_id"] == "u2" and native["anonymous_id"] == "dev-1"
    assert native["session_id"] == "s1"
    assert native["properties"] == {"name": "A", "url": "https://ex.com/a", "path": "/a"}
    assert "hxw_x" not in repr(native)


def test_set_call_becomes_identify_with_traits() -> None:
    native = one({"event": "$set", "distinct_id": "u1", "$set": {"email": "a@b.c"},
                  "properties": {"$lib": "posthog-python"}})
    assert native["event_type"] == "identify" and native["traits"] == {"email": "a@b.c"}


def test_identify_merges_set_once_under_set() -> None:
    native = one({"event": "$identify", "distinct_id": "u1", "properties": {
        "$set": {"plan": "pro"}, "$set_once": {"plan": "free", "first_seen": "2024"},
        "$anon_distinct_id": "anon-1"}})
    assert native["traits"] == {"plan": "pro", "first_seen": "2024"}
    assert native["anonymous_id"] == "anon-1"


def test_set_on_an_ordinary_event_becomes_a_separate_identify_with_a_stable_id() -> None:
    out = map_event({"event": "bought", "distinct_id": "u1", "uuid": "e-1",
                     "properties": {"$set": {"email": "a@b.c"}, "sku": "x"}}, received_at=NOW)
    assert [n["event_type"] for n in out] == ["track", "identify"]
    assert "traits" not in out[0] and "a@b.c" not in repr(out[0])
    assert out[1]["event_id"] == "e-1:set" and out[1]["traits"] == {"email": "a@b.c"}


def test_create_alias_links_both_ids() -> None:
    native = one({"event": "$create_alias", "distinct_id": "anon-1", "properties": {"alias": "u1"}})
    assert native["event_type"] == "alias"
    assert (native["user_id"], native["anonymous_id"]) == ("u1", "anon-1")


def test_group_identify_maps_group_key_and_traits() -> None:
    native = one({"event": "$groupidentify", "distinct_id": "u1", "properties": {
        "$group_type": "company", "$group_key": "acme", "$group_set": {"name": "ACME"}}})
    assert native["event_type"] == "group"
    assert native["properties"] == {"group_id": "acme", "group_type": "company"}
    assert native["traits"] == {"name": "ACME"}


def test_missing_distinct_id_or_event_is_refused() -> None:
    with pytest.raises(BadRequest, match="distinct_id is required"):
        map_event({"event": "x", "properties": {}}, received_at=NOW)
    with pytest.raises(BadRequest, match="event is required"):
        map_event({"distinct_id": "u"}, received_at=NOW)


def test_timestamp_with_sent_at_is_passed_for_skew_correction_and_offset_is_resolved() -> None:
    native = one({"event": "x", "distinct_id": "u", "timestamp": "2024-05-01T11:59:00+00:00"},
                 sent_at="2024-05-01T11:59:30+00:00")
    assert native["sent_at"] == "2024-05-01T11:59:30+00:00"
    native = one({"event": "x", "distinct_id": "u", "offset": 60_000})
    assert datetime.fromisoformat(native["timestamp"]) == datetime(2024, 5, 1, 11, 59, tzinfo=UTC)


def test_location_and_consent_properties() -> None:
    native = one({"event": "checkin", "distinct_id": "u", "properties": {
        "$location": {"lat": 48.85, "lng": 2.35, "accuracy": 20}, "$consent": {"precise_location": True}}})
    assert native["location"] == {"lat": 48.85, "lng": 2.35, "accuracy": 20.0}
    assert native["consent"] == {"precise_location": True}


# ---- bodies -----------------------------------------------------------------------------------

PAYLOAD = {"api_key": "k", "batch": [{"event": "x", "distinct_id": "u"}]}
RAW = json.dumps(PAYLOAD).encode()


def test_gzip_body_by_header_by_compression_param_and_by_magic_bytes() -> None:
    packed = gzip.compress(RAW)
    assert decode_body(packed, max_bytes=10_000, content_encoding="gzip") == PAYLOAD
    assert decode_body(packed, max_bytes=10_000, compression="gzip-js") == PAYLOAD
    assert decode_body(packed, max_bytes=10_000) == PAYLOAD


def test_form_encoded_base64_data_variant() -> None:
    form = b"data=" + base64.b64encode(RAW).replace(b"+", b"%2B").replace(b"=", b"%3D")
    assert decode_body(form, max_bytes=10_000, content_type="application/x-www-form-urlencoded") == PAYLOAD
    urlsafe = b"data=" + base64.urlsafe_b64encode(RAW).rstrip(b"=") + b"&compression=base64"
    assert decode_body(urlsafe, max_bytes=10_000, content_type="application/x-www-form-urlencoded") == PAYLOAD


def test_gzip_bomb_stops_at_the_limit() -> None:
    bomb = gzip.compress(b"[" + b" " * 5_000_000 + b"]")
    with pytest.raises(PayloadTooLarge, match="1000 byte limit"):
        decode_body(bomb, max_bytes=1000, content_encoding="gzip")


def test_invalid_json_empty_and_lz64_bodies_are_clear_errors() -> None:
    with pytest.raises(BadRequest, match="invalid JSON"):
        decode_body(b"{nope", max_bytes=100)
    with pytest.raises(BadRequest, match="empty"):
        decode_body(b"  ", max_bytes=100)
    with pytest.raises(UnsupportedMediaType, match="lz64"):
        decode_body(b"xx", max_bytes=100, compression="lz64")
