"""Recommendations and vector search: model quality, /v1/recommend latency, embeddings, ANN vs exact.

    python -m bench.ml                 # full size (see docs/benchmarks.md for how long it takes)
    python -m bench.ml --quick         # tiny sizes: checks the script runs (bench/results/ml_quick.json)
    python -m bench.ml --only ann --ann-size 200000    # one part, another size

Parts (``--only`` takes a comma list of these names):

* ``model``: recall@10, NDCG@10 and AUC of the LightGBM ranker against popularity and random on the
  demo world's held-out days (the demo's taste structure), as they come out;
* ``recommend``: /v1/recommend over HTTP against a `hexlake serve` subprocess (the demo world sent
  through the API, the marts built, a model promoted) with extra places registered near every city,
  so each request scores ~200+ candidates (the response's ``candidates``, reported): p50/p95/p99 on
  a cache miss (a new user/point each request) and on a hit (the same request again), against the
  targets of issue 17 (miss p99 <= 15 ms, hit p99 <= 2 ms), for each server configuration in
  ``LAYOUTS`` (DuckDB; the server restarted on the same data dir for each) and ``SCALE_OUT`` (a
  PostgreSQL database of its own and ``hexlake worker --only loader,transform`` beside the server);
* ``embeddings``: all-MiniLM-L6-v2 on this machine's CPU (texts/s, batches of 64);
* ``ann``: usearch HNSW (the in-process index of a DuckDB warehouse, ``vectors.AnnIndex`` built on
  every core as ``PlaceVectors`` builds it) query latency and recall@10 against exact search (numpy
  brute force) over the same vectors in the same run: ``--ann-size`` clustered unit vectors of 384
  dims (1M = 1.5 GB of float32; the build is timed and is nearly all of the part's time), then the
  same queries at the ``--ann-sweep`` ef values on the same build; ``--ann-data uniform`` for HNSW's
  worst case. Alone, it writes ``ml_ann_<size>.json`` (``python -m bench.ml --only ann``: 1M,
  ≈ 10 min on a quiet 2-core box);
* ``pgvector``: the same on PostgreSQL's pgvector HNSW (the index of a PostgreSQL warehouse), in a
  database of its own made and dropped by the run (``--pg-size`` vectors; needs pgvector, see
  scripts/ensure-debian-deps.sh).

Each part records its wall time and the load average after it; machine info and the load average at
the start are in the result (bench/_common.py).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench._common import free_port, percentiles, start_server, write_result

DIM = 384
PARTS = ("model", "recommend", "embeddings", "ann", "pgvector")
TARGETS_MS = {"miss_p99": 15.0, "hit_p99": 2.0}


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
    return {
        "users": users,
        "days": days,
        "interactions": inter.height,
        "rows": data.frame.height,
        "dataset_s": round(built, 2),
        "train_and_eval_s": round(time.perf_counter() - t - built, 2),
        "metrics": result.metrics,
    }


#: The server configurations ``recommend`` measures, one after another on the same data dir:
#: ``defaults``: every background service in the server process, as ``hexlake serve`` starts; each
#: response is an event, so the served events' loads trigger SQLMesh runs in the same process (the
#: fresh tier, ~1.5 s of mostly-Python work each), which share the server's GIL and both cores.
#: ``no_transform``: the transform scheduler off in the server and no transform anywhere (the marts
#: stay as built); the loader, stream consumers and ML service still run in the server and land the
#: served events. Both on the data dir's DuckDB warehouse.
LAYOUTS: dict[str, dict[str, str]] = {
    "no_transform": {"HEXLAKE_TRANSFORM__SCHEDULER_ENABLED": "false"},
    "defaults": {},
}
#: The serving deployment of docs/scale-out.md, on a PostgreSQL warehouse (a database of its own):
#: the server with its transform scheduler off, and ``hexlake worker --only loader,transform`` beside
#: it running the transform on every load (the served events' too). The worker is kept to core 1,
#: standing in for another machine; ``scale_out_pinned`` also keeps the server (and this client) on
#: core 0, as docs/operations.md suggests for a latency-sensitive server.
SCALE_OUT: dict[str, set[int] | None] = {"scale_out": None, "scale_out_pinned": {0}}
#: After warm-up, wait for the server's ``gc`` service to freeze the warm objects (every 30 s,
#: hexlake/gcpolicy.py), as any server that has run for a minute has.
SETTLE_S = 32.0


def recommend_latency(users: int, days: int, requests: int, extra_per_city: int, settle_s: float) -> dict[str, Any]:
    from hexlake.serve.client import call_remote

    out: dict[str, Any] = {"requests": requests, "client": "http.client, one keep-alive connection",
                           "settle_s": settle_s}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        proc, world, built = _recommend_world(data, {}, users, days, extra_per_city)
        out.update(built)
        try:
            for i, (layout, env) in enumerate(LAYOUTS.items()):
                proc = _restart(proc, data, env)
                out[layout] = {**_latencies(_info(data), world, requests, seed=3 + i, settle_s=settle_s), "env": env}
        finally:
            _stop(proc)
    if not {0, 1} <= os.sched_getaffinity(0):
        out["scale_out"] = "skipped: needs cores 0 and 1 (the worker on one, the server on the other)"
        return out
    with scratch_pg() as url, tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        warehouse = {"HEXLAKE_WAREHOUSE_URL": url}
        proc, world, built = _recommend_world(data, warehouse, users, days, extra_per_city)
        env = {**warehouse, "HEXLAKE_TRANSFORM__SCHEDULER_ENABLED": "false"}
        try:
            for i, (layout, cpus) in enumerate(SCALE_OUT.items()):
                proc = _restart(proc, data, env, cpus=cpus)
                worker = _start_worker(data, warehouse)
                started = datetime.now(UTC).replace(tzinfo=None).isoformat()
                try:
                    with _on_cpus(cpus):
                        result = _latencies(_info(data), world, requests, seed=5 + i, settle_s=settle_s)
                    runs = call_remote(_info(data), "transform_history", limit=10_000)
                finally:
                    _stop(worker)
                # the worker's transform did run beside the requests (the served events' loads)
                result["worker_transform_runs"] = len({r["run_id"] for r in runs if r["started_at"] >= started})
                out[layout] = {**result, "env": env, "worker": "hexlake worker --only loader,transform on core 1",
                               "server_cpus": sorted(cpus) if cpus else "any", "world": built}
        finally:
            _stop(proc)
    return out


def _recommend_world(data: Path, env: dict[str, str], users: int, days: int,
                     extra_per_city: int) -> tuple[Any, Any, dict[str, Any]]:
    """A running server on a new data dir with the demo world sent through the API, the marts built,
    a model trained and promoted and every place embedded: (server process, world, what was built)."""
    from hexlake.config import Settings
    from hexlake.demo.generate import DemoWorld
    from hexlake.demo.run import send_events, send_places, wait_for_loader
    from hexlake.serve.client import call_remote
    from hexlake.setup import initialise

    settings = Settings(data_dir=data, warehouse_url=env.get("HEXLAKE_WAREHOUSE_URL"))
    key = initialise(settings)["write_key"]
    proc = start_server(data, free_port(), env=env)
    try:
        info = _info(data)
        world = DemoWorld(users=users, days=days, seed=7, cities=4)
        send_places(info, world)
        extra = _more_places(info, world, extra_per_city)
        send_events(info, key, world)
        wait_for_loader(info)
        call_remote(info, "transform_run")
        call_remote(info, "ml_dataset", days=min(7, days - 1))
        version = call_remote(info, "ml_train", test_days=2, promote=True)["version"]
        embedded = _wait_embedded(info, f"bench-3-{extra_per_city - 1}")
    except BaseException:
        _stop(proc)
        raise
    return proc, world, {"model": version, "places": len(world.places) + extra, "places_embedded_s": embedded}


def _info(data: Path) -> Any:
    from hexlake.config import Settings
    from hexlake.serve.client import find_server

    info = find_server(Settings(data_dir=data))
    assert info is not None, f"no server on {data}"
    return info


def _restart(proc: Any, data: Path, env: dict[str, str], cpus: set[int] | None = None) -> Any:
    _stop(proc)
    return start_server(data, free_port(), env=env, cpus=cpus)


def _stop(proc: Any) -> None:
    proc.terminate()
    proc.wait(60)


def _start_worker(data: Path, env: dict[str, str]) -> Any:
    import subprocess

    return subprocess.Popen(
        [sys.executable, "-m", "hexlake", "worker", "--only", "loader,transform"],
        env={**os.environ, "HEXLAKE_DATA_DIR": str(data), "SQLMESH__DISABLE_ANONYMIZED_ANALYTICS": "1", **env},
        stdout=subprocess.DEVNULL, stderr=open(data / "worker.log", "ab"),
        preexec_fn=lambda: os.sched_setaffinity(0, {1}),
    )


@contextlib.contextmanager
def _on_cpus(cpus: set[int] | None) -> Iterator[None]:
    """This process (the client) on ``cpus`` for the block (None: unchanged)."""
    before = os.sched_getaffinity(0)
    if cpus is not None:
        os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@contextlib.contextmanager
def scratch_pg() -> Iterator[str]:
    """The URL of a new PostgreSQL database, dropped afterwards (server: ``HEXLAKE_BENCH_PG``)."""
    import psycopg

    admin = os.environ.get("HEXLAKE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"hexlake_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _more_places(info: Any, world: Any, per_city: int) -> int:
    """Places with no interactions around each city's hotspots (the demo has 40 a city), so the
    5 km nearby search returns its cap of 200 and every request scores 200+ candidates. With the
    server's admin token, as ``send_places``: a write key sends events only."""
    rng = random.Random(11)
    cities = {p.city.name: p.city for p in world.places}
    n = 0
    with httpx.Client(base_url=info.url, headers={"Authorization": f"Bearer {info.admin_token}"},
                      timeout=30) as client:
        for ci, city in enumerate(cities.values()):
            for j in range(per_city):
                lat, lng = rng.choice(city.hotspots)
                body = {
                    "id": f"bench-{ci}-{j}",
                    "name": f"{city.name} venue {j}",
                    "category": "venue",
                    "lat": lat + rng.uniform(-0.015, 0.015),
                    "lng": lng + rng.uniform(-0.015, 0.015),
                }
                resp = client.post("/v1/places", json=body)
                assert resp.status_code in (201, 409), resp.text
                n += 1
    return n


