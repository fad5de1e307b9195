"""Helpers shared by the Takeout format parsers: time, coordinates, and the parsed record shape.

A parser turns one file into ``Record`` dicts already in hexlake's native input shape
(``{"event_type", "timestamp", "properties"}``); the runner adds ``event_id``, ``user_id`` and
consent. Parsers never drop a bad record: they emit what they could read and let the gate's schema
quarantine it with a reason (e.g. a location record without coordinates).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from hexlake.importers.streams import Readable

Record = dict[str, Any]

_E7 = 1e-7
_WRAP = 2**32
_INT31 = 2**31


@dataclass(frozen=True)
class ParseOptions:
    """What a parser may include: mail bodies only when the user asked for them."""

    include_bodies: bool = False
    max_body_bytes: int = 64 * 1024


class Parser(Protocol):
    def __call__(self, stream: Readable, options: ParseOptions) -> Iterator[Record]:
        """Yield records of one file, in file order (the order resume offsets count in)."""
        ...


def to_epoch_ms(value: Any) -> int | None:
    """Epoch milliseconds from ``timestampMs`` strings/numbers or ISO-8601 (naive means UTC)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if not isinstance(value, str) or not value:
        return None
    if value.isdigit():
        return int(value)
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def usec_to_ms(value: Any) -> int | None:
    """Chrome's ``time_usec`` (microseconds since the epoch) to milliseconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value) // 1000
    if isinstance(value, str) and value.isdigit():
        return int(value) // 1000
    return None


def iso_utc(ms: int | None) -> str | None:
    """``2024-01-31T10:00:00.123Z`` for epoch ms (the normalised UTC form stored in properties)."""
    if ms is None:
        return None
    try:
        dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return dt.isoformat(timespec="milliseconds")[:-6] + "Z"  # isoformat is ~5x cheaper than strftime


def e7(value: Any) -> float | None:
    """E7 integer degrees to float; values written as unsigned 32-bit (>= 2^31) wrap back (-2^32)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    v = int(value)
    if v >= _INT31:
        v -= _WRAP
    return v * _E7


_LATLNG = re.compile(r"^\s*(?:geo:)?\s*(-?\d+(?:\.\d+)?)\s*°?\s*,\s*(-?\d+(?:\.\d+)?)\s*°?\s*$")


def parse_latlng(text: Any) -> tuple[float, float] | None:
    """``"50.64°, 3.05°"`` or ``"geo:50.64,3.05"`` (Timeline.json) to ``(lat, lng)``."""
    if not isinstance(text, str):
        return None
    m = _LATLNG.match(text)
    if m is None:
        return None
    return float(m.group(1)), float(m.group(2))


def location(lat: float | None, lng: float | None, accuracy: Any = None) -> dict[str, Any] | None:
    """The ``{lat, lng, accuracy}`` object the gate reads (``x-location``); None when unknown."""
    if lat is None or lng is None:
        return None
    loc: dict[str, Any] = {"lat": round(lat, 7), "lng": round(lng, 7)}
    if isinstance(accuracy, int | float) and not isinstance(accuracy, bool):
        loc["accuracy"] = accuracy
    return loc


def record(event_type: str, ms: int | None, properties: dict[str, Any]) -> Record:
    """A native-shape record; ``recorded_at`` (required by every importer schema) is the UTC time.

    A record without a readable time keeps no ``timestamp`` so the gate quarantines it (the
    schema requires ``recorded_at``) instead of silently stamping it with the import time.
    """
    props = {k: v for k, v in properties.items() if v is not None}
    at = iso_utc(ms)
    out: Record = {"event_type": event_type, "properties": props}
    if at is not None:
        props["recorded_at"] = at
        out["timestamp"] = at
    return out


def domain_of(url: Any) -> str | None:
    """Host of a URL, lower-cased, without ``www.``; None for anything else."""
    if not isinstance(url, str) or "://" not in url:
        return None
    host = url.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    host = host.rsplit("@", 1)[-1].split(":", 1)[0].lower()
    return host.removeprefix("www.") or None


__all__ = [
    "ParseOptions",
    "Parser",
    "Record",
    "domain_of",
    "e7",
    "iso_utc",
    "location",
    "parse_latlng",
    "record",
    "to_epoch_ms",
    "usec_to_ms",
]
