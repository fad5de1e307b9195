"""GET /v1/recommend: popularity fallback, the promoted model with reasons, the cache and its invalidation,
served events into the log, scopes and bad input."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient

from hexlake.ml import dataset, train
from hexlake.ml.api import user_key_of
from hexlake.ml.cache import RecommendationCache
from hexlake.ml.serve import recommender
from hexlake.runtime import Runtime
from hexlake.serve.principal import Principal
from tests.ml.conftest import NOW, load_places, make_app

Frames = tuple[pl.DataFrame, pl.DataFrame]


def _setup(rt: Runtime, frames: Frames) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The world's places in the registry; interactions keyed like the gate keys them (HMAC of the id)."""
    inter, places = frames
    load_places(rt, places)
    users = inter["user_key"].unique().to_list()
    keys = {u: user_key_of(rt, u) for u in users}
    inter = inter.with_columns(pl.col("user_key").replace_strict(keys))
    recommender(rt).refresh(inter, places, now=NOW)
    return inter, places


def _train_and_promote(rt: Runtime, inter: pl.DataFrame, places: pl.DataFrame) -> str:
    result = train.train(dataset.build(inter, places, days=10, seed=1), inter, places, test_days=2)
    reg = recommender(rt).registry
    version = reg.add(result.model_text(), {"metrics": result.metrics, "data_hash": "t", "features": []})
    reg.promote(version)
    return version


def _get(client: TestClient, **params: Any) -> Any:
    return client.get("/v1/recommend", params=params)


def test_popularity_fallback_without_a_model(client: TestClient, runtime: Runtime, frames: Frames) -> None:
    _setup(runtime, frames)
    body = _get(client, user_id="user-00003", k=5).json()
    assert body["model_version"] == "popularity" and body["fallback"] == "popularity"
    assert len(body["items"]) == 5 and [i["position"] for i in body["items"]] == list(range(5))
    scores = [i["score"] for i in body["items"]]
    assert scores == sorted(scores, reverse=True)
    assert all(i["name"] and i["reasons"] for i in body["items"])
    snap, key = recommender(runtime).snapshot, user_key_of(runtime, "user-00003")
    assert snap is not None
    mine = set(snap.user_place.filter(pl.col("user_key") == key)["place_id"].to_list())
    # no lat/lng and no vectors: the candidates are the 100 most active places and the user's own
    assert body["candidates"] == len(set(recommender(runtime)._top) | mine) > len(body["items"])


def test_promoted_model_ranks_with_reasons_and_beats_history(
    client: TestClient, runtime: Runtime, frames: Frames
) -> None:
    inter, _ = _setup(runtime, frames)
    version = _train_and_promote(runtime, inter, frames[1])
    body = _get(client, user_id="user-00003", k=10).json()
    assert body["model_version"] == version and body["fallback"] is None and body["arm"] == "a"
    assert all(1 <= len(i["reasons"]) <= 2 for i in body["items"])
    # the demo's users return to their places: the model learnt that, so most of the top 5 are theirs
    key = user_key_of(runtime, "user-00003")
    theirs = set(inter.filter(pl.col("user_key") == key)["place_id"].to_list())
    assert len(theirs & {i["place_id"] for i in body["items"][:5]}) >= 3
    assert any("you have been here" in i["reasons"] for i in body["items"][:5])


