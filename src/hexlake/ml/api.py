"""HTTP API of the ML stage: ``/v1/recommend``, ``/v1/search/places``, ``/v1/places/{id}/similar``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from hexlake.errors import BadRequest
from hexlake.runtime import Runtime
from hexlake.serve.auth import require_read
from hexlake.serve.deps import runtime_of
from hexlake.serve.errors import FastJSONResponse

if TYPE_CHECKING:
    from hexlake.ml.serve import Recommender

router = APIRouter(tags=["ml"])
read_recommend_key = require_read("recommend")  # also checked by hitpath.RecommendHitMiddleware
read_recommend = [Depends(read_recommend_key)]
read_search = [Depends(require_read("search"))]
read_features = [Depends(require_read("features"))]


@router.get("/v1/recommend", dependencies=read_recommend, response_model=None)
async def recommend(
    request: Request,
    user_id: str = Query(..., min_length=1, max_length=256, description="The app's user id (hashed at once)."),
    lat: float | None = Query(None, ge=-90, le=90, description="With lng: prefer places near this point."),
    lng: float | None = Query(None, ge=-180, le=180),
    k: int = Query(10, ge=1, le=100, description="How many places."),
) -> FastJSONResponse:
    """Top ``k`` places for the user, each with ``reasons``; popularity when no model is promoted."""
    if (lat is None) != (lng is None):
        raise BadRequest("lat and lng go together", field="lng" if lng is None else "lat")
    runtime = runtime_of(request)
    # a hit in this process's cache is a dict lookup, answered on the event loop (most hits do not get
    # here: hitpath.RecommendHitMiddleware answers them first); scoring, Redis (L2) and the first
    # snapshot build block, so they go to a worker thread
    hit = cached_for(runtime, user_id, lat, lng, k)
    if hit is not None:
        user_key, body = hit
        recommender_of(runtime).served_event(user_key, body, k)
    else:
        body = await run_in_threadpool(recommend_for, runtime, user_id, lat, lng, k)
    return FastJSONResponse(body)


def cached_for(
    runtime: Runtime, user_id: str, lat: float | None, lng: float | None, k: int
) -> tuple[str, dict[str, Any]] | None:
    """(user key, response) from this process's L1 cache, or None: no I/O, not yet logged as served."""
    rec = recommender_of(runtime)
    if rec.view is None:
        return None
    user_key = user_key_of(runtime, user_id)
    result = rec.cached(user_key, lat=lat, lng=lng, k=k)
    return None if result is None else (user_key, result)


def recommend_for(runtime: Runtime, user_id: str, lat: float | None, lng: float | None, k: int) -> dict[str, Any]:
    """The response (logged as a ``recommendation_served`` event) from the cache or freshly scored."""
    rec = recommender_of(runtime)
    ensure_fresh(runtime)
    if rec.similar is None:
        from hexlake.ml.vectors import similar_ids

        rec.similar = lambda ids: similar_ids(runtime, ids)
    user_key = user_key_of(runtime, user_id)

    def nearby() -> list[str]:
        if lat is None or lng is None:
            return []
        from hexlake.spatial.resources import places

        return [h.id for h in places(runtime).nearby_hits(lat, lng, 5000.0, 200)]

    result = rec.recommend(user_key, lat=lat, lng=lng, k=k, nearby=nearby)
    rec.served_event(user_key, result, k)
    return result


def ensure_fresh(runtime: Runtime) -> None:
    """Build the feature snapshot on first use (or while it has no places); later refreshes are the ML
    service's, in the background, so a request never waits for one."""
    from hexlake.ml.serve import refresh_from

    rec = recommender_of(runtime)
    if rec.snapshot is None or (rec.snapshot.places.is_empty() and rec.stale()):
        refresh_from(runtime)


def recommender_of(runtime: Runtime) -> Recommender:
    from hexlake.ml.serve import recommender  # numpy, polars: imported on first use, not at start-up

    return recommender(runtime)


def user_key_of(runtime: Runtime, user_id: str) -> str:
    from hexlake.privacy.hashing import Hasher
    from hexlake.privacy.secret import load_secret

    hasher = runtime.resource("ml.hasher", lambda rt: Hasher(load_secret(rt.paths.secret), memo_size=10_000))
    key: str = hasher.user_key(user_id)
    return key


@router.get("/v1/search/places", dependencies=read_search)
def search(
    request: Request,
    q: str = Query(..., min_length=1, max_length=500, description="What to look for, in words."),
    k: int = Query(10, ge=1, le=100),
    lat: float | None = Query(None, ge=-90, le=90, description="With lng: only places within radius_m."),
    lng: float | None = Query(None, ge=-180, le=180),
    radius_m: float | None = Query(None, gt=0, le=50_000),
) -> dict[str, Any]:
    """Places closest in meaning to ``q`` (MiniLM embeddings, cosine). 501 without ``hexlake[ml]``."""
    from hexlake.ml.vectors import search_places

    if (lat is None) != (lng is None):
        raise BadRequest("lat and lng go together", field="lng" if lng is None else "lat")
    rows = search_places(runtime_of(request), q, k=k, lat=lat, lng=lng, radius_m=radius_m)
    return {"places": rows, "count": len(rows)}


@router.get("/v1/places/{place_id}/similar", dependencies=read_search)
def similar(request: Request, place_id: str, k: int = Query(10, ge=1, le=100)) -> dict[str, Any]:
    """Places whose text is nearest to this place's (the ANN index). 501 without ``hexlake[ml]``."""
    from hexlake.ml.embeddings import available
    from hexlake.ml.errors import EXTRA_HINT, NotInstalled
    from hexlake.ml.vectors import similar_places

    if not available():
        raise NotInstalled(EXTRA_HINT)
    rows = similar_places(runtime_of(request), place_id, k)
    return {"places": rows, "count": len(rows)}


@router.get("/v1/features/places/{place_id}", dependencies=read_features)
def place_features(request: Request, place_id: str) -> dict[str, Any]:
    """A place's online features (activity, followers, rating, trending), refreshed by the ``ml`` service."""
    from hexlake.errors import NotFound
    from hexlake.features import get_online_store
    from hexlake.ml.service import place_entity

    row = get_online_store(runtime_of(request)).get(place_entity(place_id))
    if row is None:
        raise NotFound(f"no online features for place {place_id!r} (none yet, or no interactions)", field="place_id")
    return {"place_id": place_id, "features": row}
