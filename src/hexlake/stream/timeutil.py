"""Event-time helpers shared by the stream operators."""

from __future__ import annotations

import functools
import math
from datetime import UTC, datetime

EARTH_RADIUS_M = 6_371_008.8


def epoch(dt: datetime) -> float:
    """Seconds since the epoch; a naive datetime is UTC (the envelope's convention)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


@functools.lru_cache(maxsize=8192)  # window bounds and minutes repeat across users
def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


class Watermark:
    """Event-time progress of one consumer group.

    The watermark is the largest event time seen. An event whose time is more than
    ``allowed_lateness_s`` behind it is *late*: it goes to the late side output instead of the
    operators. Windows are final once ``watermark - allowed_lateness_s`` reaches their end, so a
    window never changes after it was emitted as final.
    """

    def __init__(self, allowed_lateness_s: float, max_ts: float = -math.inf):
        self.allowed_lateness_s = allowed_lateness_s
        self.max_ts = max_ts

    def observe(self, ts: float) -> bool:
        """Advance with one event (in arrival order); return True if that event is late."""
        if ts < self.max_ts - self.allowed_lateness_s:
            return True
        if ts > self.max_ts:
            self.max_ts = ts
        return False

    @property
    def closed_before(self) -> float:
        """Every window ending at or before this time is final."""
        return self.max_ts - self.allowed_lateness_s
