"""Erasing a person removes them from training sets, serving features and the recommendation cache."""

from __future__ import annotations

import polars as pl
from fastapi.testclient import TestClient

from hexlake.ml import dataset
from hexlake.ml.api import user_key_of
from hexlake.ml.serve import recommender
from hexlake.ml.source import ml_dir
from hexlake.runtime import Runtime
from tests.ml.test_recommend import _setup

Frames = tuple[pl.DataFrame, pl.DataFrame]


def test_erase_removes_the_person_from_every_ml_store(client: TestClient, runtime: Runtime, frames: Frames) -> None:
    from hexlake.privacy.erase import erase

    inter, places = _setup(runtime, frames)
    gone, kept = user_key_of(runtime, "user-00003"), user_key_of(runtime, "user-00004")
    for name, seed in (("a", 1), ("b", 2)):
        dataset.build(inter, places, days=7, seed=seed).write(ml_dir(runtime) / "datasets" / f"{name}.parquet")
    for user in ("user-00003", "user-00004"):
        client.get("/v1/recommend", params={"user_id": user, "k": 5})
    rec = recommender(runtime)
    assert rec.cache.count_user(gone) == 1 and any(e["user_key"] == gone for e in rec.served)

    report = erase(runtime, "user-00003")

    layer = next(x for x in report.layers if x.layer.startswith("ml "))
    assert layer.before > 10 and layer.after == 0
    for path in (ml_dir(runtime) / "datasets").glob("*.parquet"):
        frame = pl.read_parquet(path)
        assert frame.filter(pl.col("user_key") == gone).height == 0
        assert frame.filter(pl.col("user_key") == kept).height > 0  # nobody else's rows went
        assert frame.height % 5 == 0  # whole query groups went: the ratio stays 1:4
    assert rec.cache.count_user(gone) == 0 and rec.cache.count_user(kept) == 1
    snap = rec.snapshot
    assert snap is not None and gone not in snap.user["user_key"].to_list()
    assert gone not in snap.user_place["user_key"].to_list() and kept in snap.user["user_key"].to_list()
    assert not any(e["user_key"] == gone for e in rec.served)
