"""HTTP API of the spatial stage: places CRUD, nearby, heatmap, popularity, hotspots, regions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter, Body, Depends, Query, Request, Response

from hexlake.serve.auth import require_manage, require_read
from hexlake.serve.deps import runtime_of
from hexlake.spatial import clustering, heatmap, live, popularity
from hexlake.spatial.resources import places

router = APIRouter(tags=["places"])
read_places = [Depends(require_read("places"))]
read_nearby = [Depends(require_read("nearby"))]
read_heatmap = [Depends(require_read("heatmap"))]
write = [Depends(require_manage("places"))]  # an admin, or a write key created with --apis places


def _json(data: Any, media_type: str = "application/json") -> Response:
    return Response(orjson.dumps(data), media_type=media_type)


@router.get("/v1/places/nearby", dependencies=read_places)
def nearby_places(  # returns orjson bytes directly: the hot endpoint skips FastAPI's encoder
    request: Request,
    lat: float = Query(..., description="Latitude of the query point, degrees."),
    lng: float = Query(..., description="Longitude of the query point, degrees."),
    radius_m: float = Query(500.0, description="Search radius in metres (great circle, sphere)."),
    limit: int = Query(50, description="Most places returned."),
    category: str | None = Query(None, description="Only places of this category."),
) -> Response:
    """Places within ``radius_m``, nearest first (ties by id), with ``distance_m``."""
    found = places(runtime_of(request)).nearby(lat, lng, radius_m, limit, category)
    return _json({"places": found, "count": len(found)})


@router.get("/v1/places/popular", dependencies=read_places)
def popular_places(
    request: Request,
    limit: int = Query(20, description="Most places returned."),
    category: str | None = Query(None),
    lat: float | None = Query(None, description="With lng and radius_m: only places near this point."),
    lng: float | None = Query(None),
    radius_m: float | None = Query(None),
) -> dict[str, Any]:
    """Places ranked by the CANVS popularity score (places under k distinct users left out)."""
    rows = popularity.popular(runtime_of(request), limit=limit, category=category, lat=lat, lng=lng, radius_m=radius_m)
    return {"places": rows, "count": len(rows)}


@router.get("/v1/places", dependencies=read_places)
def list_places(
    request: Request,
    category: str | None = Query(None),
    after: str | None = Query(None, description="Cursor: the last id of the previous page."),
    limit: int = Query(100),
) -> dict[str, Any]:
    """Places ordered by id, a page at a time."""
    rows = [p.to_json() for p in places(runtime_of(request)).page(category=category, after=after, limit=limit)]
    return {"places": rows, "next_after": rows[-1]["id"] if len(rows) == limit else None}


@router.post("/v1/places", dependencies=write, status_code=201)
def create_place(request: Request, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    """Create a place: ``{id, name, category?, lat, lng, attributes?}``."""
    return places(runtime_of(request)).create(body).to_json()


@router.get("/v1/places/{place_id}", dependencies=read_places)
def get_place(request: Request, place_id: str) -> dict[str, Any]:
    return places(runtime_of(request)).get(place_id).to_json()


@router.patch("/v1/places/{place_id}", dependencies=write)
def update_place(request: Request, place_id: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    """Change some fields; ``attributes`` are merged into the existing ones."""
    return places(runtime_of(request)).update(place_id, body).to_json()


@router.delete("/v1/places/{place_id}", dependencies=write, status_code=204)
def delete_place(request: Request, place_id: str) -> Response:
    places(runtime_of(request)).delete(place_id)
    return Response(status_code=204)


@router.get("/v1/places/{place_id}/popularity", dependencies=read_places)
def place_popularity(request: Request, place_id: str) -> dict[str, Any]:
    """The popularity score of one place and its components."""
    rt = runtime_of(request)
    places(rt).get(place_id)
    return popularity.for_place(rt, place_id)


@router.get("/v1/events/nearby", dependencies=read_nearby)
def nearby_events(
    request: Request,
    lat: float = Query(...),
    lng: float = Query(...),
    radius_m: float = Query(1000.0),
    minutes: int = Query(15, description="Only events of the last N minutes."),
) -> dict[str, Any]:
    """Recent activity around a point as coarse H3 cells with counts (k-anonymous, no user keys)."""
    return live.nearby_events(runtime_of(request), lat, lng, radius_m, minutes)


@router.get("/v1/heatmap", dependencies=read_heatmap)
def get_heatmap(
    request: Request,
    res: int = Query(9, description="H3 resolution of the hexagons (0-12)."),
    from_: datetime | None = Query(None, alias="from", description="Start (UTC); default 24 h ago."),
    to: datetime | None = Query(None, description="End (UTC, exclusive); default now."),
    event_type: str | None = Query(None),
    limit: int = Query(10_000, description="Most hexagons returned (busiest first)."),
) -> Response:
    """GeoJSON FeatureCollection of H3 hexagons with ``events`` and ``distinct_users``."""
    fc = heatmap.heatmap(runtime_of(request), res=res, start=from_, end=to, event_type=event_type, limit=limit)
    return _json(fc, media_type="application/geo+json")


@router.get("/v1/hotspots", dependencies=read_heatmap)
def get_hotspots(request: Request) -> dict[str, Any]:
    """The latest DBSCAN hotspots of recent pings."""
    return clustering.hotspots_json(runtime_of(request))


@router.get("/v1/regions", dependencies=read_heatmap)
def get_regions(request: Request, city: str | None = Query(None)) -> dict[str, Any]:
    """The latest k-means regions per city."""
    return clustering.regions_json(runtime_of(request), city)
