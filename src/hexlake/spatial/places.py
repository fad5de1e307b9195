"""The places registry: durable store + in-memory nearby index, kept in step on every change."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from hexlake.errors import BadRequest, Conflict, NotFound
from hexlake.spatial.geo import (
    PLACE_RESOLUTIONS,
    cell_hex,
    cells_vectorised,
    check_lat,
    check_limit,
    check_lng,
    check_radius,
    place_cells,
)
from hexlake.spatial.index import Hit, PlaceIndex, PointRow
from hexlake.spatial.models import Place
from hexlake.spatial.store import SqlitePlaceStore

MAX_ID_LEN = 200
REFRESH_CHECK_S = 1.0


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_place_fields(data: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """Validate user-supplied place fields; raise BadRequest naming the first bad one."""
    out: dict[str, Any] = {}
    for key in ("id", "name"):
        if key in data or not partial:
            value = data.get(key)
            if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID_LEN:
                raise BadRequest(f"{key} must be a non-empty string of at most {MAX_ID_LEN} characters.",
                                 field=key)
            out[key] = value.strip() if key == "name" else value
    if "category" in data:
        cat = data["category"]
        if cat is not None and not isinstance(cat, str):
            raise BadRequest("category must be a string or null.", field="category")
        out["category"] = cat or None
    for key, check in (("lat", check_lat), ("lng", check_lng)):
        if key in data or not partial:
            value = data.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise BadRequest(f"{key} must be a number.", field=key)
            out[key] = check(value)
    if "attributes" in data:
        if not isinstance(data["attributes"], dict):
            raise BadRequest("attributes must be a JSON object.", field="attributes")
        out["attributes"] = data["attributes"]
    return out


class PlacesService:
    """CRUD, bulk load and nearby search over one ``SqlitePlaceStore``."""

    def __init__(self, store: SqlitePlaceStore, *, max_radius_m: float = 50_000.0, max_limit: int = 1_000):
        self.store = store
        self.max_radius_m = max_radius_m
        self.max_limit = max_limit
        self._index: PlaceIndex | None = None
        self._lock = threading.Lock()
        self._version = 0
        self._checked = time.monotonic()
        self._refreshing = False

    def close(self) -> None:
        self.store.close()

    @property
    def index(self) -> PlaceIndex:
        """The nearby index, built from the store on first use.

        Another process (the CLI's bulk load) may write the file: at most once a second the SQLite
        ``data_version`` is checked and, when it moved, a fresh index is built in the background and
        swapped in; queries keep using the current one meanwhile.
        """
        with self._lock:
            if self._index is None:
                self._version = self.store.data_version()
                self._index = self._build()
            elif time.monotonic() - self._checked > REFRESH_CHECK_S and not self._refreshing:
                self._checked = time.monotonic()
                version = self.store.data_version()
                if version != self._version:
                    self._version, self._refreshing = version, True
                    threading.Thread(target=self._refresh, name="places-index-refresh", daemon=True).start()
            return self._index

    def _build(self) -> PlaceIndex:
        ids, lat, lng, cat = self.store.scan_points()
        return PlaceIndex.from_arrays(ids, np.array(lat, dtype=np.float64), np.array(lng, dtype=np.float64), cat)

    def _refresh(self) -> None:
        try:
            fresh = self._build()
            with self._lock:
                self._index = fresh
        finally:
            self._refreshing = False

    # --- CRUD ---
    def create(self, data: dict[str, Any]) -> Place:
        fields = check_place_fields(data)
        if self.store.get(fields["id"]) is not None:
            raise Conflict(f"place {fields['id']!r} already exists; use PATCH to change it.", field="id")
        now = _now()
        place = Place(id=fields["id"], name=fields["name"], category=fields.get("category"), lat=fields["lat"],
                      lng=fields["lng"], attributes=fields.get("attributes", {}),
                      h3=place_cells(fields["lat"], fields["lng"]), created_at=now, updated_at=now)
        self._write([place])
        return place

    def get(self, place_id: str) -> Place:
        place = self.store.get(place_id)
        if place is None:
            raise NotFound(f"no place with id {place_id!r}.", field="id")
        return place

    def update(self, place_id: str, data: dict[str, Any]) -> Place:
        if "id" in data and data["id"] != place_id:
            raise BadRequest("id cannot be changed; delete and create the place instead.", field="id")
        fields = check_place_fields({k: v for k, v in data.items() if k != "id"}, partial=True)
        old = self.get(place_id)
        lat, lng = fields.get("lat", old.lat), fields.get("lng", old.lng)
        attributes = {**old.attributes, **fields.get("attributes", {})}
        place = Place(id=old.id, name=fields.get("name", old.name), category=fields.get("category", old.category),
                      lat=lat, lng=lng, attributes=attributes, h3=place_cells(lat, lng),
                      created_at=old.created_at, updated_at=_now())
        self._write([place])
        return place

    def delete(self, place_id: str) -> None:
        if not self.store.delete(place_id):
            raise NotFound(f"no place with id {place_id!r}.", field="id")
        if self._index is not None:
            self._index.delete([place_id])

    def page(self, *, category: str | None = None, after: str | None = None, limit: int = 100) -> list[Place]:
        return self.store.page(category=category, after=after, limit=check_limit(limit, self.max_limit))

    def upsert_many(self, rows: Sequence[dict[str, Any]]) -> int:
        """Bulk insert-or-replace already validated rows (``check_place_fields``); H3 computed per batch."""
        if not rows:
            return 0
        lat = np.array([r["lat"] for r in rows], dtype=np.float64)
        lng = np.array([r["lng"] for r in rows], dtype=np.float64)
        cells = {res: cells_vectorised(lat, lng, res).tolist() for res in PLACE_RESOLUTIONS}
        now = _now()
        places = [
            Place(id=r["id"], name=r["name"], category=r.get("category"), lat=r["lat"], lng=r["lng"],
                  attributes=r.get("attributes", {}), created_at=now, updated_at=now,
                  h3={f"h3_r{res}": cell_hex(cells[res][i]) for res in PLACE_RESOLUTIONS})
            for i, r in enumerate(rows)
        ]
        self._write(places)
        return len(places)

    def _write(self, places: Sequence[Place]) -> None:
        self.store.upsert(places)
        if self._index is not None:
            self._index.upsert([PointRow(p.id, p.lat, p.lng, p.category) for p in places])

    # --- nearby ---
    def nearby_hits(self, lat: float, lng: float, radius_m: float, limit: int = 50,
                    category: str | None = None) -> list[Hit]:
        """Validated nearby ids and distances (the fast path; no store read)."""
        lat, lng = check_lat(lat), check_lng(lng)
        radius_m = check_radius(radius_m, self.max_radius_m)
        limit = check_limit(limit, self.max_limit)
        return self.index.nearby(lat, lng, radius_m, limit, category)

    def nearby(self, lat: float, lng: float, radius_m: float, limit: int = 50,
               category: str | None = None) -> list[dict[str, Any]]:
        """Nearby places with their fields and ``distance_m``, nearest first then by id."""
        hits = self.nearby_hits(lat, lng, radius_m, limit, category)
        found = self.store.get_many([h.id for h in hits])
        return [{**found[h.id].to_json(), "distance_m": round(h.distance_m, 3)} for h in hits if h.id in found]


__all__ = ["PlacesService", "check_place_fields"]