def _wait_embedded(info: Any, last_place: str, timeout_s: float = 600.0) -> float | None:
    """Wait until the server's ``ml`` service has embedded the last place registered, so the
    latencies are not measured beside a running embedding batch and include the similar-places
    candidates (vectors), as in steady state. None without ``hexlake[ml]`` (no vectors then)."""
    from hexlake.ml.embeddings import available

    if not available():
        return None
    t = time.perf_counter()
    with httpx.Client(base_url=info.url, headers={"Authorization": f"Bearer {info.admin_token}"}) as client:
        while time.perf_counter() - t < timeout_s:
            if client.get(f"/v1/places/{last_place}/similar", params={"k": 1}).status_code == 200:
                return round(time.perf_counter() - t, 1)
            time.sleep(1.0)
    raise RuntimeError(f"place {last_place} not embedded within {timeout_s:.0f} s")


class _Client:
    """GET over one keep-alive connection with the standard library: ~0.1 ms of client time per
    request, where httpx spends ~0.4 ms (measured here), which would be counted as the server's."""

    def __init__(self, url: str, token: str) -> None:
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, params: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        """(milliseconds, JSON body) of one request."""
        import json
        from urllib.parse import urlencode

        url = f"{path}?{urlencode(params)}"
        t = time.perf_counter()
        self.conn.request("GET", url, headers=self.headers)
        resp = self.conn.getresponse()
        raw = resp.read()
        ms = (time.perf_counter() - t) * 1000
        assert resp.status == 200, raw
        return ms, json.loads(raw)


