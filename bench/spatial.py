"""Nearby search, heatmaps and H3 indexing, against PostGIS in the same run.

    python -m bench.spatial [--quick]

* nearby LIMIT 50 at 100k and 1M places (≈80 places/km², as in DESIGN's measured limits) for radii
  500 m and 2 km: hexlake in-process (the index) and over HTTP (uvicorn subprocess, full JSON
  places), PostGIS 3 geography + GiST over local TCP in both usual forms (ST_DWithin + ORDER BY
  ST_Distance, and nearest-first ORDER BY geog <-> q), all in sphere mode; results are checked equal;
* heatmap over N location pings in DuckDB (10M; 1M with --quick): raw_events path and mart path;
* H3 indexing rate on one core: per-point h3 loop vs vectorised polars-h3.
"""

from __future__ import annotations

import os

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # "per core" figures; must precede importing polars

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg

from bench._common import percentiles, write_result
from hexlake.config import Settings
from hexlake.runtime import Runtime
from hexlake.spatial.geo import cells_vectorised
from hexlake.spatial.heatmap import heatmap
from hexlake.spatial.index import PlaceIndex
from hexlake.spatial.places import PlacesService
from hexlake.spatial.postgis import PostgisPlaces, ensure_postgis
from hexlake.spatial.store import SqlitePlaceStore

