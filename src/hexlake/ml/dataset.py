"""Training sets (``hexlake ml dataset``): positives, 1:4 sampled negatives, point-in-time features.

Positives are seed 001's (visits, check-ins, saves, ratings >= 3) in the last ``days`` days, one per
user, place and day. Each positive gets exactly ``negatives`` negatives drawn from places the user
never touched (in the whole input), by ``strategy``: ``uniform``, ``popular`` (weighted by
interactions) or ``nearby`` (among the 20 nearest to the user's home as of the label). A positive
whose user has too few untouched places is left out (counted in ``skipped``) so the ratio stays
exact. Every row's features come from ``Snapshot.at(label day)``: events strictly before the
day of the label. The same inputs and seed give the same rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from hexlake.errors import BadRequest
from hexlake.ml.features import FEATURES, Snapshot, day_start, positives_filter

STRATEGIES = ("uniform", "popular", "nearby")


@dataclass
class Dataset:
    frame: pl.DataFrame
    skipped: int

    @property
    def data_hash(self) -> str:
        """sha256 of the rows (order included): the registry's training-data fingerprint."""
        return hashlib.sha256(self.frame.write_ipc(None).getvalue()).hexdigest()

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.frame.write_parquet(path, compression="zstd")
        return path


def build(interactions: pl.DataFrame, places: pl.DataFrame, *, days: int = 14, negatives: int = 4,
          strategy: str = "uniform", seed: int = 0, now: datetime | None = None) -> Dataset:
    """The training set for labels in the ``days`` days before ``now`` (default: the newest event)."""
    if strategy not in STRATEGIES:
        raise BadRequest(f"strategy must be one of {', '.join(STRATEGIES)}", field="strategy")
    _check_range("days", days, 1, 3650)
    _check_range("negatives", negatives, 1, 100)
    _check_range("seed", seed, 0, 2**63 - 1)
    interactions = interactions.filter(pl.col("user_key").is_not_null())
    if interactions.is_empty() or places.is_empty():
        return Dataset(pl.DataFrame(schema=_schema()), 0)
    end = now or interactions["ts"].max()
    assert isinstance(end, datetime)
    start = day_start(end) - timedelta(days=days - 1)
    labels = (interactions.filter(positives_filter() & (pl.col("ts") >= start) & (pl.col("ts") <= end))
              .with_columns(pl.col("ts").dt.truncate("1d").alias("as_of"))
              .group_by("user_key", "place_id", "as_of").agg(pl.col("ts").min().alias("label_ts"))
              .sort("as_of", "user_key", "place_id"))
    rng = np.random.default_rng(seed)
    touched = interactions.group_by("user_key").agg(pl.col("place_id").unique())
    touched_by = {r[0]: set(r[1]) for r in touched.iter_rows()}
    pop = interactions.group_by("place_id").agg(pl.len().alias("n"))
    weights = dict(pop.iter_rows())
    all_ids = sorted(places["place_id"].to_list())
    frames, skipped = [], 0
    for as_of, day in labels.group_by("as_of", maintain_order=True):
        when = as_of[0]
        assert isinstance(when, datetime)
        snap = Snapshot.at(interactions, places, when)
        rows, n_skip = _sample(day, snap, touched_by, weights, all_ids, rng, negatives, strategy)
        skipped += n_skip
        if rows:
            frames.append(snap.pair_features(pl.DataFrame(rows, schema=_pair_schema(), orient="row")))
    if not frames:
        return Dataset(pl.DataFrame(schema=_schema()), skipped)
    return Dataset(pl.concat(frames).select(*_schema().keys()), skipped)


def _check_range(field: str, value: int, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise BadRequest(f"{field} must be a whole number from {low} to {high}", field=field)


def _sample(day: pl.DataFrame, snap: Snapshot, touched_by: dict[str, set[str]], weights: dict[str, int],
            all_ids: list[str], rng: np.random.Generator, k: int, strategy: str) -> tuple[list[tuple], int]:
    rows: list[tuple] = []
    skipped = 0
    homes = {r[0]: (r[1], r[2]) for r in snap.user.select("user_key", "home_lat", "home_lng").iter_rows()}
    coords = {r[0]: (r[1], r[2]) for r in snap.places.select("place_id", "lat", "lng").iter_rows()}
    for user, place, as_of, label_ts in day.select("user_key", "place_id", "as_of", "label_ts").iter_rows():
        pool = [p for p in all_ids if p not in touched_by.get(user, ())]
        if len(pool) < k:
            skipped += 1
            continue
        chosen = _choose(pool, k, strategy, rng, weights, homes.get(user), coords)
        qid = f"{as_of:%Y%m%d}:{user}:{place}"
        rows.append((qid, user, place, 1, as_of, label_ts))
        rows += [(qid, user, neg, 0, as_of, label_ts) for neg in chosen]
    return rows, skipped


def _choose(pool: list[str], k: int, strategy: str, rng: np.random.Generator, weights: dict[str, int],
            home: tuple[float, float] | None, coords: dict[str, tuple[float, float]]) -> list[str]:
    if strategy == "popular":
        w = np.array([weights.get(p, 0) + 1.0 for p in pool])
        idx = rng.choice(len(pool), size=k, replace=False, p=w / w.sum())
    elif strategy == "nearby" and home is not None and home[0] is not None:
        d = np.array([(coords[p][0] - home[0]) ** 2 + (coords[p][1] - home[1]) ** 2 for p in pool])
        near = np.argsort(d, kind="stable")[: max(k, 20)]
        idx = rng.choice(near, size=k, replace=False)
    else:
        idx = rng.choice(len(pool), size=k, replace=False)
    return [pool[i] for i in sorted(int(i) for i in idx)]


def _pair_schema() -> dict[str, type[pl.DataType]]:
    return {"query_id": pl.String, "user_key": pl.String, "place_id": pl.String, "label": pl.Int8,
            "as_of": pl.Datetime, "label_ts": pl.Datetime}


def _schema() -> dict[str, type[pl.DataType]]:
    return {**_pair_schema(), **dict.fromkeys(FEATURES, pl.Float64)}


__all__ = ["STRATEGIES", "Dataset", "build"]
