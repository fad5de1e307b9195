"""Erasure of one person from the ML stores (called by ``hexlake.privacy.erase``).

Training sets (``<data_dir>/ml/datasets/*.parquet``) are rewritten without the person's rows, the
vectors of their posts are dropped; their
cached recommendation lists (L1 and L2), the serving snapshot's rows and any served events still
waiting for the log are dropped. Models keep no per-person data (trees over aggregate features);
retrain (``hexlake ml dataset && hexlake ml train``) to drop their influence too.
"""

from __future__ import annotations

import os

import polars as pl

from hexlake.runtime import Runtime


def count(runtime: Runtime, user_key: str) -> int:
    from hexlake.ml.posts import post_vectors

    posts = len(post_vectors(runtime).of_author(user_key))
    return _datasets(runtime, user_key, delete=False) + _serving(runtime, user_key, delete=False) + posts


def erase(runtime: Runtime, user_key: str) -> int:
    """Remove the person everywhere in the ML stage; returns rows/entries removed."""
    from hexlake.ml.posts import post_vectors

    posts = post_vectors(runtime).drop_author(user_key)
    return _datasets(runtime, user_key, delete=True) + _serving(runtime, user_key, delete=True) + posts


def _datasets(runtime: Runtime, user_key: str, *, delete: bool) -> int:
    from hexlake.ml.source import ml_dir

    total = 0
    for path in sorted((ml_dir(runtime) / "datasets").glob("*.parquet")):
        frame = pl.read_parquet(path)
        mine = frame.filter(pl.col("user_key") == user_key).height
        total += mine
        if delete and mine:
            tmp = path.with_suffix(".parquet.tmp")
            frame.filter(pl.col("user_key") != user_key).write_parquet(tmp, compression="zstd")
            os.replace(tmp, path)
    return total


def _serving(runtime: Runtime, user_key: str, *, delete: bool) -> int:
    from hexlake.ml.serve import recommender

    return recommender(runtime).forget(user_key, delete=delete)


__all__ = ["count", "erase"]
