"""The SQLMesh feature tables and ML marts, built on a small synthetic world (DuckDB)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from hexlake.config import Settings
from hexlake.runtime import Runtime
from tests.transform.conftest import Built, insert, now_minute
from tests.transform.events import ev, generate, to_rows, unique


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    from hexlake.transform import operations

    runtime = Runtime(Settings(data_dir=Path(tmp_path_factory.mktemp("mlfeat")) / "data"))
    t0 = now_minute()
    events = generate(t0)
    served = t0 - timedelta(hours=5)
    rec = {"recommendation_id": "rec-1", "model_version": "v1", "arm": "b", "k": 3}
    events.append(ev("r1", "recommendation_served", served, "u01", props=rec))
    events.append(ev("r2", "recommendation_served", served, "u02",
                     props={**rec, "recommendation_id": "rec-2", "model_version": "v2"}))
    click = {"place_id": "place-1", "interaction_type": "view", "context": {"recommendation_id": "rec-1"}}
    events.append(ev("c1", "place_interaction", served + timedelta(minutes=3), "u01", props=click))
    late = {**click, "context": {"recommendation_id": "rec-2"}}
    events.append(ev("c2", "place_interaction", served + timedelta(days=2), "u02", props=late))
    insert(runtime, to_rows(events))
    operations.run(runtime, execution_time=t0)
    yield Built(runtime, unique(events), t0, [])
    runtime.close()


def _dicts(world: Built, sql: str) -> list[dict[str, Any]]:
    from hexlake.warehouse import get_warehouse

    return get_warehouse(world.runtime).query_arrow(sql).to_pylist()


def test_user_features_count_windows_as_of(world: Built) -> None:
    rows = {r["user_key"]: r for r in _dicts(world, "SELECT * FROM features.user_features")}
    for user in {e["user_key"] for e in world.events if e["user_key"]}:
        inter = [e for e in world.events if e["user_key"] == user and e["event_type"] == "place_interaction"
                 and e["ts"] <= world.t0]
        want_30 = sum(1 for e in inter if e["ts"] > world.t0 - timedelta(days=30))
        want_7 = sum(1 for e in inter if e["ts"] > world.t0 - timedelta(days=7))
        assert rows[user]["interactions_30d"] == want_30, user
        assert rows[user]["interactions_7d"] == want_7, user
        assert 0 <= rows[user]["engagement_percentile"] <= 1
    top = max(rows.values(), key=lambda r: r["interactions_30d"])
    assert top["engagement_percentile"] == 1.0


def test_place_features_and_dim_places(world: Built) -> None:
    feats = {r["place_id"]: r for r in _dicts(world, "SELECT * FROM features.place_features")}
    dims = {r["place_id"]: r for r in _dicts(world, "SELECT * FROM marts.dim_places")}
    assert set(feats) == set(dims)
    for pid, row in feats.items():
        posts = [e for e in world.events if e["event_type"] == "place_interaction"
                 and e["properties"].get("place_id") == pid and e["properties"]["interaction_type"] == "post"]
        assert row["posts_total"] == len(posts)
        assert row["unique_posters"] == len({e["user_key"] for e in posts})
        # every place of the synthetic world is at one point: all others are within 500 m
        assert row["places_within_500m"] == len(dims) - 1
        assert 0 <= row["popularity_score"] <= 1 and row["trending_score"] >= 0


def test_fact_recommendations_joins_clicks_within_a_day(world: Built) -> None:
    rows = {r["recommendation_id"]: r for r in _dicts(world, "SELECT * FROM marts.fact_recommendations")}
    assert rows["rec-1"]["clicked"] == 1 and rows["rec-1"]["arm"] == "b" and rows["rec-1"]["model_version"] == "v1"
    assert rows["rec-2"]["clicked"] == 0  # its click comes two days later (after as-of too)
    ctr = _dicts(world, "SELECT model_version, AVG(clicked) AS ctr FROM marts.fact_recommendations GROUP BY 1")
    assert {r["model_version"]: r["ctr"] for r in ctr} == {"v1": 1.0, "v2": 0.0}




def test_ml_source_reads_the_staging_interactions(world: Built) -> None:
    from hexlake.ml import source

    all_rows = source.interactions(world.runtime)
    want = [e for e in world.events
            if e["event_type"] == "place_interaction" and e["user_key"] and e["ts"] <= world.t0]
    assert all_rows.height == len(want)
    assert set(all_rows.columns) == {"user_key", "place_id", "interaction_type", "rating", "ts"}
    recent = source.interactions(world.runtime, days=2)
    assert 0 < recent.height < all_rows.height
    assert recent["ts"].min() >= world.t0 - timedelta(days=2, minutes=5)  # type: ignore[operator]
