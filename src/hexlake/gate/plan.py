"""A schema's annotations compiled once into a plan the gate applies per event.

Annotations (see docs/schemas.md):

* on fields: ``x-pii: hash|drop|mask|keep`` (``keep``: trusted, the scrub leaves it alone) and
  ``x-location: true`` (an object with lat/lng/accuracy);
* on the schema: ``x-event-type``, ``x-version``, ``x-retention``, ``x-pii-policy`` (what the
  scrub does with PII found in unannotated fields: ``hash|mask|drop|keep``).

Paths are tuples of property names from the root of the validated object (``properties``);
``"*"`` stands for every element of an array (``items``).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from hexlake.errors import SchemaError

PII_ACTIONS = ("hash", "drop", "mask", "keep")
# Retention classes from the design (class -> default duration). A custom "<n>d|w|m|y" is allowed too.
RETENTION_CLASSES: dict[str, str] = {
    "transaction": "7y",
    "interaction": "1y",
    "user_activity": "2y",
    "content": "7y",
    "location": "90d",
}
_DURATION = re.compile(r"^\d+[dwmy]$")

Path = tuple[str, ...]


class Plan(msgspec.Struct, frozen=True):
    """What to do to a valid event of one schema: PII paths by action, location path, retention."""

    hash: tuple[Path, ...] = ()
    drop: tuple[Path, ...] = ()
    mask: tuple[Path, ...] = ()
    keep: tuple[Path, ...] = ()
    pii_policy: str | None = None  # ``x-pii-policy``: the scrub's action in this schema's events
    location: Path | None = None
    retention: str | None = None
    requires_location: bool = False  # ``x-requires-location: true`` on the schema (location pings)
    has_pii: bool = False  # any hash/drop/mask path (a field, not a property: read on every event)


def compile_plan(schema: dict[str, Any]) -> Plan:
    """Walk ``schema`` once and collect its annotations; ``SchemaError`` names a bad one."""
    found: dict[str, list[Path]] = {"hash": [], "drop": [], "mask": [], "keep": [], "location": []}
    _walk(schema, (), found)
    if any("*" in p for p in found["location"]):
        raise SchemaError("x-location cannot be inside an array", field="x-location")
    if len(found["location"]) > 1:
        paths = ", ".join("/" + "/".join(p) for p in found["location"])
        raise SchemaError(
            f"only one field may be marked x-location: true (found {paths})", field="x-location"
        )
    return Plan(
        hash=tuple(found["hash"]),
        drop=tuple(found["drop"]),
        mask=tuple(found["mask"]),
        keep=tuple(found["keep"]),
        pii_policy=check_pii_policy(schema.get("x-pii-policy")),
        location=found["location"][0] if found["location"] else None,
        retention=check_retention(schema.get("x-retention")),
        requires_location=schema.get("x-requires-location") is True,
        has_pii=bool(found["hash"] or found["drop"] or found["mask"]),
    )


def check_pii_policy(value: Any) -> str | None:
    if value is None or value in PII_ACTIONS:
        return value
    raise SchemaError(f"x-pii-policy is {value!r}; use one of {', '.join(PII_ACTIONS)}", field="x-pii-policy")


def check_retention(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and (value in RETENTION_CLASSES or _DURATION.match(value)):
        return value
    classes = ", ".join(RETENTION_CLASSES)
    raise SchemaError(
        f"x-retention {value!r} is not a retention class ({classes}) or a duration like '90d'",
        field="x-retention",
    )


def _walk(node: Any, path: Path, found: dict[str, list[Path]]) -> None:
    if not isinstance(node, dict):
        return
    pii = node.get("x-pii")
    if pii is not None:
        if pii not in PII_ACTIONS:
            raise SchemaError(
                f"x-pii at /{'/'.join(path)} is {pii!r}; use one of hash, drop, mask, keep", field="x-pii"
            )
        found[pii].append(path)
        return  # the whole value is replaced or removed: nothing inside it matters
    if node.get("x-location") is True:
        found["location"].append(path)
    for name, sub in (node.get("properties") or {}).items():
        _walk(sub, (*path, name), found)
    items = node.get("items")
    if isinstance(items, dict):
        _walk(items, (*path, "*"), found)
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in node.get(key) or ():
            _walk(sub, path, found)


__all__ = ["PII_ACTIONS", "RETENTION_CLASSES", "Plan", "compile_plan"]