def _latencies(info: Any, world: Any, requests: int, *, seed: int, settle_s: float) -> dict[str, Any]:
    rng = random.Random(seed)
    miss, hit, cands = [], [], []
    client = _Client(info.url, info.admin_token)
    for u in world.users[:5]:  # warm-up, not counted: snapshot, model and vector file loads, connection
        client.get("/v1/recommend", {"user_id": f"warm-{seed}-{u.id}", "lat": u.home[0], "lng": u.home[1]})
    client.conn.close()
    time.sleep(settle_s)
    client = _Client(info.url, info.admin_token)  # a new connection: uvicorn closes one idle for 5 s
    asked: set[tuple[str, float, float]] = set()  # the cache keys a point at ~100 m (3 decimals)
    for i in range(requests):
        u = rng.choice(world.users)
        while True:  # a miss must be one: a known user is asked again only at another point
            params = {
                "user_id": f"{u.id}-{seed}-{i}" if i % 2 else u.id,
                "lat": round(u.home[0] + rng.uniform(-0.01, 0.01), 5),
                "lng": round(u.home[1] + rng.uniform(-0.01, 0.01), 5),
                "k": 10,
            }
            cell = (str(params["user_id"]), round(float(params["lat"]), 3), round(float(params["lng"]), 3))
            if cell not in asked:
                asked.add(cell)
                break
        ms, body = client.get("/v1/recommend", params)
        assert body["cached"] is False, body
        miss.append(ms)
        ms, again = client.get("/v1/recommend", params)
        assert again["cached"] is True
        hit.append(ms)
        cands.append(body["candidates"])
    client.conn.close()
    miss_ms, hit_ms = percentiles(miss), percentiles(hit)
    return {
        "miss_ms": miss_ms,
        "hit_ms": hit_ms,
        "candidates": {
            "min": min(cands),
            "p50": percentiles([float(c) for c in cands], (50,))["p50"],
            "max": max(cands),
        },
        "targets_ms": TARGETS_MS,
        "met": {
            "miss_p99": miss_ms["p99"] <= TARGETS_MS["miss_p99"],
            "hit_p99": hit_ms["p99"] <= TARGETS_MS["hit_p99"],
        },
    }


