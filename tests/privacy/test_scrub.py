"""The recursive scrub: every leak listed in issue 15, plus policies and the x-pii override."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hexlake.gate import DedupeWindow, Gate, SchemaRegistry, SourceInfo, encode_event
from hexlake.gate.config import GateConfig
from hexlake.gate.scrub import Scrubber
from hexlake.privacy import Hasher
from hexlake.privacy.detect import find_pii, key_class, normalise_key, redact_text, suspect

SECRET = b"k" * 32
NOW = datetime(2024, 6, 1, 12, 5, tzinfo=UTC)
PLAIN = ["jane.doe@example.com", "+1 415 555 0132", "203.0.113.77", "2001:db8::7", "u-4242",
         "bob@corp.example", "Jane Roe"]


def key_of(value: object) -> str:
    return hmac.new(SECRET, str(value).encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[SchemaRegistry]:
    reg = SchemaRegistry(tmp_path / "catalog.sqlite")
    yield reg
    reg.close()


def gate(registry: SchemaRegistry, **config: object) -> Gate:
    return Gate(registry, Hasher(SECRET), GateConfig(**config), DedupeWindow(100), clock=lambda: NOW)


def stored(registry: SchemaRegistry, item: dict, source: str = "web", **config: object) -> bytes:
    result = gate(registry, **config).process([item], source=SourceInfo(name=source))
    assert not result.errors, result.errors
    return encode_event(result.accepted[0])


LEAKY = {
    "event_type": "track", "user_id": "u-4242",
    "properties": {
        "event": "Signed up", "user_id": "u-4242", "userId": "u-4242", "Email": "jane.doe@example.com",
        "EMAIL": "jane.doe@example.com", "email_address": "jane.doe@example.com", "mobile": "+1 415 555 0132",
        "user": {"email": "jane.doe@example.com", "phone": "+1 415 555 0132", "ip": "203.0.113.77"},
        "contacts": [{"email": "bob@corp.example", "name": "Jane Roe"}],
        "note": "call me at +1 415 555 0132 or mail jane.doe@example.com from 203.0.113.77",
        "url": "https://x.example/p?email=jane.doe%40example.com&uid=u-4242&ref=ad",
        "$set": {"$name": "Jane Roe"},
    },
    "context": {"user_id": "u-4242", "devices": [{"ip": "2001:db8::7"}], "network": {"remote_addr": "203.0.113.77"},
                "headers": {"X-Forwarded-For": "203.0.113.77"}, "traits": {"company": {"email": "bob@corp.example"},
                                                                             "user_id": "u-4242"}},
}


def test_no_plain_value_survives_anywhere_in_the_event(registry: SchemaRegistry) -> None:
    data = stored(registry, LEAKY)
    for value in PLAIN:
        assert value.encode() not in data, value
    assert b"jane.doe%40example.com" not in data


def test_id_like_keys_get_the_envelope_user_key(registry: SchemaRegistry) -> None:
    event = msgspec.json.decode(stored(registry, LEAKY))
    assert event["user_key"] == key_of("u-4242")
    assert event["properties"]["user_id"] == event["properties"]["userId"] == key_of("u-4242")
    assert event["context"]["user_id"] == event["context"]["traits"]["user_id"] == key_of("u-4242")
    assert f"uid={key_of('u-4242')}" in event["properties"]["url"]
    assert "ref=ad" in event["properties"]["url"]


def test_emails_hash_the_same_whatever_their_case_or_encoding(registry: SchemaRegistry) -> None:
    props = msgspec.json.decode(stored(registry, LEAKY))["properties"]
    expected = key_of("jane.doe@example.com")
    assert props["Email"] == props["EMAIL"] == props["email_address"] == props["user"]["email"] == expected
    assert expected in props["note"] and expected in props["url"]


def test_network_addresses_and_person_names_are_removed(registry: SchemaRegistry) -> None:
    event = msgspec.json.decode(stored(registry, LEAKY))
    assert "ip" not in event["properties"]["user"]
    assert event["context"]["network"] == {} and event["context"]["headers"] == {}
    assert event["properties"]["contacts"][0].keys() == {"email"}
    assert event["properties"]["$set"] == {}


def test_ordinary_values_are_left_alone(registry: SchemaRegistry) -> None:
    item = {"event_type": "track", "properties": {"event": "x", "name": "Home page", "version": "2.1.3",
                                                  "at": "2024-06-01T10:00:00Z", "order": 12345678901,
                                                  "time": "10:00:00", "place": {"name": "Cafe"}}}
    assert msgspec.json.decode(stored(registry, item))["properties"] == item["properties"]


@pytest.mark.parametrize(("policy", "check"), [
    ("mask", lambda v: v == "j***@example.com"),
    ("drop", lambda v: v is None),
    ("keep", lambda v: v == "jane.doe@example.com"),
])
def test_source_policy_decides_what_happens_to_found_pii(registry: SchemaRegistry, policy: Any, check: Any) -> None:
    item = {"event_type": "track", "properties": {"event": "x", "contact_email": "jane.doe@example.com"}}
    props = msgspec.json.decode(stored(registry, item, source="partner",
                                       source_pii_policy={"partner": policy}))["properties"]
    assert check(props.get("contact_email"))


def test_schema_policy_and_x_pii_override_the_default(registry: SchemaRegistry) -> None:
    registry.add({"x-event-type": "signup_form", "x-version": 1, "x-pii-policy": "drop", "type": "object",
                       "properties": {"email": {"type": "string", "x-pii": "mask"},
                                      "support_email": {"type": "string", "x-pii": "keep"}}})
    item = {"event_type": "signup_form", "properties": {"email": "jane.doe@example.com",
                                                        "support_email": "help@hexlake.example",
                                                        "phone": "+1 415 555 0132"}}
    props = msgspec.json.decode(stored(registry, item))["properties"]
    assert props == {"email": "j***@example.com", "support_email": "help@hexlake.example",
                     "email_domain": "example.com"}


def test_hostile_nesting_is_bounded(registry: SchemaRegistry) -> None:
    deep: dict = {"email": "jane.doe@example.com"}
    for _ in range(40):
        deep = {"a": [deep]}
    data = stored(registry, {"event_type": "track", "properties": {"event": "x", "deep": deep}})
    assert b"jane.doe" not in data


@pytest.mark.parametrize("key", ["email", "E-Mail", "email_address", "EMAIL", "$email", "phone_number", "mobile",
                                 "ip_address", "remote_addr", "X-Forwarded-For", "userId", "uid", "user_id"])
def test_key_spellings_are_recognised(key: Any) -> None:
    assert key_class(key) != 0, normalise_key(key)


@pytest.mark.parametrize("text", ["mail a@b.io now", "+44 20 7946 0958", "(415) 555-0132", "ip 10.1.2.3",
                                  "fe80::1ff:fe23:4567:890a", "?email=a%40b.io"])
def test_value_detectors_find_pii_in_text(text: Any) -> None:
    assert find_pii(text)


@pytest.mark.parametrize("text", ["2024-06-01T10:00:00Z", "version 2.1.3", "order 12345678901", "10:00:00",
                                  "https://example.com/a?q=pizza"])
def test_value_detectors_ignore_ordinary_text(text: Any) -> None:
    assert not find_pii(text)


def test_scrub_does_not_mutate_its_input() -> None:
    props = {"user": {"email": "a@b.io"}, "list": [{"ip": "1.2.3.4"}]}
    snapshot = msgspec.json.encode(props)
    Scrubber(Hasher(SECRET)).properties(props)
    assert msgspec.json.encode(props) == snapshot


def test_nested_objects_are_scrubbed_when_the_schema_annotates_other_fields() -> None:
    """A schema with x-pii paths must not switch the walk off for unannotated nested objects."""
    out = Scrubber(Hasher(SECRET)).properties({"a": {"b": {"note": "mail jane.doe@example.com"}}},
                                              exempt={"email": True})
    assert "jane.doe@example.com" not in msgspec.json.encode(out).decode()


def test_the_clean_object_cache_never_lets_pii_through() -> None:
    s = Scrubber(Hasher(SECRET))
    assert s.context({"app": {"name": "Jane", "model": "x1"}}) == {"app": {"name": "Jane", "model": "x1"}}
    assert s.context({"traits": {"name": "Jane", "model": "x1"}}) == {"traits": {"model": "x1"}}  # a person now
    out = s.context({"app": {"name": "Jane", "model": "jane.doe@example.com"}})
    assert "jane.doe@example.com" not in msgspec.json.encode(out).decode()


# -- fast paths: they must never let PII through ----------------------------------------------------

_PII_PIECES = ["jane.doe@example.com", "jane%40example.com", "203.0.113.77", "::1", "fe80::1ff:fe23:4567:890a",
               "::ffff:10.0.0.1", "+1 415 555 0132", "(415) 555-0132", "415.555.0132", "+44 20 7946 0958",
               "?email=a", "&uid=7", ";phone=5", "#user_id=9", "+٤١٥ ٥٥٥ ٠١٣٢"]
_NOISE = "0123456789abcdefABCDEF:.@%?&;#= -()+_/\n٣xyz"


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_PII_PIECES), st.text(_NOISE, min_size=1, max_size=8)), min_size=1,
                max_size=6))
def test_the_prefilter_passes_over_nothing_a_detector_would_change(parts: list[str]) -> None:
    """The scrub runs the detectors only on strings the prefilter flags: it must flag every one they change."""
    text = "".join(parts)
    if redact_text(text, lambda kind, value: "X") != text:
        assert suspect(text), text


@pytest.mark.parametrize("text", ["https://example.com/", "version 2.1.3", "Europe/Berlin", "iPhone15,2"])
def test_urls_and_versions_skip_the_detectors(text: str) -> None:
    assert not suspect(text)


def test_the_context_memo_scrubs_each_context_like_a_fresh_walk() -> None:
    s = Scrubber(Hasher(SECRET))
    base = {"ip": "203.0.113.77", "locale": "en-US", "app": {"name": "Places", "version": "2.1.3"},
            "device": {"model": "Pixel 8"}}
    assert s.context(base) == {k: v for k, v in base.items() if k != "ip"}
    # The same client from another address: the memo answers, the address is still dropped.
    assert s.context({**base, "ip": "198.51.100.4"}) == {k: v for k, v in base.items() if k != "ip"}
    # One nested value differs and hides an email: not answered by the memo.
    leaky = {**base, "device": {"model": "Pixel 8", "owner": "mail jane.doe@example.com"}}
    out = msgspec.json.encode(s.context(leaky)).decode()
    assert "jane.doe@example.com" not in out and key_of("jane.doe@example.com") in out
    # A never-seen spelling of a network key is dropped on the walk, then up front.
    for _ in range(2):
        assert s.context({**base, "Remote-IP": "203.0.113.9"}) == s.context(base)


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.one_of(st.sampled_from([*PLAIN, "plain", "Places", "2.1.3", "en-US"]), st.integers(0, 9)),
                    lambda inner: st.one_of(st.lists(inner, max_size=3),
                                            st.dictionaries(st.sampled_from(["app", "name", "ip", "email", "note",
                                                                             "version", "device", "user_id", "os"]),
                                                            inner, max_size=4)),
                    max_leaves=12),
       st.sampled_from(["hash", "mask", "drop"]))
def test_memoised_contexts_equal_a_fresh_scrub(value: Any, policy: str) -> None:
    ctx = {"locale": "en-US", "extra": value}
    warm = Scrubber(Hasher(SECRET))
    for _ in range(2):  # the second call may be answered by the memo
        assert warm.context(ctx, policy=policy) == Scrubber(Hasher(SECRET)).context(ctx, policy=policy)


def test_dropped_keys_at_any_depth_and_their_x_pii_override() -> None:
    s = Scrubber(Hasher(SECRET))
    assert s.properties({"Password": "hunter2", "a": {"IP": {"v4": "10.0.0.1"}, "b": 1}}) == {"a": {"b": 1}}
    assert s.properties({"ip": "203.0.113.77", "b": 1}, exempt={"ip": True}) == {"ip": "203.0.113.77", "b": 1}


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.one_of(st.sampled_from([*PLAIN, "plain", "Places", "2.1.3"]), st.integers(0, 9)),
                    lambda inner: st.one_of(st.lists(inner, max_size=3),
                                            st.dictionaries(st.sampled_from(["app", "name", "user", "email", "note",
                                                                             "traits", "uid", "os"]),
                                                            inner, max_size=4)),
                    max_leaves=12),
       st.booleans())
def test_memoised_nested_objects_equal_a_fresh_scrub(value: Any, person: bool) -> None:
    warm = Scrubber(Hasher(SECRET))
    for props in ({"a": value}, {"b": {"c": value}}, {"a": value}):  # seen at one depth, then another
        assert warm.properties(props, person=person) == Scrubber(Hasher(SECRET)).properties(props, person=person)


def test_an_object_found_clean_near_the_top_is_still_cut_at_max_depth() -> None:
    nested: dict = {"leaf": "plain"}
    for _ in range(12):
        nested = {"n": nested}
    s = Scrubber(Hasher(SECRET))
    assert s.properties({"x": nested}) == {"x": nested}  # 13 levels under x: within MAX_DEPTH
    deep: dict = {"x": nested}
    for _ in range(6):
        deep = {"d": deep}
    assert s.properties(deep) == Scrubber(Hasher(SECRET)).properties(deep)
    assert "plain" not in msgspec.json.encode(s.properties(deep)).decode()
