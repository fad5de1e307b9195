"""HTTP API of the stream stage: realtime metrics, trending places, late output, features, geofences."""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import APIRouter, Body, Depends, Query, Request, Response

from hexlake.errors import BadRequest, NotFound
from hexlake.features import get_online_store, user_entity
from hexlake.runtime import Runtime
from hexlake.serve.auth import require_manage, require_read
from hexlake.serve.deps import runtime_of
from hexlake.stream.realtime import metrics_snapshot, trending_places
from hexlake.stream.runner import get_counter_store, get_geofence_store
from hexlake.stream.state import consumer_stats, group_state_files, list_late_events

router = APIRouter(tags=["realtime"])
realtime = [Depends(require_read("realtime"))]
features = [Depends(require_read("features"))]
geofences = [Depends(require_read("geofences"))]
own_features = [Depends(require_read("features", subject_param="user_id"))]
write = [Depends(require_manage("geofences"))]  # an admin, or a write key created with --apis geofences
MAX_BATCH = 1000


def _hasher(runtime: Runtime) -> Any:
    from hexlake.privacy.hashing import Hasher
    from hexlake.privacy.secret import load_secret

    return runtime.resource("stream.hasher", lambda rt: Hasher(load_secret(rt.paths.secret)))


@router.get("/v1/realtime/metrics", dependencies=realtime)
def realtime_metrics(
    request: Request,
    minutes: int = Query(60, ge=1, le=1440, description="Events-per-minute history to return."),
    live_minutes: int = Query(15, ge=1, le=1440, description="Window of the live place / cell counts."),
    top: int = Query(20, ge=1, le=1000, description="Most places and cells listed."),
) -> dict[str, Any]:
    """platform_metrics_realtime: events/minute by type and source, active users, live counts."""
    rt = runtime_of(request)
    snap = metrics_snapshot(get_counter_store(rt), time.time(), minutes=minutes, live_minutes=live_minutes,
                            top=top, k=rt.settings.transform.heatmap_k)
    snap["consumers"] = consumer_stats(group_state_files(rt.settings))
    return snap


@router.get("/v1/realtime/places/trending", dependencies=realtime)
def trending(
    request: Request,
    h3_r6: str | None = Query(None, description="Only places in this H3 resolution-6 cell."),
    city: str | None = Query(None, description="Only places whose cell's nearest city has this name."),
    limit: int = Query(10, ge=1, le=1000, description="Top N places (per group with `per`)."),
    per: str | None = Query(None, description="Top N per `h3_r6` cell or per `city` instead of overall."),
) -> dict[str, Any]:
    """Top places by a decayed count over the sliding window (see docs/realtime.md)."""
    if per not in (None, "h3_r6", "city"):
        raise BadRequest("per must be h3_r6 or city", field="per")
    rt = runtime_of(request)
    cfg = rt.settings.stream
    return trending_places(get_counter_store(rt), time.time(), window_minutes=cfg.trending_window_minutes,
                           half_life_minutes=cfg.trending_half_life_minutes, h3_r6=h3_r6, city=city, limit=limit,
                           per=per, k=rt.settings.transform.heatmap_k)


@router.get("/v1/realtime/late", dependencies=realtime)
def late_events(
    request: Request,
    group: str | None = Query(None, description="Only this consumer group (stream-features, ...)."),
    limit: int = Query(100, ge=1, le=10_000, description="Most rows returned, newest first."),
) -> dict[str, Any]:
    """The late side output: events behind the watermark by more than the allowed lateness."""
    rt = runtime_of(request)
    files = group_state_files(rt.settings)
    stats = consumer_stats(files)
    return {"counts": {g: s["late"] for g, s in stats.items()},
            "events": list_late_events(files, group, limit)}


# A person's subject token reads their own features (and only theirs).
@router.get("/v1/features/users/{user_id}", dependencies=own_features)
async def user_features(request: Request, user_id: str) -> Response:
    """The user's latest 10-minute window features (the id is hashed here, never stored)."""
    rt = runtime_of(request)
    value = get_online_store(rt).get(user_entity(_hasher(rt).user_key(user_id)))
    if value is None:
        raise NotFound("no live features for this user (no recent events, or expired)", field="user_id")
    return Response(orjson.dumps({"user_id": user_id, "features": value}), media_type="application/json")


@router.post("/v1/features/users:batch", dependencies=features)
async def user_features_batch(request: Request, body: Any = Body(..., examples=[{"user_ids": ["42", "43"]}])
                              ) -> Response:
    """Features of many users at once: ``{"user_ids": [...]}`` → ``{"features": {id: {...} | null}}``."""
    ids = body.get("user_ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str | int) for i in ids):
        raise BadRequest("user_ids must be a list of strings or integers", field="user_ids")
    if len(ids) > MAX_BATCH:
        raise BadRequest(f"at most {MAX_BATCH} user_ids per request; split the batch", field="user_ids")
    rt = runtime_of(request)
    hasher = _hasher(rt)
    keys = [user_entity(hasher.user_key(str(i))) for i in ids]
    found = get_online_store(rt).get_many(keys)
    feats = {str(i): found.get(k) for i, k in zip(ids, keys, strict=True)}
    return Response(orjson.dumps({"features": feats}), media_type="application/json")


@router.post("/v1/geofences", dependencies=write, status_code=201)
def create_geofence(request: Request, body: Any = Body(..., examples=[
        {"name": "HQ", "lat": 37.7749, "lng": -122.4194, "radius_m": 150, "metadata": {"team": "ops"}}])
                    ) -> dict[str, Any]:
    """Create a circle (lat, lng, radius_m) or GeoJSON polygon (geometry) geofence."""
    return get_geofence_store(runtime_of(request)).create(body).public()


@router.get("/v1/geofences", dependencies=geofences)
def list_geofences(request: Request) -> dict[str, Any]:
    """Every geofence."""
    fences = [f.public() for f in get_geofence_store(runtime_of(request)).list()]
    return {"geofences": fences, "count": len(fences)}


@router.get("/v1/geofences/{fence_id}", dependencies=geofences)
def get_geofence(request: Request, fence_id: str) -> dict[str, Any]:
    """One geofence."""
    return get_geofence_store(runtime_of(request)).get(fence_id).public()


@router.delete("/v1/geofences/{fence_id}", dependencies=write, status_code=204)
def delete_geofence(request: Request, fence_id: str) -> Response:
    """Delete a geofence; users inside it get no exit event."""
    get_geofence_store(runtime_of(request)).delete(fence_id)
    return Response(status_code=204)
