"""Per-user tumbling windows (10 minutes by default), the seed's Flink ``UserFeatureAggregator``.

Per (user, window) the accumulator keeps event counts by type, places, sessions and the located
points; the features are a pure function of the *set* of events in the window (the last cell is the
one of the latest event, the distance is summed in time order), so out-of-order arrival inside the
allowed lateness gives exactly the batch result.
"""

from __future__ import annotations

import itertools
from typing import Any

import msgspec

from hexlake.gate.envelope import Event
from hexlake.stream.timeutil import epoch, haversine_m, iso


class WindowAcc(msgspec.Struct, kw_only=True):
    user_key: str
    start: float
    end: float
    counts: dict[str, int] = msgspec.field(default_factory=dict)
    places: list[str] = msgspec.field(default_factory=list)
    sessions: dict[str, list[float]] = msgspec.field(default_factory=dict)
    points: list[tuple[float, str, float, float]] = msgspec.field(default_factory=list)
    last: tuple[float, str, str] | None = None  # (ts, event_id, h3 cell)
    ratings: list[float] = msgspec.field(default_factory=list)  # seed 001's avg_rating
    categories: list[tuple[float, str, str]] = msgspec.field(default_factory=list)  # (ts, event_id, category)

    def add(self, ev: Event, ts: float) -> None:
        self.counts[ev.event_type] = self.counts.get(ev.event_type, 0) + 1
        place = place_of(ev)
        if place is not None and place not in self.places:
            self.places.append(place)
        if ev.session_id:
            span = self.sessions.get(ev.session_id)
            self.sessions[ev.session_id] = [ts, ts] if span is None else [min(span[0], ts), max(span[1], ts)]
        if ev.lat is not None and ev.lng is not None:
            self.points.append((ts, ev.event_id, ev.lat, ev.lng))
        rating, category = ev.properties.get("rating"), ev.properties.get("category")
        if isinstance(rating, int | float) and not isinstance(rating, bool):
            self.ratings.append(float(rating))
        if isinstance(category, str) and category:
            self.categories.append((ts, ev.event_id, category))
        cell = ev.h3_r9
        if cell is not None and (self.last is None or (ts, ev.event_id) > (self.last[0], self.last[1])):
            self.last = (ts, ev.event_id, cell)

    def features(self, *, final: bool) -> dict[str, Any]:
        pts = sorted(self.points)
        distance = sum(haversine_m(a[2], a[3], b[2], b[3]) for a, b in itertools.pairwise(pts))
        lengths = [s[1] - s[0] for s in self.sessions.values()]
        return {
            "user_key": self.user_key,
            "window_start": iso(self.start),
            "window_end": iso(self.end),
            "final": final,
            "events_total": sum(self.counts.values()),
            "event_counts": dict(sorted(self.counts.items())),
            "distinct_places": len(self.places),
            "session_count": len(lengths),
            "session_seconds_total": round(sum(lengths), 3),
            "session_seconds_max": round(max(lengths), 3) if lengths else 0.0,
            "last_h3_r9": self.last[2] if self.last else None,
            "distance_m": round(distance, 3),
            "avg_rating": round(sum(self.ratings) / len(self.ratings), 3) if self.ratings else None,
            "recent_categories": recent_categories(self.categories),
        }


def recent_categories(seen: list[tuple[float, str, str]], most: int = 5) -> list[str]:
    """Distinct categories, the latest first (by time, then event id: independent of arrival order)."""
    out: list[str] = []
    for _, _, category in sorted(seen, reverse=True):
        if category not in out:
            out.append(category)
    return out[:most]


def place_of(ev: Event) -> str | None:
    """The place an event is about (seed shape: ``data.place_id`` → ``properties.place_id``)."""
    place = ev.properties.get("place_id")
    return None if place is None else str(place)


def window_start(ts: float, window_s: float) -> float:
    return ts - (ts % window_s)


class UserWindows:
    """The open windows of all users, in memory; the consumer persists the dirty ones each batch."""

    def __init__(self, window_s: float):
        self.window_s = window_s
        self.open: dict[tuple[str, float], WindowAcc] = {}
        self.latest: dict[str, float] = {}

    def add(self, ev: Event) -> tuple[str, float] | None:
        """Add an event (not late) to its user's window; return the window id, None if no user."""
        user = ev.user_key or ev.anonymous_key
        if user is None:
            return None
        ts = epoch(ev.ts)
        start = window_start(ts, self.window_s)
        wid = (user, start)
        acc = self.open.get(wid)
        if acc is None:
            acc = self.open[wid] = WindowAcc(user_key=user, start=start, end=start + self.window_s)
        acc.add(ev, ts)
        if start > self.latest.get(user, -1.0):
            self.latest[user] = start
        return wid

    def close(self, closed_before: float) -> list[WindowAcc]:
        """Remove and return every window whose end is at or before ``closed_before``."""
        done = [wid for wid, acc in self.open.items() if acc.end <= closed_before]
        return sorted((self.open.pop(wid) for wid in done), key=lambda a: (a.start, a.user_key))


_acc_encoder = msgspec.json.Encoder()
_acc_decoder = msgspec.json.Decoder(WindowAcc)


def encode_acc(acc: WindowAcc) -> bytes:
    return _acc_encoder.encode(acc)


def decode_acc(data: bytes) -> WindowAcc:
    return _acc_decoder.decode(data)