def test_cache_hit_miss_and_invalidation(client: TestClient, runtime: Runtime, frames: Frames) -> None:
    inter, places = _setup(runtime, frames)
    rec = recommender(runtime)
    first = _get(client, user_id="user-00004", k=5).json()
    second = _get(client, user_id="user-00004", k=5).json()
    assert (first["cached"], second["cached"]) == (False, True)
    assert first["items"] == second["items"]
    assert _get(client, user_id="user-00004", k=6).json()["cached"] is False  # another key
    # the user's features change (new activity) -> their entries go; another user's stay
    _get(client, user_id="user-00005", k=5)
    key4 = user_key_of(runtime, "user-00004")
    more = inter.filter(pl.col("user_key") == key4).head(3).with_columns(pl.lit(NOW - timedelta(hours=1)).alias("ts"))
    changed = rec.refresh(pl.concat([inter, more]), places, now=NOW)
    assert changed >= 1
    assert _get(client, user_id="user-00004", k=5).json()["cached"] is False
    assert _get(client, user_id="user-00005", k=5).json()["cached"] is True
    # a model change: everything misses
    _train_and_promote(runtime, inter, places)
    assert _get(client, user_id="user-00005", k=5).json()["cached"] is False


def test_served_events_go_through_the_log(client: TestClient, runtime: Runtime, frames: Frames) -> None:
    from hexlake.log import get_log
    from hexlake.ml.service import flush_served

    _setup(runtime, frames)
    body = _get(client, user_id="user-00006", k=3).json()
    assert flush_served(runtime) == 1 and flush_served(runtime) == 0
    log = get_log(runtime)
    batch = log.read("ml-test", "c", 100)
    served = [m for m in batch if b"recommendation_served" in m.payload]
    assert len(served) == 1
    payload = served[0].payload
    assert body["recommendation_id"].encode() in payload and b"user-00006" not in payload  # hashed, never plain


def test_cache_ttl_and_lru() -> None:
    cache = RecommendationCache(ttl_s=0.05, max_entries=2)
    cache.put("u1|a", {"x": 1})
    assert cache.get("u1|a") == {"x": 1}
    import time

    time.sleep(0.06)
    assert cache.get("u1|a") is None
    cache = RecommendationCache(ttl_s=60, max_entries=2)
    for key in ("u1|a", "u2|a", "u1|b"):
        cache.put(key, 1)
    assert cache.get("u1|a") is None and cache.get("u2|a") == 1  # least recently used went first
    assert cache.invalidate_user("u1") == 1 and cache.get("u1|b") is None and cache.get("u2|a") == 1


@pytest.mark.services
def test_l2_redis_shared_between_processes(redis_url: str) -> None:
    import redis

    url, _, prefix = redis_url.partition("#")
    client = redis.Redis.from_url(url)
    a = RecommendationCache(redis=client, prefix=f"{prefix}:rec:")
    b = RecommendationCache(redis=client, prefix=f"{prefix}:rec:")
    a.put("uk1|x", {"items": [1]})
    assert b.get("uk1|x") == {"items": [1]} and b.stats["l2_hits"] == 1
    assert b.get("uk1|x") == {"items": [1]} and b.stats["l1_hits"] == 1
    assert a.invalidate_user("uk1") == 2  # a's L1 entry and the shared L2 entry
    c = RecommendationCache(redis=client, prefix=f"{prefix}:rec:")
    assert c.get("uk1|x") is None
    client.close()


