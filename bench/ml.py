"""Recommendations and vector search: model quality, /v1/recommend latency, embeddings, ANN vs exact.

    python -m bench.ml [--quick]

* model: recall@10, NDCG@10 and AUC of the LightGBM ranker against popularity and random on the demo
  world's held-out days (the demo's taste structure), as they come out;
* /v1/recommend over HTTP (a `hexlake serve` subprocess with the demo world sent through the API, the
  marts built and a model promoted; lat/lng given so ~200 candidates are scored): p50/p95/p99 on a
  cache miss (a new user/point each request) and on a hit (the same request again);
* embedding throughput of all-MiniLM-L6-v2 on this machine's CPU (texts/s, batches of 64);
* ANN (usearch HNSW) query latency and recall@10 against exact search over the same vectors
  (1M x 384 clustered unit vectors; 20k with --quick).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench._common import free_port, percentiles, start_server, write_result


def model_quality(users: int, days: int) -> dict[str, Any]:
    from hexlake.demo.generate import DemoWorld
    from hexlake.ml import dataset, train
    from hexlake.ml.demo import world_frames

    world = DemoWorld(users=users, days=days, seed=7, now=datetime(2026, 6, 1, tzinfo=UTC), cities=4)
    inter, places = world_frames(world)
    t = time.perf_counter()
    data = dataset.build(inter, places, days=min(14, days - 2), seed=1)
    built = time.perf_counter() - t
    result = train.train(data, inter, places, test_days=3)
    return {"users": users, "days": days, "interactions": inter.height, "rows": data.frame.height,
            "dataset_s": round(built, 2), "train_and_eval_s": round(time.perf_counter() - t - built, 2),
            "metrics": result.metrics}


def recommend_latency(users: int, days: int, requests: int) -> dict[str, Any]:
    from hexlake.config import Settings
    from hexlake.demo.generate import DemoWorld
    from hexlake.demo.run import send_events, send_places, wait_for_loader
    from hexlake.serve.client import call_remote, find_server
    from hexlake.setup import initialise

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        settings = Settings(data_dir=data)
        key = initialise(settings)["write_key"]
        proc = start_server(data, free_port())
        try:
            info = find_server(settings)
            assert info is not None
            world = DemoWorld(users=users, days=days, seed=7, cities=4)
            send_places(info, key, world)
            send_events(info, key, world)
            wait_for_loader(info)
            call_remote(info, "transform_run")
            call_remote(info, "ml_dataset", days=min(7, days - 1))
            version = call_remote(info, "ml_train", test_days=2, promote=True)["version"]
            return {"model": version, **_latencies(info, world, requests)}
        finally:
            proc.terminate()
            proc.wait(30)


def _latencies(info: Any, world: Any, requests: int) -> dict[str, Any]:
    rng = random.Random(3)
    h = {"Authorization": f"Bearer {info.admin_token}"}
    miss, hit, sizes = [], [], []
    with httpx.Client(base_url=info.url, headers=h, timeout=30) as client:
        for u in world.users[:5]:  # warm-up, not counted: first model load, vector file, connection
            client.get("/v1/recommend", params={"user_id": f"warm-{u.id}", "lat": u.home[0], "lng": u.home[1]})
        for i in range(requests):
            u = rng.choice(world.users)
            params = {"user_id": f"{u.id}-{i}" if i % 2 else u.id, "lat": u.home[0] + rng.uniform(-0.01, 0.01),
                      "lng": u.home[1] + rng.uniform(-0.01, 0.01), "k": 10}
            t = time.perf_counter()
            body = client.get("/v1/recommend", params=params).json()
            miss.append((time.perf_counter() - t) * 1000)
            assert body["cached"] is False, body
            t = time.perf_counter()
            again = client.get("/v1/recommend", params=params).json()
            hit.append((time.perf_counter() - t) * 1000)
            assert again["cached"] is True
            sizes.append(len(body["items"]))
    return {"requests": requests, "miss_ms": percentiles(miss), "hit_ms": percentiles(hit),
            "note": "candidates: within 5 km (up to 200), the 100 most active, the user's own, similar to favourites"}


def embedding_throughput(n: int) -> dict[str, Any]:
    from hexlake.ml.embeddings import available, embed

    if not available():
        return {"skipped": "hexlake[ml] not installed"}
    words = ("Blue", "Old", "Corner", "City")
    kinds = ("espresso bar, cafe", "riverside park, park", "boxing gym, gym", "art museum, museum")
    texts = [f"{words[i % 4]} {kinds[(i // 4) % 4]} {i}" for i in range(n)]
    embed(texts[:64])  # load the model first
    t = time.perf_counter()
    embed(texts)
    secs = time.perf_counter() - t
    return {"texts": n, "seconds": round(secs, 2), "texts_per_s": round(n / secs, 1)}


def ann_vs_exact(n: int, dim: int = 384, queries: int = 200) -> dict[str, Any]:
    from hexlake.ml.vectors import AnnIndex, exact_search

    rng = np.random.default_rng(1)
    centres = rng.normal(size=(200, dim)).astype(np.float32)
    data = np.empty((n, dim), dtype=np.float32)
    for s in range(0, n, 100_000):  # in chunks: 1M x 384 float64 noise would need 3 GB at once
        m = min(100_000, n - s)
        x = centres[rng.integers(0, 200, m)] + 0.6 * rng.normal(size=(m, dim)).astype(np.float32)
        data[s:s + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    qs = data[rng.integers(0, n, queries)] + 0.05 * rng.normal(size=(queries, dim)).astype(np.float32)
    qs /= np.linalg.norm(qs, axis=1, keepdims=True)
    t = time.perf_counter()
    index = AnnIndex(dim)
    index.index.add(np.arange(n, dtype=np.uint64), data, threads=2)
    build = time.perf_counter() - t
    ann_ms, exact_ms, hits = [], [], 0
    for q in qs:
        t = time.perf_counter()
        a, _ = index.search(q, 10)
        ann_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        e, _ = exact_search(data, q, 10)
        exact_ms.append((time.perf_counter() - t) * 1000)
        hits += len(set(a.tolist()) & set(e.tolist()))
    return {"vectors": n, "dim": dim, "build_s": round(build, 1), "ann_ms": percentiles(ann_ms),
            "exact_ms": percentiles(exact_ms), "recall@10": hits / (10 * queries)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="Tiny sizes (checks the script runs).")
    args = parser.parse_args()
    q = args.quick
    out: dict[str, Any] = {"quick": q}
    out["model"] = model_quality(60 if q else 2000, 10 if q else 28)
    print("model", out["model"]["metrics"], flush=True)
    out["recommend_http"] = recommend_latency(40 if q else 1000, 7, 20 if q else 1000)
    print("recommend", out["recommend_http"], flush=True)
    out["embeddings"] = embedding_throughput(128 if q else 5000)
    print("embeddings", out["embeddings"], flush=True)
    out["ann"] = ann_vs_exact(20_000 if q else 1_000_000, queries=50 if q else 500)
    print("ann", out["ann"], flush=True)
    print(write_result("ml_quick" if q else "ml", out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