def embedding_throughput(n: int) -> dict[str, Any]:
    from hexlake.ml.embeddings import available, embed

    if not available():
        return {"skipped": "hexlake[ml] not installed"}
    import torch

    words = ("Blue", "Old", "Corner", "City")
    kinds = ("espresso bar, cafe", "riverside park, park", "boxing gym, gym", "art museum, museum")
    texts = [f"{words[i % 4]} {kinds[(i // 4) % 4]} {i}" for i in range(n)]
    embed(texts[:64])  # load the model first
    t = time.perf_counter()
    embed(texts)
    secs = time.perf_counter() - t
    return {
        "texts": n,
        "seconds": round(secs, 2),
        "texts_per_s": round(n / secs, 1),
        "torch_threads": torch.get_num_threads(),
    }


def clustered(n: int, seed: int = 1, chunk: int = 100_000) -> np.ndarray:
    """``n`` unit vectors around 200 centres (nearer to text embeddings than uniform noise), float32,
    made in chunks: 1M x 384 float64 noise at once would need 3 GB."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(200, DIM)).astype(np.float32)
    data = np.empty((n, DIM), dtype=np.float32)
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        x = centres[rng.integers(0, 200, m)] + 0.6 * rng.normal(size=(m, DIM)).astype(np.float32)
        data[s : s + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return data


def queries_near(data: np.ndarray, n: int, seed: int = 2) -> np.ndarray:
    """Queries close to stored vectors (cosine ~0.93 to their source), as a text query lands near
    the places it describes."""
    rng = np.random.default_rng(seed)
    qs = data[rng.integers(0, len(data), n)] + 0.02 * rng.normal(size=(n, DIM)).astype(np.float32)
    return (qs / np.linalg.norm(qs, axis=1, keepdims=True)).astype(np.float32)


def exact_top10(data: np.ndarray, qs: np.ndarray, chunk: int = 64) -> list[set[int]]:
    """The true 10 nearest rows of every query (brute force, batched: one pass over data per chunk)."""
    out: list[set[int]] = []
    for s in range(0, len(qs), chunk):
        sims = data @ qs[s : s + chunk].T
        top = np.argpartition(-sims, 9, axis=0)[:10].T
        out += [set(t.tolist()) for t in top]
    return out


def exact_latency(data: np.ndarray, qs: np.ndarray) -> dict[str, float]:
    """Per-query brute force, as a request would run it (``vectors.exact_search``)."""
    from hexlake.ml.vectors import exact_search

    ms = []
    for q in qs:
        t = time.perf_counter()
        exact_search(data, q, 10)
        ms.append((time.perf_counter() - t) * 1000)
    return percentiles(ms)


def uniform(n: int, seed: int = 1, chunk: int = 100_000) -> np.ndarray:
    """``n`` unit vectors uniform on the 384-d sphere: no neighbourhood structure at all (a point's
    10 nearest are barely nearer than any other), HNSW's worst case and nothing like text embeddings."""
    rng = np.random.default_rng(seed)
    data = np.empty((n, DIM), dtype=np.float32)
    for s in range(0, n, chunk):
        x = rng.normal(size=(min(chunk, n - s), DIM)).astype(np.float32)
        data[s : s + len(x)] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return data