@pytest.mark.parametrize(
    "params, field",
    [
        ({"user_id": "u", "k": 0}, "k"),
        ({"user_id": "u", "k": 1000}, "k"),
        ({"k": 3}, "user_id"),
        ({"user_id": "u", "lat": 10}, "lng"),
        ({"user_id": "u", "lat": 100, "lng": 1}, "lat"),
        ({"user_id": "u", "lat": "north", "lng": 1}, "lat"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field(client: TestClient, params: dict[str, Any], field: str) -> None:
    r = _get(client, **params)
    assert r.status_code in (400, 422), r.text
    assert field in r.text


def test_a_key_without_the_recommend_scope_is_refused(runtime: Runtime) -> None:
    places_only = Principal(key_id="k1", kind="read", name="k", apis=frozenset({"places"}))
    r = TestClient(make_app(runtime, places_only)).get("/v1/recommend", params={"user_id": "u"})
    assert r.status_code == 403 and "recommend" in r.text
    r = TestClient(make_app(runtime, places_only)).get("/v1/search/places", params={"q": "coffee"})
    assert r.status_code == 403


@pytest.mark.services
def test_the_online_stores_redis_is_the_l2(tmp_path: Any, redis_url: str) -> None:
    from hexlake.config import Settings
    from hexlake.setup import initialise

    settings = Settings(data_dir=tmp_path / "d", online_url=redis_url)
    initialise(settings)
    rt = Runtime(settings)
    try:
        cache = recommender(rt).cache
        assert cache.redis is not None and cache.prefix.startswith(redis_url.partition("#")[2])
        cache.put("k|1", {"items": []})
        assert cache.redis.get(cache.prefix + "k|1") is not None
    finally:
        rt.close()


def test_place_features_are_materialised_to_the_online_store(
    client: TestClient, runtime: Runtime, frames: Frames
) -> None:
    from hexlake.ml.service import materialise_places

    _setup(runtime, frames)
    assert materialise_places(runtime) > 50
    snap = recommender(runtime).snapshot
    assert snap is not None
    busiest = snap.place.sort("place_interactions_30d", descending=True).row(0, named=True)
    body = client.get(f"/v1/features/places/{busiest['place_id']}").json()
    assert body["features"]["place_interactions_30d"] == busiest["place_interactions_30d"]
    assert body["features"]["as_of"].startswith(str(NOW.date()))
    assert client.get("/v1/features/places/no-such-place").status_code == 404


def test_candidates_include_places_similar_to_the_users_favourites(
    client: TestClient, runtime: Runtime, frames: Frames
) -> None:
    """A quiet place whose vector matches the user's favourite becomes a candidate (and is scored)."""
    import numpy as np

    from hexlake.ml.vectors import place_vectors

    inter, places = _setup(runtime, frames)
    quiet = pl.DataFrame(
        {"place_id": [f"new-{i}" for i in range(20)], "name": "New", "category": "cafe", "lat": 0.0, "lng": 0.0}
    )  # no interactions at all: neither popular nor near
    places = pl.concat([places, quiet])
    key = user_key_of(runtime, "user-00003")
    rec = recommender(runtime)
    rec.refresh(inter, places, now=NOW)
    snap, view = rec.snapshot, rec.view
    assert snap is not None and view is not None
    fav = snap.user_place.filter(pl.col("user_key") == key).sort(
        ["user_place_prior", "place_id"], descending=[True, False]
    )["place_id"][0]
    active = set(rec._candidates(view, key, []))
    twin = next(p for p in sorted(places["place_id"].to_list()) if p not in active)
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(len(places), 16)).astype(np.float32)
    ids = places["place_id"].to_list()
    vecs[ids.index(twin)] = vecs[ids.index(fav)] + 0.01  # the twin means what the favourite means
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    place_vectors(runtime).upsert({p: p for p in ids}, vecs)
    client.get("/v1/recommend", params={"user_id": "user-00003", "k": 3})  # wires the vector index in
    assert twin in rec._candidates(view, key, [])


def test_ab_arms_serve_their_model_by_user_hash(client: TestClient, runtime: Runtime, frames: Frames) -> None:
    inter, places = _setup(runtime, frames)
    v1 = _train_and_promote(runtime, inter, places)
    v2 = _train_and_promote(runtime, inter, places)  # promoted to a; put v1 back on a, v2 on b
    reg = recommender(runtime).registry
    reg.promote(v1)
    reg.promote(v2, arm="b", share=0.5)
    seen = {}
    for i in range(30):
        body = _get(client, user_id=f"user-{i:05d}", k=2).json()
        seen[i] = (body["arm"], body["model_version"])
        assert body["model_version"] == (v2 if body["arm"] == "b" else v1)
    assert {a for a, _ in seen.values()} == {"a", "b"}
    again = _get(client, user_id="user-00007", k=3).json()  # same user, same arm every time
    assert again["arm"] == seen[7][0]
