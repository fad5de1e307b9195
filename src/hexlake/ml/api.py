"""HTTP API of the ML stage: ``/v1/recommend`` (and its cache hits before routing, ``RecommendHitMiddleware``),
``/v1/search/places``, ``/v1/places/{id}/similar``."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Query, Request
from prometheus_client import Counter
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from hexlake.errors import BadRequest, HexlakeError
from hexlake.runtime import Runtime
from hexlake.serve.auth import require_read
from hexlake.serve.deps import runtime_of
from hexlake.serve.errors import FastJSONResponse

if TYPE_CHECKING:
    from hexlake.ml.serve import Recommender

router = APIRouter(tags=["ml"])
read_recommend_key = require_read("recommend")  # also checked by RecommendHitMiddleware below
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
    # here: RecommendHitMiddleware below answers them first); scoring, Redis (L2) and the first
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


# --- cache hits before routing ------------------------------------------------------------------
# ``GET /v1/recommend`` answered from this process's L1 cache before FastAPI routes the request
# (installed by the server app from ``plugins.MIDDLEWARE``). A hit is a dict lookup, but going
# through FastAPI costs far more: matching ~75 routes, solving the dependencies, validating the query
# and eight middleware layers (about 0.5 ms of the GIL per request, measured with py-spy, against
# ~0.1 ms here). This ASGI middleware sits inside the metrics middleware and handles only the plain
# case: the query is exactly ``user_id`` and optionally ``lat`` + ``lng`` and ``k``, each once, in the
# simple form a client sends and within the route's bounds; the list is in L1; the key passes the
# route's own dependency (scope and rate limit). Anything else (a miss, an unusual or invalid query,
# a refused key) goes to the route unchanged, which answers it as always, so this adds no behaviour
# of its own. A hit is logged as served, as on the route.
PATH = "/v1/recommend"
_NUMBER = re.compile(r"-?\d{1,3}(\.\d{1,15})?")
_K = re.compile(r"\d{1,3}")
_KNOWN = frozenset({"user_id", "lat", "lng", "k"})
_ROUTE = SimpleNamespace(path=PATH)
ANSWERED = Counter("hexlake_recommend_l1_fast_total", "Cache hits of /v1/recommend answered before routing")


def plain_query(raw: bytes) -> tuple[str, float | None, float | None, int] | None:
    """(user_id, lat, lng, k) of a query the fast path may answer, or None (the route decides)."""
    try:
        pairs = parse_qsl(raw.decode("ascii"), keep_blank_values=True, strict_parsing=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        return None
    params = dict(pairs)
    if len(params) != len(pairs) or not params.keys() <= _KNOWN:
        return None
    user_id, lat_s, lng_s, k_s = params.get("user_id"), params.get("lat"), params.get("lng"), params.get("k", "10")
    if not user_id or len(user_id) > 256 or (lat_s is None) != (lng_s is None) or not _K.fullmatch(k_s):
        return None
    k = int(k_s)
    if not 1 <= k <= 100:
        return None
    if lat_s is None or lng_s is None:
        return user_id, None, None, k
    if not (_NUMBER.fullmatch(lat_s) and _NUMBER.fullmatch(lng_s)):
        return None
    lat, lng = float(lat_s), float(lng_s)
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        return None
    return user_id, lat, lng, k


class RecommendHitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        body = await self._hit(scope)
        if body is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = _ROUTE  # what the metrics middleware labels requests by
        ANSWERED.inc()
        await FastJSONResponse(body)(scope, receive, send)

    async def _hit(self, scope: Scope) -> dict[str, Any] | None:
        query = plain_query(scope["query_string"])
        if query is None:
            return None
        request = Request(scope)
        runtime = runtime_of(request)
        hit = cached_for(runtime, *query)
        if hit is None:
            return None
        try:  # the route's own check: key, scope, rate limit (a refusal is the route's to answer)
            await read_recommend_key(request)
        except HexlakeError:
            return None
        user_key, result = hit
        recommender_of(runtime).served_event(user_key, result, query[3])
        return result

