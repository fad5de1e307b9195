"""ML operations the CLI calls through ``cli_common.call`` (in the server when one runs)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hexlake.errors import BadRequest, NotFound
from hexlake.runtime import Runtime


def ml_dataset(runtime: Runtime, days: int = 14, negatives: int = 4, strategy: str = "uniform", seed: int = 0,
               name: str = "latest") -> dict[str, Any]:
    """Build a training set from the warehouse and write ``<data_dir>/ml/datasets/<name>.parquet``."""
    from hexlake.ml import dataset, source

    _check_name(name)
    data = dataset.build(source.interactions(runtime), source.places(runtime), days=days, negatives=negatives,
                         strategy=strategy, seed=seed)
    path = data.write(source.ml_dir(runtime) / "datasets" / f"{name}.parquet")
    positives = int(data.frame["label"].sum()) if data.frame.height else 0
    return {"path": str(path), "rows": data.frame.height, "positives": positives,
            "negatives": data.frame.height - positives, "skipped": data.skipped, "data_hash": data.data_hash}


def ml_train(runtime: Runtime, dataset: str = "latest", test_days: int = 3, seed: int = 0,
             promote: bool = False) -> dict[str, Any]:
    """Train on a stored training set, evaluate against baselines, register (and maybe promote) it."""
    from hexlake.ml import source
    from hexlake.ml.serve import recommender

    result, meta = train_from(runtime, dataset, test_days, seed)
    reg = recommender(runtime).registry
    version = reg.add(result.model_text(), meta)
    if promote:
        ml_models_promote(runtime, version)
    return {"version": version, "promoted": promote, "metrics": result.metrics,
            "path": str(source.ml_dir(runtime) / "models" / version)}


def train_from(runtime: Runtime, dataset: str, test_days: int, seed: int) -> tuple[Any, dict[str, Any]]:
    import polars as pl

    from hexlake.ml import source, train
    from hexlake.ml.dataset import Dataset
    from hexlake.ml.features import FEATURES

    _check_name(dataset)
    path = source.ml_dir(runtime) / "datasets" / f"{dataset}.parquet"
    if not path.exists():
        raise NotFound(f"no training set {dataset!r} at {path}; run `hexlake ml dataset` first", field="dataset")
    data = Dataset(pl.read_parquet(path), 0)
    if data.frame.height == 0:
        raise BadRequest("the training set is empty: are there place interactions and places?", field="dataset")
    result = train.train(data, source.interactions(runtime), source.places(runtime), test_days=test_days, seed=seed)
    meta = {"features": list(FEATURES), "metrics": result.metrics, "data_hash": data.data_hash,
            "dataset": str(path), "params": train.PARAMS, "train_rows": result.train_rows,
            "test_rows": result.test_rows, **train.describe_split(data.frame, test_days)}
    return result, meta


def ml_models_list(runtime: Runtime) -> list[dict[str, Any]]:
    from hexlake.ml.serve import recommender

    return recommender(runtime).registry.list()


def ml_models_promote(runtime: Runtime, version: str, arm: str = "a", share: float = 0.5) -> dict[str, Any]:
    from hexlake.ml.serve import recommender, refresh_from

    rec = recommender(runtime)
    state = rec.registry.promote(version, arm=arm, share=share)
    rec.cache.clear()  # every cached list was scored by the previous model
    refresh_from(runtime)  # serve with features as of now
    return state


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_" for c in name) or len(name) > 64:
        raise BadRequest("name: letters, digits, - and _ only (at most 64)", field="name")


OPERATIONS: dict[str, Callable[..., Any]] = {
    "ml_dataset": ml_dataset, "ml_train": ml_train, "ml_models_list": ml_models_list,
    "ml_models_promote": ml_models_promote,
}

__all__ = ["OPERATIONS", "Path"]
