"""``hexlake ml``: training sets, training, the model registry (docs/ml.md)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from hexlake.cli_common import JsonOpt, call, emit, table

app = typer.Typer(no_args_is_help=True, help="Recommendations: training sets, models, the registry.")
models_app = typer.Typer(no_args_is_help=True, help="The model registry: list and promote versions.")
app.add_typer(models_app, name="models")


@app.command("dataset")
def dataset(
    days: Annotated[int, typer.Option(help="Label window: positives from the last N days.")] = 14,
    negatives: Annotated[int, typer.Option(help="Negatives per positive.")] = 4,
    strategy: Annotated[str, typer.Option(help="Negative sampling: uniform, popular or nearby.")] = "uniform",
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same rows).")] = 0,
    name: Annotated[str, typer.Option(help="Writes <data_dir>/ml/datasets/NAME.parquet.")] = "latest",
    as_json: JsonOpt = False,
) -> None:
    """Build a training set (positives, sampled negatives, features as of each label) as Parquet."""
    emit(call("ml_dataset", days=days, negatives=negatives, strategy=strategy, seed=seed, name=name), as_json)


@app.command("train")
def train(
    dataset: Annotated[str, typer.Option(help="Training set name (see `ml dataset --name`).")] = "latest",
    test_days: Annotated[int, typer.Option(help="Hold out the last N label days.")] = 3,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    promote: Annotated[bool, typer.Option(help="Serve the new model at once.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Train a LightGBM ranker; report recall@10, NDCG@10 and AUC against popularity and random."""
    result = call("ml_train", dataset=dataset, test_days=test_days, seed=seed, promote=promote)
    emit(result, as_json, _render_train)


def _render_train(result: dict[str, Any]) -> None:
    rows = [{"ranker": name, **{m: round(v, 4) for m, v in vals.items()}} for name, vals in result["metrics"].items()]
    table(rows, ["ranker", "recall@10", "ndcg@10", "auc", "lists"],
          title=f"model {result['version']}{' (promoted)' if result['promoted'] else ''}")


@models_app.command("list")
def models_list(as_json: JsonOpt = False) -> None:
    """Registered model versions with their metrics; which one serves."""
    rows = call("ml_models_list")
    flat = [{"version": r["version"], "created_at": r["created_at"][:19], "promoted": r["promoted"],
             "arm_b": r["arm_b"], "recall@10": round(r["metrics"]["model"]["recall@10"], 4),
             "popularity_recall@10": round(r["metrics"]["popularity"]["recall@10"], 4),
             "data_hash": r["data_hash"][:12]} for r in rows]
    emit(rows, as_json, lambda _: table(flat, ["version", "created_at", "promoted", "arm_b", "recall@10",
                                                "popularity_recall@10", "data_hash"]))


@models_app.command("promote")
def models_promote(
    version: Annotated[str, typer.Argument(help="Model version, e.g. v2.")],
    arm: Annotated[str, typer.Option(help="a: serve to everyone; b: an A/B test arm.")] = "a",
    share: Annotated[float, typer.Option(help="With --arm b: share of users (by user hash).")] = 0.5,
    as_json: JsonOpt = False,
) -> None:
    """Serve a model version (to everyone, or to a share of users as arm b)."""
    emit(call("ml_models_promote", version=version, arm=arm, share=share), as_json)
