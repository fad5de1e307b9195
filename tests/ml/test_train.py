"""The ranker beats popularity and random on held-out days; the registry versions, promotes and splits users."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from hexlake.errors import BadRequest, NotFound
from hexlake.ml import dataset, train
from hexlake.ml.registry import Registry, arm_for

Frames = tuple[pl.DataFrame, pl.DataFrame]


@pytest.fixture(scope="module")
def trained(frames: Frames) -> train.TrainResult:
    return train.train(dataset.build(*frames, days=12, seed=2), *frames, test_days=3, seed=2)


def test_model_beats_popularity_and_random_on_held_out_days(trained: train.TrainResult) -> None:
    m = trained.metrics
    assert m["model"]["lists"] > 50
    assert m["model"]["recall@10"] > m["popularity"]["recall@10"] + 0.1
    assert m["model"]["ndcg@10"] > m["popularity"]["ndcg@10"] + 0.1
    assert m["popularity"]["recall@10"] > m["random"]["recall@10"]
    assert m["model"]["auc"] > 0.8 and abs(m["random"]["auc"] - 0.5) < 0.1


def test_split_is_by_time(frames: Frames) -> None:
    d = dataset.build(*frames, days=6, seed=1)
    a, b = train.split(d.frame, 2)
    assert a["as_of"].max() < b["as_of"].min()  # type: ignore[operator]
    with pytest.raises(BadRequest) as e:
        train.split(d.frame, 6)
    assert e.value.field == "test_days"


def test_registry_versions_promote_and_ab(trained: train.TrainResult, tmp_path: Path) -> None:
    reg = Registry(tmp_path / "ml")
    v1 = reg.add(trained.model_text(), {"metrics": trained.metrics, "data_hash": "x", "features": []})
    v2 = reg.add(trained.model_text(), {"metrics": trained.metrics, "data_hash": "y", "features": []})
    assert (v1, v2) == ("v1", "v2")
    assert reg.state()["promoted"] is None
    gen = reg.generation()
    reg.promote(v1)
    assert reg.generation() != gen
    reg.promote(v2, arm="b", share=0.3)
    assert [(m["version"], m["promoted"], m["arm_b"]) for m in reg.list()] == [("v1", True, False),
                                                                             ("v2", False, True)]
    arms = [arm_for(f"user-{i}", reg.state()) for i in range(2000)]
    share_b = sum(1 for a, _ in arms if a == "b") / len(arms)
    assert 0.25 < share_b < 0.35
    assert all(v == ("v2" if a == "b" else "v1") for a, v in arms)
    assert arm_for("user-7", reg.state()) == arm_for("user-7", reg.state())  # stable per user
    with pytest.raises(NotFound):
        reg.promote("v9")
    with pytest.raises(NotFound):
        reg.promote("../../etc")
    with pytest.raises(BadRequest):
        reg.promote(v1, arm="b", share=1.5)
