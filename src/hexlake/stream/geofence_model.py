"""Geofence definitions: a circle or a GeoJSON polygon, with metadata and an optional webhook.

``signed_distance_m`` is negative inside, positive outside (metres). Polygons are projected onto a
local equirectangular plane around their centroid (error well under 1 % at geofence sizes) and
tested with shapely. ``cover_cells`` returns the H3 cells (prefilter resolution) that can hold a
point within ``margin_m`` of the fence, so a ping is only tested exactly against candidate fences.
"""

from __future__ import annotations

import math
from typing import Any

import h3
import msgspec
import shapely
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from hexlake.errors import BadRequest
from hexlake.stream.timeutil import haversine_m

PREFILTER_RES = 7
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LNG = 111_320.0


class Geofence(msgspec.Struct, kw_only=True):
    id: str
    name: str
    kind: str  # "circle" | "polygon"
    lat: float | None = None
    lng: float | None = None
    radius_m: float | None = None
    geometry: dict[str, Any] | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    webhook_url: str | None = None
    created_at: str | None = None

    def public(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)


def validate(body: dict[str, Any]) -> dict[str, Any]:
    """Check a create body; raise ``BadRequest`` naming the field. Returns the normalised fields."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", field="body")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("name is required (a non-empty string)", field="name")
    meta = body.get("metadata", {})
    if not isinstance(meta, dict):
        raise BadRequest("metadata must be a JSON object", field="metadata")
    hook = body.get("webhook_url")
    if hook is not None and (not isinstance(hook, str) or not hook.startswith(("http://", "https://"))):
        raise BadRequest("webhook_url must be an http(s) URL", field="webhook_url")
    out: dict[str, Any] = {"name": name.strip(), "metadata": meta, "webhook_url": hook}
    if body.get("geometry") is not None:
        out.update(kind="polygon", geometry=_polygon(body["geometry"]))
    else:
        out.update(kind="circle", **_circle(body))
    return out


def _circle(body: dict[str, Any]) -> dict[str, float]:
    for key, lo, hi in (("lat", -90, 90), ("lng", -180, 180), ("radius_m", 1, 100_000)):
        value = body.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool) or not lo <= value <= hi:
            raise BadRequest(
                f"{key} must be a number between {lo} and {hi} (or give a GeoJSON `geometry`)", field=key)
    return {"lat": float(body["lat"]), "lng": float(body["lng"]), "radius_m": float(body["radius_m"])}


def _polygon(geom: Any) -> dict[str, Any]:
    if not isinstance(geom, dict) or geom.get("type") not in ("Polygon", "MultiPolygon"):
        raise BadRequest("geometry must be a GeoJSON Polygon or MultiPolygon", field="geometry")
    try:
        shp = shape(geom)
    except Exception as exc:
        raise BadRequest(f"geometry is not valid GeoJSON: {exc}", field="geometry") from exc
    if shp.is_empty or not shp.is_valid:
        raise BadRequest("geometry is empty or self-intersecting", field="geometry")
    minx, miny, maxx, maxy = shp.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise BadRequest("geometry coordinates must be [lng, lat] in degrees", field="geometry")
    return geom


class Shape:
    """A fence prepared for fast distance tests."""

    def __init__(self, fence: Geofence):
        self.fence = fence
        self.poly: BaseGeometry | None = None
        if fence.kind == "polygon":
            geo = shape(fence.geometry)
            c = geo.centroid
            self.lat0, self.lng0 = c.y, c.x
            self.kx = _M_PER_DEG_LNG * math.cos(math.radians(self.lat0))
            self.poly = shapely.transform(geo, self._project)
            shapely.prepare(self.poly)

    def _project(self, coords: Any) -> Any:
        out = coords.copy()
        out[:, 0] = (coords[:, 0] - self.lng0) * self.kx
        out[:, 1] = (coords[:, 1] - self.lat0) * _M_PER_DEG_LAT
        return out

    def signed_distance_m(self, lat: float, lng: float) -> float:
        f = self.fence
        if self.poly is None:
            return haversine_m(f.lat or 0.0, f.lng or 0.0, lat, lng) - (f.radius_m or 0.0)
        pt = Point((lng - self.lng0) * self.kx, (lat - self.lat0) * _M_PER_DEG_LAT)
        d = float(self.poly.boundary.distance(pt))
        return -d if self.poly.contains(pt) else d

    def cover_cells(self, margin_m: float, max_cells: int = 20_000) -> set[str] | None:
        """Candidate prefilter cells, or None when the fence is too large to index (always tested)."""
        edge = h3.average_hexagon_edge_length(PREFILTER_RES, "m")
        f = self.fence
        if self.poly is None:
            k = math.ceil(((f.radius_m or 0) + margin_m) / edge) + 1
            if 3 * k * (k + 1) + 1 > max_cells:
                return None
            return set(h3.grid_disk(h3.latlng_to_cell(f.lat, f.lng, PREFILTER_RES), k))
        geo = shape(f.geometry)
        pad_deg = (margin_m + edge) / _M_PER_DEG_LAT
        cells = set(h3.geo_to_cells(geo.buffer(pad_deg), PREFILTER_RES))
        cells.update(h3.latlng_to_cell(y, x, PREFILTER_RES) for x, y in shapely.get_coordinates(geo))
        if len(cells) > max_cells:
            return None
        return {n for c in cells for n in h3.grid_disk(c, 1)}
