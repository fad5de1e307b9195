"""Geofence enter/exit detection from location pings.

Per (user, fence) the state is "inside since T" or absent. A ping enters a fence when it is inside
(signed distance <= 0) and exits when it is more than ``hysteresis_m`` outside, so GPS jitter at
the edge never flaps. Pings are applied per user in event-time order; a ping older than the user's
last one is skipped for fences (it cannot un-happen a transition) and counted. Transitions become
``geofence_enter`` / ``geofence_exit`` events (exit carries ``dwell_s``) with deterministic ids, so
re-emitting after a crash is deduplicated downstream.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import h3
import orjson

from hexlake.gate.envelope import Event
from hexlake.stream.consumer import BatchOutput
from hexlake.stream.geofence_model import PREFILTER_RES, Geofence, Shape
from hexlake.stream.geofence_store import GeofenceStore
from hexlake.stream.timeutil import Watermark, epoch, iso

GROUP = "stream-geofences"
DERIVED_PREFIX = "geofence_"
_NS = uuid.UUID("6f1d7a52-2c1e-4c4e-9a57-0f3f5b0e6a11")


class FenceIndex:
    """H3 prefilter: prefilter cell → fences that may contain a point there."""

    def __init__(self, fences: Sequence[Geofence], margin_m: float):
        self.shapes = {f.id: Shape(f) for f in fences}
        self.by_cell: dict[str, list[str]] = {}
        self.always: list[str] = []
        for fid, shp in self.shapes.items():
            cells = shp.cover_cells(margin_m)
            if cells is None:
                self.always.append(fid)
                continue
            for c in cells:
                self.by_cell.setdefault(c, []).append(fid)

    def candidates(self, lat: float, lng: float) -> list[str]:
        return self.by_cell.get(h3.latlng_to_cell(lat, lng, PREFILTER_RES), []) + self.always


class GeofenceOperator:
    group = GROUP

    def __init__(self, store: GeofenceStore, hysteresis_m: float = 25.0, max_accuracy_m: float = 500.0):
        self.store = store
        self.margin = hysteresis_m
        self.max_accuracy = max_accuracy_m
        self.inside: dict[str, dict[str, float]] = {}  # user -> fence -> entered ts
        self.last_ts: dict[str, float] = {}
        self.stale = 0
        self._version = -1
        self.index = FenceIndex([], hysteresis_m)

    def load(self, state: dict[str, bytes]) -> None:
        self.inside, self.last_ts = {}, {}
        for key, value in state.items():
            if key.startswith("u|"):
                doc = orjson.loads(value)
                self.inside[key[2:]] = doc["inside"]
                self.last_ts[key[2:]] = doc["last_ts"]

    def refresh(self) -> None:
        version = self.store.version()
        if version != self._version:
            self.index = FenceIndex(self.store.list(), self.margin)
            self._version = version

    def process(self, events: Sequence[Event], out: BatchOutput, watermark: Watermark) -> None:
        self.refresh()
        dirty: set[str] = set()
        derived: list[dict[str, Any]] = []
        for ev in events:
            user = ev.user_key or ev.anonymous_key
            if user is None or ev.lat is None or ev.lng is None or ev.event_type.startswith(DERIVED_PREFIX):
                continue
            if ev.accuracy_m is not None and ev.accuracy_m > self.max_accuracy:
                continue
            ts = epoch(ev.ts)
            if ts < self.last_ts.get(user, float("-inf")):
                self.stale += 1
                continue
            self.last_ts[user] = ts
            dirty.add(user)
            derived += self._transitions(user, ev, ts)
        for user in sorted(dirty):
            out.put(f"u|{user}", orjson.dumps({"inside": self.inside.get(user, {}), "last_ts": self.last_ts[user]}))
        if derived:
            out.emit("derived", derived)

    def _transitions(self, user: str, ev: Event, ts: float) -> list[dict[str, Any]]:
        inside = self.inside.setdefault(user, {})
        for fid in [f for f in inside if f not in self.index.shapes]:
            del inside[fid]  # fence deleted: forget, no synthetic exit
        lat, lng = ev.lat or 0.0, ev.lng or 0.0
        out = []
        for fid in sorted(set(self.index.candidates(lat, lng)) | set(inside)):
            d = self.index.shapes[fid].signed_distance_m(lat, lng)
            if fid not in inside and d <= 0:
                inside[fid] = ts
                out.append(_derived("geofence_enter", self.index.shapes[fid].fence, user, ev, ts, 0.0, d))
            elif fid in inside and d > self.margin:
                entered = inside.pop(fid)
                out.append(_derived("geofence_exit", self.index.shapes[fid].fence, user, ev, ts, ts - entered, d))
        return out


def _derived(kind: str, fence: Geofence, user: str, ev: Event, ts: float, dwell: float, d: float) -> dict[str, Any]:
    """A derived event in the native input shape (see docs/events.md), with a deterministic id."""
    return {
        "event_id": str(uuid.uuid5(_NS, f"{kind}|{fence.id}|{user}|{ev.event_id}")),
        "event_type": kind,
        "timestamp": iso(ts),
        "user_key": user,
        "session_id": ev.session_id,
        "properties": {
            "geofence_id": fence.id, "geofence_name": fence.name, "user_key": user,
            "dwell_s": round(dwell, 3), "distance_to_edge_m": round(d, 2),
            "trigger_event_id": ev.event_id, "metadata": fence.metadata,
        },
        "_webhook": fence.webhook_url,
    }
