"""Lake benchmark (issue 19), one run, one data dir: marts cold build on Spark against DuckDB, the
same query on hot data (DuckDB ``raw_events``) and on the cold tier (Iceberg zstd Parquet read
through ``raw_events_all``), and backup / verify / restore of the whole data dir.

    .venv/bin/python -m bench.lake                 # 1M events (the full run)
    .venv/bin/python -m bench.lake --quick         # smoke run: 20k events
    .venv/bin/python -m bench.lake --events N [--hot-days D] [--no-spark] [--no-backup]

1. N events (1M; 20k with --quick) over the 90 days before now, straight into ``raw_events``.
2. Queries timed (best of 3) on hot data: a daily mart-like aggregate over the old days, and a
   point lookup of one user's old events.
3. ``tiers.move``: events older than D days (30) go to the lake; the move is timed.
4. The same queries on ``raw_events_all`` (the old days are now cold Parquet); the results must be
   equal to step 2's (checked), and the times are compared.

Before step 2, unless ``--no-spark``: the marts' cold build (first ``transform run`` of an empty
project) on DuckDB, then ``raw_events`` synced to an Iceberg lake and the same models built on Spark
``local[2]`` from it (``HEXLAKE_WAREHOUSE_URL=spark://…``, needs the ``spark`` extra and Java 17);
every mart is checked equal (``EXCEPT ALL`` both ways, ``as_of`` aside, doubles to 9 decimals) and
both build times are reported, with the sync time apart.

Last, unless ``--no-backup``: ``backup create``, ``verify`` and ``restore`` of the data dir (raw
events hot and cold, marts, the synced lake's catalog aside), timed.

Progress lines (time, 1-minute load average, step) go to stdout. The result file
(``bench/results/lake.json`` at 1M, ``lake_quick.json``, ``lake_<N>.json``) is written after every
part with ``"complete": false`` until the last, so a run cut short keeps what it measured; it has
the machine (``load_avg_at_start`` is read when the file is written) and the load average before
the run, after the Spark build and at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._common import write_result
from bench.transform import load, make_events
from hexlake.config import Settings
from hexlake.lake import tiers
from hexlake.runtime import Runtime
from hexlake.warehouse import get_warehouse

QUERIES = {
    "daily_by_type": (
        "SELECT CAST(ts AS DATE) AS day, event_type, count(*) AS n, count(DISTINCT user_key) AS users "
        "FROM {t} WHERE ts < CAST(? AS TIMESTAMP) GROUP BY ALL ORDER BY ALL"
    ),
    "one_user": "SELECT event_id, ts FROM {t} WHERE user_key = ? AND ts < CAST(? AS TIMESTAMP) ORDER BY ALL",
}


def best_of(cur: Any, sql: str, params: list[Any], runs: int = 3) -> tuple[float, list[Any]]:
    best, rows = float("inf"), []
    for _ in range(runs):
        t = time.perf_counter()
        rows = cur.execute(sql, params).fetchall()
        best = min(best, time.perf_counter() - t)
    return best, rows


def run_queries(cur: Any, table: str, cutoff: datetime, user: str) -> dict[str, tuple[float, list[Any]]]:
    return {
        "daily_by_type": best_of(cur, QUERIES["daily_by_type"].format(t=table), [cutoff]),
        "one_user": best_of(cur, QUERIES["one_user"].format(t=table), [user, cutoff]),
    }


def marts_cold_build(runtime: Runtime, tmp: Path, now: datetime) -> dict[str, Any]:
    """Cold build of every model on DuckDB, then on Spark from the lake; marts checked equal."""
    from hexlake.sync import SyncOptions, open_target, sync_run
    from hexlake.transform import operations
    from hexlake.transform.engine import TransformEngine

    t = time.perf_counter()
    operations.run(runtime, execution_time=now)
    duckdb_s = time.perf_counter() - t
    progress(f"duckdb cold build {duckdb_s:.1f} s; syncing raw_events to the lake")
    t = time.perf_counter()
    target = open_target(f"iceberg://{tmp / 'lake-sync'}")
    sync_run(get_warehouse(runtime), target, SyncOptions(tables=["raw_events"]))
    target.close()
    sync_s = time.perf_counter() - t
    progress(f"sync {sync_s:.1f} s; building on Spark")
    url = f"spark://local[2]?lake={tmp / 'lake-sync'}"
    engine = TransformEngine(Settings(data_dir=tmp / "spark", warehouse_url=url))
    try:
        t = time.perf_counter()
        report = engine.run(execution_time=now)
        spark_s = time.perf_counter() - t
        assert report.ok, report.error
        progress(f"spark cold build {spark_s:.1f} s; comparing marts")
        marts = compare_marts(get_warehouse(runtime), tmp / "spark" / "spark-warehouse")
    finally:
        engine.close()
    return {
        "duckdb_s": round(duckdb_s, 2),
        "spark_s": round(spark_s, 2),
        "sync_to_lake_s": round(sync_s, 2),
        "spark_over_duckdb": round(spark_s / max(duckdb_s, 1e-9), 2),
        "marts_equal": True,
        "mart_rows": marts,
    }


def backup_restore(runtime: Runtime, tmp: Path) -> dict[str, Any]:
    """``backup create``, ``verify`` and ``restore`` (into a new dir) of the data dir, timed."""
    from hexlake.serve import operations as ops

    t = time.perf_counter()
    info = ops.get("backup_create")(runtime)
    create_s = time.perf_counter() - t
    t = time.perf_counter()
    check = ops.get("backup_verify")(runtime, id=info["id"])
    verify_s = time.perf_counter() - t
    assert check["ok"], check
    t = time.perf_counter()
    ops.get("backup_restore")(runtime, id=info["id"], target=str(tmp / "restored"))
    restore_s = time.perf_counter() - t
    return {
        "rows": info["rows"],
        "files": info["files"],
        "archive_bytes": info["size"],
        "create_s": round(create_s, 2),
        "verify_s": round(verify_s, 2),
        "restore_s": round(restore_s, 2),
    }


def compare_marts(wh: Any, spark_warehouse: Path) -> dict[str, int]:
    """Every marts.* table on Spark equals DuckDB's (EXCEPT ALL both ways, ``as_of`` aside, doubles
    rounded); rows per mart.

    Spark's side is read from the Parquet files it wrote (``hexlake.warehouse.sparkmodels``, what
    ``hexlake query`` reads on Spark): no row goes through the JVM-to-Python bridge."""
    import duckdb
    import pyarrow as pa

    from hexlake.warehouse.sparkmodels import has_files, model_views, table_dir

    views = model_views(spark_warehouse)
    names = [
        r[0]
        for r in wh.cursor()
        .execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' ORDER BY 1")
        .fetchall()
    ]
    rows = {}
    for name in names:
        ours = wh.query_arrow(f"SELECT * FROM marts.{name}")
        cols = [c for c in ours.column_names if c != "as_of"]
        # doubles to 9 decimals: engines sum in different orders (AVG of 13.4s: 13.400000000000002)
        listed = ", ".join(
            f'round("{c}", 9)' if pa.types.is_floating(ours.schema.field(c).type) else f'"{c}"' for c in cols
        )
        plain = ", ".join(f'"{c}"' for c in cols)
        con = duckdb.connect()
        con.register("a", ours.select(cols))
        path = table_dir(spark_warehouse, views[f"marts.{name}"]["table"])
        if has_files(path):
            con.execute(f"CREATE VIEW b AS SELECT {plain} FROM read_parquet('{path}/*.parquet')")
        else:  # Spark wrote no file: an empty table
            con.execute("CREATE VIEW b AS SELECT * FROM a WHERE false")
        only = {
            x: con.execute(
                f"SELECT {listed} FROM {x} EXCEPT ALL SELECT {listed} FROM {y} ORDER BY 1 LIMIT 3"
            ).fetchall()
            for x, y in (("a", "b"), ("b", "a"))
        }
        assert not any(only.values()), f"marts.{name} differs (a: DuckDB, b: Spark): {only}"
        rows[name] = ours.num_rows
        con.close()
    return rows


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.1f}] {message}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--events", type=int, default=None, help="Events (default 1M).")
    ap.add_argument("--hot-days", type=int, default=30)
    ap.add_argument("--no-spark", action="store_true", help="Skip the marts cold build on Spark vs DuckDB.")
    ap.add_argument("--no-backup", action="store_true", help="Skip backup create/verify/restore.")
    args = ap.parse_args()
    n = args.events or (20_000 if args.quick else 1_000_000)
    # only the full size writes lake.json; smaller runs are smoke runs
    name = "lake" if n == 1_000_000 else "lake_quick" if args.quick else f"lake_{n}"
    tmp = Path(tempfile.mkdtemp(prefix="hexlake-bench-lake-"))
    runtime = Runtime(Settings(data_dir=tmp / "data"))
    now = datetime.now(UTC).replace(tzinfo=None, second=0, microsecond=0)
    result: dict[str, Any] = {
        "events": n,
        "hot_days": args.hot_days,
        "complete": False,
        "load_avg_before_run": [round(x, 1) for x in os.getloadavg()],
    }

    def save() -> Path:  # after every part: a run cut short still leaves what it measured
        return write_result(name, result)

    try:
        progress(f"loading {n:,} events into {tmp}")
        t = time.perf_counter()
        load(runtime, make_events(n, now - timedelta(days=90), now - timedelta(minutes=5), seed=1))
        result["load_s"] = round(time.perf_counter() - t, 2)
        if not args.no_spark:
            result["marts_cold_build"] = marts_cold_build(runtime, tmp, now)
            result["marts_cold_build"]["load_avg_after"] = [round(x, 1) for x in os.getloadavg()]
            progress(f"marts: {result['marts_cold_build']}")
            save()
        result.update(tiers_part(runtime, now, args.hot_days))
        progress(f"tiers: {result['queries']}")
        save()
        if not args.no_backup:
            progress("backup create / verify / restore")
            result["backup"] = backup_restore(runtime, tmp)
            progress(f"backup: {result['backup']}")
        result["complete"] = True
        result["load_avg_at_end"] = [round(x, 1) for x in os.getloadavg()]
        path = save()
        print(result)
        print(f"written {path}")
    finally:
        runtime.close()
        shutil.rmtree(tmp, ignore_errors=True)


def tiers_part(runtime: Runtime, now: datetime, hot_days: int) -> dict[str, Any]:
    """The two queries on hot data, the move of the old days to the cold tier, the same queries on
    ``raw_events_all`` (results checked equal)."""
    wh = get_warehouse(runtime)
    cur = wh.cursor()
    cutoff_day = tiers.cutoff_for(hot_days, now.date())
    cutoff = datetime.combine(cutoff_day, datetime.min.time())
    user = cur.execute(
        "SELECT user_key FROM raw_events WHERE ts < ? GROUP BY 1 ORDER BY count(*) DESC LIMIT 1", [cutoff]
    ).fetchone()[0]
    hot = run_queries(cur, "raw_events", cutoff, user)
    catalog = tiers.lake_catalog(runtime)
    progress(f"moving the days before {cutoff_day} to the cold tier")
    t = time.perf_counter()
    moved = tiers.move(wh, catalog, cutoff_day)
    move_s = time.perf_counter() - t
    cold = run_queries(cur, "raw_events_all", cutoff, user)
    for name in QUERIES:
        assert hot[name][1] == cold[name][1], f"{name}: cold result differs from hot"
    status = tiers.status(wh, catalog)
    catalog.engine.dispose()
    return {
        "moved_rows": moved.rows,
        "move_s": round(move_s, 3),
        "cold_files": status["cold"]["files"],
        "cold_bytes": status["cold"]["bytes"],
        "queries": {
            name: {
                "hot_s": round(hot[name][0], 4),
                "cold_s": round(cold[name][0], 4),
                "cold_over_hot": round(cold[name][0] / max(hot[name][0], 1e-9), 2),
                "rows": len(hot[name][1]),
            }
            for name in QUERIES
        },
        "equal_results": True,
    }


if __name__ == "__main__":
    main()
