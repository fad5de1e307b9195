"""The fast serving path: features by lookups equal the polars joins, cache hits answered from L1 and
logged like misses, and served events flushed in batches by their own service without loss on stop."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import polars as pl
import pytest
from fastapi.testclient import TestClient

from hexlake.ml.api import user_key_of
from hexlake.ml.features import FEATURES, ServingView, Snapshot
from hexlake.ml.serve import MAX_PENDING_EVENTS, recommender
from hexlake.ml.service import MLService, ServedEventsService, flush_served
from hexlake.runtime import Runtime
from tests.ml.conftest import NOW
from tests.ml.test_recommend import _setup

Frames = tuple[pl.DataFrame, pl.DataFrame]


def _served_in_log(runtime: Runtime) -> list[bytes]:
    from hexlake.log import get_log

    batch = get_log(runtime).read("ml-fast-test", "c", 10_000)
    return [m.payload for m in batch if b"recommendation_served" in m.payload]


def test_view_matrix_equals_the_pair_feature_joins(frames: Frames) -> None:
    inter, places = frames
    # a place with no position and one with no category: "far" and no taste, as the joins say
    odd = pl.DataFrame(
        {
            "place_id": ["nowhere", "uncategorised"],
            "name": ["a", "b"],
            "category": ["cafe", None],
            "lat": [None, 1.0],
            "lng": [None, 2.0],
        }
    ).cast(places.schema)
    snap = Snapshot.at(inter, pl.concat([places, odd]), NOW)
    view = ServingView.of(snap)
    rng = random.Random(4)
    ids = [*rng.sample(places["place_id"].to_list(), 60), "nowhere", "uncategorised", "not-in-catalogue"]
    users = [*rng.sample(inter["user_key"].unique().sort().to_list(), 5), "a-new-user"]
    for user in users:
        joined = snap.pair_features(pl.DataFrame({"user_key": [user] * len(ids), "place_id": ids}))
        expected = joined.select(FEATURES).to_numpy()
        unknown = dict(zip(FEATURES, expected[-1].tolist(), strict=True))  # "not-in-catalogue"
        assert unknown["distance_km"] == 50.0 and unknown["place_interactions_30d"] == 0.0
        np.testing.assert_allclose(view.matrix(user, ids), expected, rtol=1e-12, atol=1e-12)
    assert view.matrix(users[0], []).shape == (0, len(FEATURES))


def test_view_history_is_most_visited_first(frames: Frames) -> None:
    snap = Snapshot.at(*frames, NOW)
    view = ServingView.of(snap)
    user = snap.user_place.sort("user_place_prior", descending=True)["user_key"][0]
    priors = list(view.history[user].values())
    assert priors == sorted(priors, reverse=True) and len(priors) > 1


def test_a_hit_is_logged_like_a_miss_with_its_own_id(client: TestClient, runtime: Runtime, frames: Frames) -> None:
    _setup(runtime, frames)
    first = client.get("/v1/recommend", params={"user_id": "user-00008", "k": 4}).json()
    second = client.get("/v1/recommend", params={"user_id": "user-00008", "k": 4}).json()
    assert (first["cached"], second["cached"]) == (False, True)
    assert first["items"] == second["items"] and all(i["name"] for i in second["items"])
    assert first["recommendation_id"] != second["recommendation_id"]
    assert flush_served(runtime) == 2
    payloads = _served_in_log(runtime)
    for body in (first, second):
        assert sum(body["recommendation_id"].encode() in p for p in payloads) == 1


def test_hit_answers_from_l1_without_scoring(
    client: TestClient, runtime: Runtime, frames: Frames, monkeypatch: pytest.MonkeyPatch
) -> None:
    _setup(runtime, frames)
    rec = recommender(runtime)
    client.get("/v1/recommend", params={"user_id": "user-00009", "k": 3, "lat": 1.0, "lng": 2.0})

    def no_scoring(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a cache hit must not score")

    monkeypatch.setattr(rec, "_score", no_scoring)
    body = client.get("/v1/recommend", params={"user_id": "user-00009", "k": 3, "lat": 1.0, "lng": 2.0}).json()
    assert body["cached"] is True and rec.cache.stats["l1_hits"] == 1
    # another point is another list: it misses (and would score)
    with pytest.raises(AssertionError, match="must not score"):
        client.get("/v1/recommend", params={"user_id": "user-00009", "k": 3, "lat": 1.5, "lng": 2.0})


def test_stopping_the_events_service_logs_every_waiting_event(
    client: TestClient, runtime: Runtime, frames: Frames
) -> None:
    _setup(runtime, frames)
    service = ServedEventsService(runtime, interval_s=60.0)  # no timed flush: only the one at stop
    service.start()
    bodies = [client.get("/v1/recommend", params={"user_id": f"user-{i:05d}", "k": 2}).json() for i in range(25)]
    assert service.stop(10.0)
    assert recommender(runtime).served == []
    payloads = _served_in_log(runtime)
    assert len(payloads) == 25
    assert all(any(b["recommendation_id"].encode() in p for p in payloads) for b in bodies)


def test_a_refused_flush_keeps_the_events_in_order(
    runtime: Runtime, frames: Frames, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hexlake.collect.ingest as ingest_module
    from hexlake.errors import HexlakeError

    _setup(runtime, frames)
    rec = recommender(runtime)
    result = {"items": [{"place_id": "p1", "position": 0}], "model_version": "popularity", "arm": "a", "cached": False}
    old = [rec.served_event("u1", dict(result), 1) for _ in range(3)]
    real = ingest_module.ingest

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise HexlakeError("log unavailable")

    monkeypatch.setattr(ingest_module, "ingest", refuse)
    with pytest.raises(HexlakeError):
        flush_served(runtime)
    new = rec.served_event("u1", dict(result), 1)
    assert [e["event_id"] for e in rec.served] == [e["event_id"] for e in [*old, new]]
    monkeypatch.setattr(ingest_module, "ingest", real)
    assert flush_served(runtime) == 4 and rec.served == []


def test_the_queue_is_bounded_and_counts_what_it_drops(runtime: Runtime) -> None:
    rec = recommender(runtime)
    result = {"items": [], "model_version": "popularity", "arm": "a", "cached": False}
    for _ in range(MAX_PENDING_EVENTS + 7):
        rec.served_event("u1", dict(result), 1)
    assert len(rec.served) == MAX_PENDING_EVENTS and rec.dropped_events == 7


def test_the_ml_service_flushes_served_events_every_served_flush_s(tmp_path: Any, frames: Frames) -> None:
    import time

    from hexlake.config import Settings
    from hexlake.setup import initialise
    from tests.ml.conftest import make_app

    settings = Settings(data_dir=tmp_path / "data", ml={"served_flush_s": 0.2})
    initialise(settings)
    runtime = Runtime(settings)
    try:
        _setup(runtime, frames)
        (events,) = [c for c in MLService(runtime).children if isinstance(c, ServedEventsService)]
        assert Settings(data_dir=tmp_path / "x").ml.served_flush_s == 2.0  # the default docs/ml.md gives
        events.start()
        try:
            client = TestClient(make_app(runtime))
            body = client.get("/v1/recommend", params={"user_id": "user-00001", "k": 2}).json()
            deadline = time.monotonic() + 5.0
            while not any(body["recommendation_id"].encode() in p for p in _served_in_log(runtime)):
                assert time.monotonic() < deadline, "the served event never reached the log while running"
                time.sleep(0.05)
        finally:
            assert events.stop(10.0)
    finally:
        runtime.close()


def test_erasure_forgets_the_user_in_the_view(runtime: Runtime, frames: Frames) -> None:
    _setup(runtime, frames)
    rec = recommender(runtime)
    user = user_key_of(runtime, "user-00003")
    view = rec.view
    assert view is not None and user in view.users and user in view.history
    before = view.matrix(user, list(view.history[user]))
    rec._why[b"v1|their feature values"] = ["you have been here"]
    assert rec.forget(user, delete=True) > 0
    assert rec._why == {}
    assert user not in view.users and user not in view.history and user not in view.tastes
    after = view.matrix(user, list(view.row_of)[:5])
    assert before[:, FEATURES.index("user_place_prior")].max() > 0
    assert after[:, FEATURES.index("user_place_prior")].max() == 0 and rec.forget(user, delete=False) == 0


class _CountingBooster:
    """The real booster, counting the rows it explains."""

    def __init__(self, booster: Any) -> None:
        self.booster, self.explained = booster, 0

    def predict(self, x: np.ndarray, **kwargs: Any) -> Any:
        if kwargs.get("pred_contrib"):
            self.explained += len(x)
        return self.booster.predict(x, **kwargs)


def test_rows_explained_once_give_the_same_reasons(
    client: TestClient, runtime: Runtime, frames: Frames, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.ml.test_recommend import _train_and_promote

    inter, places = _setup(runtime, frames)
    version = _train_and_promote(runtime, inter, places)
    rec = recommender(runtime)
    counting = _CountingBooster(rec._booster(version))
    monkeypatch.setitem(rec._boosters, version, counting)
    # two people the snapshot has never seen: the same candidates, the same feature rows
    first = client.get("/v1/recommend", params={"user_id": "brand-new-1", "k": 6}).json()
    assert counting.explained == 6
    second = client.get("/v1/recommend", params={"user_id": "brand-new-2", "k": 6}).json()
    assert counting.explained == 6 and second["cached"] is False
    assert [i["reasons"] for i in first["items"]] == [i["reasons"] for i in second["items"]]
    # the remembered reasons are the ones SHAP gives now
    view = rec.view
    assert view is not None
    x = view.matrix(user_key_of(runtime, "brand-new-3"), [i["place_id"] for i in first["items"]])
    direct = counting.booster.predict(x, pred_contrib=True, num_threads=1)
    from hexlake.ml.serve import _reasons

    assert [_reasons(r) for r in direct] == [i["reasons"] for i in first["items"]]
    # a known user's rows differ: explained afresh; a refresh forgets everything
    client.get("/v1/recommend", params={"user_id": "user-00003", "k": 6})
    assert counting.explained == 12
    rec.refresh(inter, places, now=NOW)
    client.get("/v1/recommend", params={"user_id": "brand-new-4", "k": 6})
    assert counting.explained == 18
