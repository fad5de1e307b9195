"""Parsing and checking the envelope fields of one native input event (no schema involved).

Each ``parse_*`` returns the parsed value or appends a ``FailureMessage`` and returns None, so the
gate can report every problem of an event at once instead of the first.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from hexlake.gate.envelope import FailureMessage

MAX_ID_CHARS = 256
MAX_TYPE_CHARS = 128
EPOCH_MS_MIN = 100_000_000_000  # 1973-03-03 in ms: smaller numbers are almost surely seconds

Failures = list[FailureMessage]
_BOOL = {bool}


def fail(out: Failures, path: str, keyword: str, message: str) -> None:
    out.append(FailureMessage(path=path, keyword=keyword, message=message))


def parse_event_type(value: Any, out: Failures) -> str | None:
    if type(value) is str and 0 < len(value) <= MAX_TYPE_CHARS:
        return value
    if value is None:
        fail(out, "/event_type", "required", "event_type is required (e.g. \"track\", \"location_ping\")")
    elif not isinstance(value, str):
        fail(out, "/event_type", "type", f"event_type must be a string, got {type_name(value)}")
    else:
        fail(out, "/event_type", "maxLength", f"event_type must be 1 to {MAX_TYPE_CHARS} characters")
    return None


def parse_id(item: dict[str, Any], key: str, out: Failures, *, numbers: bool) -> str | int | None:
    """An identifier: a non-empty string (or an integer when ``numbers``); empty/missing = None."""
    value = item.get(key)
    if value is None or value == "":
        return None
    if type(value) is str:
        if len(value) <= MAX_ID_CHARS:
            return value
        fail(out, f"/{key}", "maxLength", f"{key} is longer than {MAX_ID_CHARS} characters")
        return None
    if numbers and type(value) is int:
        return value
    kinds = "a string or an integer" if numbers else "a string"
    fail(out, f"/{key}", "type", f"{key} must be {kinds}, got {type_name(value)}")
    return None


def parse_object(item: dict[str, Any], key: str, out: Failures) -> dict[str, Any] | None:
    value = item.get(key)
    if value is None or type(value) is dict:
        return value
    fail(out, f"/{key}", "type", f"{key} must be an object, got {type_name(value)}")
    return None


def parse_version(value: Any, out: Failures) -> int | None:
    if value is None or (type(value) is int and value >= 1):
        return value
    fail(out, "/schema_version", "type", "schema_version must be an integer ≥ 1")
    return None


def parse_consent(value: Any, out: Failures) -> dict[str, bool]:
    if value is None:
        return {}
    if type(value) is dict and set(map(type, value.values())) <= _BOOL:
        return value
    fail(out, "/consent", "type", "consent must be an object of booleans, e.g. {\"precise_location\": true}")
    return {}


def parse_time(value: Any, path: str, out: Failures) -> datetime | None:
    """ISO-8601 (naive = UTC) or epoch milliseconds → aware UTC datetime."""
    if value is None:
        return None
    if type(value) is str:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            fail(out, path, "format", f"{path[1:]} {value[:40]!r} is not an ISO-8601 date-time")
            return None
        tz = parsed.tzinfo
        if tz is UTC:
            return parsed
        return parsed.replace(tzinfo=UTC) if tz is None else parsed.astimezone(UTC)
    if type(value) is int or type(value) is float:
        if not math.isfinite(value) or abs(value) < EPOCH_MS_MIN:
            fail(out, path, "format", f"{path[1:]} must be epoch milliseconds (got {value}; seconds?)")
            return None
        try:
            return datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            fail(out, path, "format", f"{path[1:]} {value} is out of range")
            return None
    if isinstance(value, datetime):  # in-process callers (importers, derived events)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    fail(out, path, "type", f"{path[1:]} must be an ISO-8601 string or epoch milliseconds")
    return None


def parse_location(value: Any, path: str, out: Failures) -> tuple[float, float, float | None] | None:
    """``{lat, lng, accuracy?}`` (also ``latitude``/``longitude``) → (lat, lng, accuracy_m)."""
    if value is None:
        return None
    if type(value) is not dict:
        fail(out, path, "type", f"{path[1:]} must be an object {{lat, lng, accuracy}}")
        return None
    lat: Any = value.get("lat", value.get("latitude"))
    lng: Any = value.get("lng", value.get("longitude", value.get("lon")))
    acc: Any = value.get("accuracy", value.get("accuracy_m"))
    if not (_is_number(lat) and _is_number(lng) and -90 <= lat <= 90 and -180 <= lng <= 180):
        fail(out, path, "location", f"{path[1:]} needs numeric lat in [-90, 90] and lng in [-180, 180]")
        return None
    if acc is not None and not (_is_number(acc) and acc >= 0):
        fail(out, f"{path}/accuracy", "minimum", "accuracy must be a number of metres ≥ 0")
        return None
    return float(lat), float(lng), (float(acc) if acc is not None else None)


def _is_number(v: Any) -> bool:
    return (type(v) is float and math.isfinite(v)) or type(v) is int


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


__all__ = [
    "fail",
    "parse_consent",
    "parse_event_type",
    "parse_id",
    "parse_location",
    "parse_object",
    "parse_time",
    "parse_version",
    "type_name",
]
