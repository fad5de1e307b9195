from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from hexlake.errors import Conflict, NotFound, SchemaError
from hexlake.gate import SchemaRegistry, builtin_schemas

CUSTOM = {
    "x-event-type": "coupon_redeemed",
    "x-version": 1,
    "x-retention": "transaction",
    "type": "object",
    "properties": {
        "coupon": {"type": "string"},
        "email": {"type": "string", "x-pii": "hash"},
        "where": {"type": "object", "x-location": True},
        "buyer": {"type": "object", "properties": {"phone": {"x-pii": "mask"}, "name": {"x-pii": "drop"}}},
    },
    "required": ["coupon"],
}


def test_builtins_installed_on_open(registry: SchemaRegistry) -> None:
    types = {r.event_type for r in registry.list()}
    expected = {"user_interaction", "place_interaction", "location_ping", "track", "page", "screen",
                "identify", "signup", "login", "logout", "login_failed", "password_reset", "token_refresh",
                "payment.completed", "review.posted", "profile.viewed", "user.login", "app_opened"}
    assert expected <= types
    assert len(registry.list()) == len(builtin_schemas())


def test_builtin_retention_classes_follow_the_seeds(registry: SchemaRegistry) -> None:
    retention = {r.event_type: r.retention for r in registry.list()}
    assert retention["payment.completed"] == "transaction"
    assert retention["profile.viewed"] == "interaction"
    assert retention["user.login"] == "user_activity"
    assert retention["review.posted"] == "content"
    assert retention["location_ping"] == "location"


def test_add_compiles_annotations_into_a_plan(registry: SchemaRegistry) -> None:
    registry.add(CUSTOM)
    compiled = registry.compiled("coupon_redeemed")
    assert compiled is not None
    plan = compiled.plan
    assert plan.hash == (("email",),)
    assert plan.mask == (("buyer", "phone"),)
    assert plan.drop == (("buyer", "name"),)
    assert plan.location == ("where",)
    assert plan.retention == "transaction"


def test_adding_the_same_schema_twice_is_a_no_op(registry: SchemaRegistry) -> None:
    first = registry.add(CUSTOM)
    again = registry.add(copy.deepcopy(CUSTOM))
    assert again.created_at == first.created_at
    assert registry.versions("coupon_redeemed") == [1]


def test_same_version_with_different_content_is_a_conflict(registry: SchemaRegistry) -> None:
    registry.add(CUSTOM)
    changed = {**CUSTOM, "required": ["coupon", "email"]}
    with pytest.raises(Conflict, match="x-version 2"):
        registry.add(changed)


def test_latest_version_is_the_default(registry: SchemaRegistry) -> None:
    registry.add(CUSTOM)
    registry.add({**CUSTOM, "x-version": 2, "required": []})
    latest, first = registry.get("coupon_redeemed"), registry.get("coupon_redeemed", 1)
    assert latest is not None and latest.version == 2
    assert first is not None and first.schema["required"] == ["coupon"]
    assert registry.validate("coupon_redeemed", None, {}) == []
    assert [m.path for m in registry.validate("coupon_redeemed", 1, {})] == ["/coupon"]


def test_schemas_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    SchemaRegistry(path).add(CUSTOM)
    reopened = SchemaRegistry(path)
    record = reopened.get("coupon_redeemed")
    assert record is not None and record.schema == CUSTOM


@pytest.mark.parametrize(
    ("schema", "field"),
    [
        ({**CUSTOM, "type": "objekt"}, "schema"),
        ({k: v for k, v in CUSTOM.items() if k != "x-event-type"}, "x-event-type"),
        ({**CUSTOM, "x-version": "1"}, "x-version"),
        ({**CUSTOM, "x-version": 0}, "x-version"),
        ({**CUSTOM, "x-retention": "forever"}, "x-retention"),
        ({**CUSTOM, "properties": {"a": {"x-pii": "encrypt"}}}, "x-pii"),
        ({**CUSTOM, "properties": {"a": {"x-location": True}, "b": {"x-location": True}}}, "x-location"),
        ([1], "schema"),
    ],
)
def test_bad_schemas_are_refused_naming_the_problem(
    registry: SchemaRegistry, schema: dict[str, Any], field: Any
) -> None:
    with pytest.raises(SchemaError) as info:
        registry.add(schema)
    assert info.value.field == field
    assert registry.get("coupon_redeemed") is None


def test_validate_reports_path_keyword_message(registry: SchemaRegistry) -> None:
    messages = registry.validate("payment.completed", 1, {"payment_id": "p", "amount": -1, "currency": "eur"})
    assert sorted((m.path, m.keyword) for m in messages) == [("/amount", "minimum"), ("/currency", "pattern")]
    assert all(m.message for m in messages)


def test_validate_unknown_type_is_not_found(registry: SchemaRegistry) -> None:
    with pytest.raises(NotFound):
        registry.validate("nope", None, {})


def test_every_builtin_schema_is_valid_and_annotated() -> None:
    from hexlake.gate import check_schema

    seen = set()
    for schema in builtin_schemas():
        key = check_schema(schema)
        assert key not in seen
        seen.add(key)
        assert schema.get("x-retention")
