"""``hexlake ml train``: a LightGBM LambdaRank model, a time-based split, and baselines in the same run.

The last ``test_days`` label days are held out. On them each (user, day) with positives ranks every
catalogue place the user had not touched before that day, plus the day's positives; recall@10 and
NDCG@10 are averaged over those lists for the model, for popularity (30-day interactions) and for a
random order. AUC is over the held-out sampled rows (1 positive : 4 negatives).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl

from hexlake.errors import BadRequest
from hexlake.ml.dataset import Dataset
from hexlake.ml.features import FEATURES, Snapshot
from hexlake.ml.metrics import ndcg_at, recall_at

PARAMS: dict[str, Any] = {"objective": "lambdarank", "n_estimators": 120, "learning_rate": 0.08, "num_leaves": 15,
                          "min_child_samples": 10, "subsample": 0.8, "subsample_freq": 1, "verbose": -1,
                          "n_jobs": 1}


@dataclass
class TrainResult:
    model: Any  # lightgbm.LGBMRanker
    metrics: dict[str, dict[str, float]]
    train_rows: int
    test_rows: int

    def model_text(self) -> str:
        text: str = self.model.booster_.model_to_string()
        return text


def split(frame: pl.DataFrame, test_days: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    if not isinstance(test_days, int) or isinstance(test_days, bool) or test_days < 1:
        raise BadRequest("test_days must be a whole number of at least 1", field="test_days")
    days = sorted(set(frame["as_of"].to_list()))
    if len(days) <= test_days:
        raise BadRequest(f"need more than {test_days} label days to hold out {test_days}; got {len(days)}",
                         field="test_days")
    cut = days[-test_days]
    return frame.filter(pl.col("as_of") < cut), frame.filter(pl.col("as_of") >= cut)


def train(data: Dataset, interactions: pl.DataFrame, places: pl.DataFrame, *, test_days: int = 3,
          seed: int = 0) -> TrainResult:
    import lightgbm

    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**31:
        raise BadRequest("seed must be a whole number from 0 to 2147483647", field="seed")
    frame = data.frame.sort("query_id", "label", descending=[False, True])
    train_set, test_set = split(frame, test_days)
    groups = train_set.group_by("query_id", maintain_order=True).len()["len"].to_list()
    model = lightgbm.LGBMRanker(**PARAMS, random_state=seed)
    model.fit(train_set.select(FEATURES).to_numpy(), train_set["label"].to_numpy(), group=groups)
    metrics = evaluate(model, test_set, interactions, places, seed)
    return TrainResult(model, metrics, train_set.height, test_set.height)


def evaluate(model: Any, test_set: pl.DataFrame, interactions: pl.DataFrame, places: pl.DataFrame,
             seed: int, max_lists: int = 600) -> dict[str, dict[str, float]]:
    """Ranking metrics over at most ``max_lists`` held-out (user, day) lists (a seeded sample), and AUC."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    scores: dict[str, list[tuple[float, float]]] = {"model": [], "popularity": [], "random": []}
    ids = places["place_id"].to_list()
    positives = test_set.filter(pl.col("label") == 1)
    lists = positives.select("as_of", "user_key").unique().sort("as_of", "user_key")
    if lists.height > max_lists:
        lists = lists.sample(max_lists, seed=seed).sort("as_of", "user_key")
    positives = positives.join(lists, on=["as_of", "user_key"], how="semi")
    for (as_of,), day in positives.group_by("as_of", maintain_order=True):
        snap = Snapshot.at(interactions, places, as_of)
        seen = interactions.filter(pl.col("ts") < as_of).group_by("user_key").agg(pl.col("place_id").unique())
        seen_by = {r[0]: set(r[1]) for r in seen.iter_rows()}
        for (user,), rows in day.group_by("user_key", maintain_order=True):
            relevant = set(rows["place_id"].to_list())
            cands = [p for p in ids if p not in seen_by.get(user, set()) or p in relevant]
            feats = snap.pair_features(pl.DataFrame({"user_key": [user] * len(cands), "place_id": cands}))
            ranked = {
                "model": _order(cands, model.predict(feats.select(FEATURES).to_numpy())),
                "popularity": _order(cands, feats["place_interactions_30d"].to_numpy()),
                "random": _order(cands, rng.random(len(cands))),
            }
            for name, order in ranked.items():
                scores[name].append((recall_at(order, relevant), ndcg_at(order, relevant)))
    labels = test_set["label"].to_numpy()
    auc = {"model": model.predict(test_set.select(FEATURES).to_numpy()),
           "popularity": test_set["place_interactions_30d"].to_numpy(), "random": rng.random(test_set.height)}
    out: dict[str, dict[str, float]] = {}
    for name, pairs in scores.items():
        both = len(set(labels.tolist())) == 2
        out[name] = {"recall@10": _mean([p[0] for p in pairs]), "ndcg@10": _mean([p[1] for p in pairs]),
                     "auc": float(roc_auc_score(labels, auc[name])) if both else float("nan"), "lists": len(pairs)}
    return out


def _order(cands: list[str], scores: np.ndarray) -> list[str]:
    idx = np.lexsort((np.array(cands), -scores))  # best first, ties by id: deterministic
    return [cands[i] for i in idx]


def _mean(xs: list[float]) -> float:
    return float(np.mean(xs)) if xs else 0.0


def describe_split(frame: pl.DataFrame, test_days: int) -> dict[str, str]:
    train_set, test_set = split(frame, test_days)
    last = test_set["as_of"].max()
    return {"train_until": str(train_set["as_of"].max()), "test_from": str(test_set["as_of"].min()),
            "test_until": str(last + timedelta(days=1) if last is not None else None)}  # type: ignore[operator]


__all__ = ["PARAMS", "TrainResult", "evaluate", "split", "train"]