def ann_queries(index: Any, qs: np.ndarray, truth: list[set[int]]) -> dict[str, Any]:
    """Per-query latency (one thread, as a request runs it) and recall@10 against ``truth``."""
    ms, hits = [], 0
    for q, true in zip(qs, truth, strict=True):
        t = time.perf_counter()
        keys, _ = index.search(q, 10)
        ms.append((time.perf_counter() - t) * 1000)
        hits += len(true & set(keys.tolist()))
    return {"ms": percentiles(ms), "recall@10": round(hits / (10 * len(qs)), 4)}


def ann_vs_exact(n: int, queries: int, exact_queries: int, sweep: list[int], data_kind: str) -> dict[str, Any]:
    """The index as ``PlaceVectors`` builds and searches it (``vectors.AnnIndex``), against brute force
    over the same vectors; then the same queries at other ``expansion_search`` values (``sweep``: the
    recall/latency curve from one build, the build being nearly all of this part's time)."""
    from hexlake.ml.vectors import AnnIndex

    t = time.perf_counter()
    data = clustered(n) if data_kind == "clustered" else uniform(n)
    qs = queries_near(data, queries)
    truth = exact_top10(data, qs)
    made = time.perf_counter() - t
    threads = os.cpu_count() or 2
    t, cpu = time.perf_counter(), time.process_time()
    index = AnnIndex(DIM)
    index.add(data, threads=0)  # as PlaceVectors.ann() builds it: every core
    build, build_cpu = time.perf_counter() - t, time.process_time() - cpu
    load_after_build = os.getloadavg()
    t = time.perf_counter()  # the build's own check of every row, timed again on its own
    index.unreachable(np.arange(n, dtype=np.int64), index.matrix, 0)
    check = time.perf_counter() - t
    ann = ann_queries(index, qs, truth)
    kept, index.orphans = index.orphans, index.orphans[:0]
    graph_only = ann_queries(index, qs, truth)  # the same queries without scoring the unreachable rows
    index.orphans = kept
    curve = []
    for ef in sweep:
        index.fixed_expansion = ef
        curve.append({"expansion_search": ef, **ann_queries(index, qs, truth)})
    index.fixed_expansion = None
    data_desc = (
        "clustered: 200 centres, N(0, 0.6) per dim around each, normalised"
        if data_kind == "clustered"
        else "uniform on the sphere"
    )
    return {
        "vectors": n,
        "dim": DIM,
        "data": data_desc,
        "queries": queries,
        "query_kind": "near a stored vector (cosine ~0.93 to it)",
        "generate_and_truth_s": round(made, 1),
        "build_s": round(build, 1),
        "build_cpu_s": round(build_cpu, 1),
        "build_threads": threads,
        "unreachable_check_s": round(check, 1),  # part of build_s
        "recall@10_graph_only": graph_only["recall@10"],
        "ann_ms_graph_only": graph_only["ms"],
        "load_avg_after_build": load_after_build,
        "index": index.describe(),
        "ann_ms": ann["ms"],
        "recall@10": ann["recall@10"],
        "exact_ms": exact_latency(data, qs[:exact_queries]),
        "exact_queries_timed": min(exact_queries, queries),
        "expansion_sweep": curve,
    }