BOX = (40.0, -74.0, 1.0, 1.32)  # lat0, lng0, dlat, dlng: ≈111 × 112 km
ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def make_places(n: int, seed: int = 1) -> tuple[list[str], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lat = BOX[0] + rng.uniform(0, BOX[2], n)
    lng = BOX[1] + rng.uniform(0, BOX[3], n)
    return [f"p{i:07d}" for i in range(n)], lat, lng


def queries(n: int, seed: int = 2) -> list[tuple[float, float]]:
    rng = np.random.default_rng(seed)  # inside the box, away from its edges
    return [(BOX[0] + 0.05 + rng.uniform(0, BOX[2] - 0.1), BOX[1] + 0.05 + rng.uniform(0, BOX[3] - 0.1))
            for _ in range(n)]


def timed(fn: Callable[[float, float], Any], qs: list[tuple[float, float]],
          cpu: dict[str, float] | None = None) -> tuple[dict[str, float], list[Any]]:
    """Wall-clock percentiles (ms); with ``cpu`` also this thread's CPU-time percentiles, which a
    loaded machine (other processes stealing the cores) does not inflate."""
    for q in qs[:50]:
        fn(*q)  # warm-up
    times, cpus, results = [], [], []
    for q in qs:
        c, t = time.thread_time(), time.perf_counter()
        results.append(fn(*q))
        times.append((time.perf_counter() - t) * 1e3)
        cpus.append((time.thread_time() - c) * 1e3)
    if cpu is not None:
        cpu.update({k: round(v, 4) for k, v in percentiles(cpus).items()})
    return {k: round(v, 4) for k, v in percentiles(times).items()}, results


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "HEXLAKE_DATA_DIR": str(data_dir), "HEXLAKE_SPATIAL__CLUSTER_INTERVAL_S": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "bench._spatial_app:create", "--factory",
                             "--port", str(port), "--log-level", "warning", "--no-access-log"],
                            env=env, cwd=Path(__file__).parent.parent)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            httpx.get(url + "/v1/places?limit=1", timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("spatial bench server did not start")


def nearby_size(n: int, nq: int, work: Path) -> dict[str, Any]:
    ids, lat, lng = make_places(n)
    t = time.perf_counter()
    index = PlaceIndex.from_arrays(ids, lat, lng, [None] * n)
    build_s = time.perf_counter() - t
    qs = queries(nq)
    out: dict[str, Any] = {"places": n, "queries": nq, "index_build_s": round(build_s, 2)}

    data_dir = work / f"data{n}"
    service = PlacesService(SqlitePlaceStore(data_dir / "places.sqlite"))
    for i in range(0, n, 50_000):
        service.upsert_many([{"id": ids[j], "name": f"place {j}", "category": None, "lat": float(lat[j]),
                              "lng": float(lng[j])} for j in range(i, min(n, i + 50_000))])
    service.close()
    server, url = start_server(data_dir)

    db = f"hexlake_bench_spatial_{os.getpid()}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}"')
        conn.execute(f'CREATE DATABASE "{db}"')
    pg_url = f"postgresql://postgres@127.0.0.1:5432/{db}"
    ensure_postgis(pg_url)
    pg = PostgisPlaces(pg_url)
    t = time.perf_counter()
    pg.load(ids, lat.tolist(), lng.tolist())
    out["postgis_load_s"] = round(time.perf_counter() - t, 1)
    try:
        with httpx.Client(base_url=url) as http:
            for radius in (500.0, 2_000.0):
                out[f"r{int(radius)}"] = one_radius(index, pg, http, qs, radius)
    finally:
        server.terminate()
        server.wait(timeout=30)
        pg.close()
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    return out


def one_radius(index: PlaceIndex, pg: PostgisPlaces, http: httpx.Client, qs: list[tuple[float, float]],
               radius: float) -> dict[str, Any]:
    res: dict[str, Any] = {}
    res["hexlake_in_process_cpu_ms"] = {}
    res["hexlake_in_process_ms"], ours = timed(lambda a, b: index.nearby(a, b, radius, 50), qs,
                                               res["hexlake_in_process_cpu_ms"])

    def over_http(a: float, b: float) -> list[str]:
        r = http.get("/v1/places/nearby", params={"lat": a, "lng": b, "radius_m": radius, "limit": 50})
        r.raise_for_status()
        return [p["id"] for p in r.json()["places"]]

    res["hexlake_http_ms"], via_http = timed(over_http, qs)
    res["postgis_dwithin_ms"], theirs = timed(lambda a, b: pg.nearby(a, b, radius, 50), qs)
    res["postgis_knn_ms"], knn = timed(lambda a, b: pg.nearby(a, b, radius, 50, knn=True), qs)
    same = sum([h.id for h in o] == [h.id for h in t] for o, t in zip(ours, theirs, strict=True))
    res["identical_to_postgis"] = f"{same}/{len(qs)}"
    res["http_identical"] = sum([h.id for h in o] == h2 for o, h2 in zip(ours, via_http, strict=True)) == len(qs)
    res["knn_identical"] = sum([h.id for h in o] == [h.id for h in k] for o, k in zip(ours, knn, strict=True))
    res["mean_found"] = round(float(np.mean([len(o) for o in ours])), 1)
    print(f"  r={radius:g}: {res}", flush=True)
    return res


def heatmap_bench(n: int, work: Path) -> dict[str, Any]:
    import pyarrow as pa

    from hexlake.spatial import warehouse as wh
    from hexlake.warehouse.schema import RAW_EVENTS_COLUMNS, RAW_EVENTS_DDL

    rt = Runtime(Settings(data_dir=work / "heat"))
    cur = wh.reader(rt).cursor()  # type: ignore[attr-defined]
    cur.execute(RAW_EVENTS_DDL)
    rng = np.random.default_rng(3)
    t = time.perf_counter()
    chunk = 1_000_000
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        lat = BOX[0] + rng.uniform(0, BOX[2], m)  # a city-sized box, uneven: half the pings near 3 centres
        lng = BOX[1] + rng.uniform(0, BOX[3], m)
        hot = rng.random(m) < 0.5
        centre = rng.integers(0, 3, m)
        lat[hot] = 40.5 + centre[hot] * 0.1 + rng.normal(0, 0.01, hot.sum())
        lng[hot] = -73.5 + centre[hot] * 0.1 + rng.normal(0, 0.01, hot.sum())
        start_ts = np.datetime64((NOW - timedelta(days=7)).replace(tzinfo=None), "us")
        ts = start_ts + (rng.uniform(0, 7 * 86400, m) * 1e6).astype("timedelta64[us]")
        cols = {
            "event_id": pa.array([f"e{start + i}" for i in range(m)]), "event_type": pa.array(["location_ping"] * m),
            "ts": pa.array(ts.astype("datetime64[us]")), "lat": lat, "lng": lng,
            "user_key": pa.array([f"u{x}" for x in rng.integers(0, 50_000, m)]),
            "h3_r9": pa.array([format(c, "x") for c in cells_vectorised(lat, lng, 9).tolist()]),
        }
        table = pa.table(cols)
        cur.register("chunk", table)
        names = [c for c, _ in RAW_EVENTS_COLUMNS]
        exprs = {"schema_version": "1", "source": "'bench'", "received_at": "ts", "load_date": "ts::DATE",
                 "loaded_at": "ts"}
        select = ", ".join(c if c in cols else exprs.get(c, "NULL") for c in names)
        cur.execute(f"INSERT INTO raw_events ({', '.join(names)}) SELECT {select} FROM chunk")
        cur.unregister("chunk")
    out: dict[str, Any] = {"pings": n, "generate_s": round(time.perf_counter() - t, 1)}
    cases = {"raw_r9_24h": (9, timedelta(hours=24)), "raw_r7_7d": (7, timedelta(days=7)),
             "raw_r9_7d": (9, timedelta(days=7))}
    for name, (res, span) in cases.items():
        out[name] = _time_heatmap(rt, res, span)
    cur.execute("CREATE TABLE heatmap_hourly AS SELECT date_trunc('hour', ts) AS hour, h3_r9, event_type, "
                "count(*) AS events, count(DISTINCT user_key) AS distinct_users FROM raw_events GROUP BY ALL")
    for name, (res, span) in {"mart_r9_24h": (9, timedelta(hours=24)), "mart_r7_7d": (7, timedelta(days=7))}.items():
        out[name] = _time_heatmap(rt, res, span)
    rt.close()
    return out


def _time_heatmap(rt: Runtime, res: int, span: timedelta) -> dict[str, Any]:
    times = []
    for _ in range(3):
        t = time.perf_counter()
        fc = heatmap(rt, res=res, start=NOW - span, end=NOW, limit=100_000, now=NOW)
        times.append(time.perf_counter() - t)
    result = {"seconds_best_of_3": round(min(times), 3), "cells": len(fc["features"]),
              "source": fc["properties"]["source"]}
    print(f"  heatmap res={res} span={span}: {result}", flush=True)
    return result


def h3_rate(n: int) -> dict[str, Any]:
    from h3.api import basic_int as h3i

    rng = np.random.default_rng(4)
    lat, lng = rng.uniform(-80, 80, n), rng.uniform(-180, 180, n)
    t = time.perf_counter()
    loop = [h3i.latlng_to_cell(a, b, 9) for a, b in zip(lat.tolist(), lng.tolist(), strict=True)]
    per_point = time.perf_counter() - t
    t = time.perf_counter()
    vec = cells_vectorised(lat, lng, 9)
    vectorised = time.perf_counter() - t
    assert vec.tolist() == loop
    return {"points": n, "per_point_loop_per_s": round(n / per_point),
            "vectorised_polars_h3_per_s": round(n / vectorised),
            "per_point_us": round(per_point / n * 1e6, 3), "vectorised_us": round(vectorised / n * 1e6, 3),
            "threads": os.environ.get("POLARS_MAX_THREADS")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (100k places, 1M pings)")
    parser.add_argument("--only", choices=["h3", "nearby", "heatmap"], action="append",
                        help="run only these parts (repeatable); the other parts of an existing "
                             "bench/results/spatial.json are kept")
    args = parser.parse_args()
    parts = set(args.only or ["h3", "nearby", "heatmap"])
    sizes = [100_000] if args.quick else [100_000, 1_000_000]
    nq = 300 if args.quick else 2_000
    result: dict[str, Any] = {"quick": args.quick, "targets": {"in_process_p95_ms_at_1M": 0.5, "http_p99_ms": 5.0}}
    if "h3" in parts:
        print("H3 indexing …", flush=True)
        result["h3_indexing"] = h3_rate(200_000 if args.quick else 1_000_000)
        print(f"  {result['h3_indexing']}", flush=True)
    with tempfile.TemporaryDirectory(prefix="hexlake-bench-spatial-") as tmp:
        work = Path(tmp)
        if "nearby" in parts:
            result["nearby"] = {}
            for n in sizes:
                print(f"nearby at {n:,} places …", flush=True)
                result["nearby"][str(n)] = nearby_size(n, nq, work)
        if "heatmap" in parts:
            print("heatmap …", flush=True)
            result["heatmap"] = heatmap_bench(1_000_000 if args.quick else 10_000_000, work)
    result["load_avg_at_end"] = os.getloadavg()
    previous = Path(__file__).parent / "results" / "spatial.json"
    if args.only and previous.exists():  # keep the parts not re-run, with when they were measured
        old = json.loads(previous.read_text())
        for part in {"h3_indexing", "nearby", "heatmap"} - set(result):
            if part in old:
                result[part] = {"measured": old.get("when"), "load_avg": old["machine"]["load_avg_at_start"],
                                **old[part]}  # an older part keeps its own date
    path = write_result("spatial", result)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