def pgvector_vs_exact(n: int, queries: int) -> dict[str, Any]:
    import psycopg

    from hexlake.ml.pgvectors import EF_SEARCH, to_text

    data = clustered(n, seed=3)
    qs = queries_near(data, queries, seed=4)
    with scratch_pg() as url, psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute(f"CREATE TABLE v (id integer PRIMARY KEY, embedding vector({DIM}) NOT NULL)")
        t = time.perf_counter()
        with conn.cursor().copy("COPY v (id, embedding) FROM STDIN") as copy:
            for i, vec in enumerate(data):
                copy.write_row((i, to_text(vec)))
        loaded = time.perf_counter() - t
        conn.execute("SET maintenance_work_mem = '2GB'")  # the graph fits: one pass, no spill
        t = time.perf_counter()
        conn.execute("CREATE INDEX ON v USING hnsw (embedding vector_cosine_ops)")
        build = time.perf_counter() - t
        conn.execute(f"SET hnsw.ef_search = {EF_SEARCH}")
        texts = [to_text(q) for q in qs]
        sql = "SELECT id FROM v ORDER BY embedding <=> %s::vector LIMIT 10"
        plan = " ".join(r[0] for r in conn.execute("EXPLAIN " + sql, (texts[0],)).fetchall())
        assert "Index Scan" in plan, plan
        ms, found = [], []
        for q in texts:
            t = time.perf_counter()
            rows = conn.execute(sql, (q,)).fetchall()
            ms.append((time.perf_counter() - t) * 1000)
            found.append({r[0] for r in rows})
    truth = exact_top10(data, qs)
    hits = sum(len(a & e) for a, e in zip(found, truth, strict=True))
    return {
        "vectors": n,
        "dim": DIM,
        "queries": queries,
        "copy_s": round(loaded, 1),
        "build_s": round(build, 1),
        "index": f"pgvector HNSW (m 16, ef_construction 64), ef_search {EF_SEARCH}, over a local socket",
        "query_ms": percentiles(ms),
        "recall@10": round(hits / (10 * queries), 4),
    }


def size_label(n: int) -> str:
    return f"{n // 1_000_000}m" if n % 1_000_000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="Tiny sizes (checks the script runs).")
    parser.add_argument("--only", default=",".join(PARTS), help=f"Comma list of parts: {', '.join(PARTS)}.")
    parser.add_argument("--ann-size", type=int, default=None, help="Vectors for the usearch part (1000000).")
    parser.add_argument(
        "--ann-data",
        choices=("clustered", "uniform"),
        default="clustered",
        help="Vectors for the usearch part: clustered (the default, as text embeddings are) or "
        "uniform on the sphere (HNSW's worst case).",
    )
    parser.add_argument(
        "--ann-sweep",
        default=None,
        help="Comma list of expansion_search values also measured on the same index "
        "(default 128,256,512,1024; 'none' for none).",
    )
    parser.add_argument("--pg-size", type=int, default=None, help="Vectors for the pgvector part (100000).")
    parser.add_argument("--requests", type=int, default=None, help="/v1/recommend requests (1000).")
    args = parser.parse_args()
    q = args.quick
    only = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = sorted(set(only) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    ann_size = args.ann_size or (20_000 if q else 1_000_000)
    sweep = (
        []
        if args.ann_sweep == "none"
        else [int(e) for e in (args.ann_sweep or ("64,256" if q else "128,256,512,1024")).split(",")]
    )
    parts: dict[str, Callable[[], dict[str, Any]]] = {
        "model": lambda: model_quality(60 if q else 2000, 10 if q else 28),
        "recommend": lambda: recommend_latency(
            40 if q else 1000, 7, args.requests or (20 if q else 1000), 60 if q else 250, 0.0 if q else SETTLE_S
        ),
        "embeddings": lambda: embedding_throughput(128 if q else 5000),
        "ann": lambda: ann_vs_exact(ann_size, 50 if q else 500, 20 if q else 100, sweep, args.ann_data),
        "pgvector": lambda: pgvector_vs_exact(args.pg_size or (5_000 if q else 100_000), 50 if q else 500),
    }
    # machine.load_avg_at_start (bench/_common.py) is read when the result is written, i.e. at the end
    out: dict[str, Any] = {"quick": q, "parts": only, "load_avg_before_run": os.getloadavg()}
    for name in only:
        t = time.perf_counter()
        out[name] = parts[name]()
        out[name].update(wall_s=round(time.perf_counter() - t, 1), load_avg_after=os.getloadavg())
        print(name, out[name], flush=True)
    out["load_avg_at_end"] = os.getloadavg()
    # a part alone or another size goes beside the full result, not over it
    partial = set(only) != set(PARTS) or any((args.ann_size, args.pg_size, args.requests, args.ann_sweep))
    name = ("ml_quick" if q else "ml") + ("_partial" if partial else "")
    if only == ["ann"]:  # e.g. ml_ann_1m.json, ml_ann_200k_uniform.json: each size keeps its own record
        name = ("ml_quick" if q else "ml") + f"_ann_{size_label(ann_size)}"
        name += "_uniform" if args.ann_data == "uniform" else ""
    print(write_result(name, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
