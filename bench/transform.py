"""Transform benchmark: SQLMesh cold build and incremental run vs a hand-written DuckDB floor,
and event -> mart freshness under continuous ingest.

    .venv/bin/python -m bench.transform [--quick] [--events N] [--freshness-seconds S]

Full run (the lead's, on a quiet machine; about 3 minutes): ``.venv/bin/python -m bench.transform``.
Smoke run: ``.venv/bin/python -m bench.transform --events 100000 --freshness-seconds 20``.

1. N events (1M; 100k with --quick) generated as Arrow straight into ``raw_events``.
2. Cold build: ``hexlake.transform.operations.run`` (plan + backfill of every model).
3. A run with no new data (it still recomputes the lookback window and the as-of FULL models: the
   fixed cost of a run), its wall and CPU time, for both tiers (``all``: what ``hexlake transform
   run`` does) and for the fresh tier alone (what a load-triggered run does between as-of ticks);
   then an incremental run after 1% new events (half now, half 1-2 days late).
4. Floor: the same staging dedupe and marts as one hand-written DuckDB SQL script (CTAS).
5. Freshness: a writer thread inserts 2,000 events/s into raw_events (recording each batch's days
   like the raw loader) while the server's transform scheduler runs in its own thread, triggered by
   the loads (``transform.on_load``; no HTTP server), with the scheduler's tier (``scheduled``: the
   fresh tier every run, the as-of tier when ``transform.asof_cron`` ticked). The lag of an event
   is the end of the first run whose execution time covers it minus its event time: the lag into
   the fresh tier's marts. Runs that also rebuilt the as-of tier are counted (``asof_runs``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from bench._common import percentiles, write_result
from hexlake.config import Settings
from hexlake.runtime import Runtime
from hexlake.transform import operations, service
from hexlake.transform.marts import ASOF
from hexlake.warehouse import get_warehouse, intervals
from hexlake.warehouse.backends.duckdb import DuckDBWarehouse

TYPES = np.array(["track", "page", "login", "login_failed", "token_refresh", "signup", "identify",
                  "place_interaction", "location_ping"])
P_TYPES = np.array([0.3, 0.1, 0.08, 0.02, 0.05, 0.02, 0.03, 0.2, 0.2])
INTERACTIONS = np.array(["post", "reaction", "comment", "follow", "unfollow", "view"])
CELLS = np.array([f"89{i:013x}" for i in range(2000)])


def make_events(n: int, start: datetime, end: datetime, seed: int, id0: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    span = (end - start).total_seconds()
    ts = np.datetime64(start) + (rng.random(n) * span * 1e6).astype("timedelta64[us]")
    types = rng.choice(TYPES, n, p=P_TYPES)
    users = rng.integers(0, 50_000, n)
    places = rng.integers(0, 5_000, n)
    inter = rng.choice(INTERACTIONS, n)
    props = np.where(
        types == "place_interaction",
        np.char.add(np.char.add(np.char.add('{"place_id":"p', places.astype(str)),
                                '","interaction_type":"'), np.char.add(inter, '"}')),
        '{"method":"password","email_domain":"example.com"}')
    cell_idx = rng.integers(0, len(CELLS), n)
    located = np.isin(types, ["place_interaction", "location_ping"])
    received = ts + np.timedelta64(1, "s")
    return pa.table({
        "event_id": pa.array([f"b{seed}-{i}" for i in range(id0, id0 + n)]),
        "event_type": types, "schema_version": np.ones(n, dtype=np.int32),
        "source": rng.choice(np.array(["app", "web"]), n),
        "user_key": np.char.add("u", users.astype(str)),
        "anonymous_key": pa.nulls(n, pa.string()),
        "session_id": np.char.add(np.char.add("s", users.astype(str)),
                                  ts.astype("datetime64[D]").astype(str)),
        "ts": ts, "received_at": received, "properties": props,
        "context": np.full(n, "{}"),
        "lat": np.where(located, 52.5, np.nan), "lng": np.where(located, 13.4, np.nan),
        "accuracy_m": np.full(n, 10.0),
        "h3_r6": pa.array(np.where(located, "86" + CELLS[cell_idx % 50], np.full(n, None, dtype=object))),
        "h3_r9": pa.array(np.where(located, CELLS[cell_idx], np.full(n, None, dtype=object))),
        "h3_r12": pa.nulls(n, pa.string()), "consent": np.full(n, "{}"),
        "retention": np.full(n, "interaction"), "log_offset": np.arange(id0, id0 + n),
        "load_date": received.astype("datetime64[D]"), "loaded_at": received,
    })


def load(runtime: Runtime, table: pa.Table) -> None:
    wh = get_warehouse(runtime)
    assert isinstance(wh, DuckDBWarehouse), "the transform bench loads through DuckDB's Arrow scan"
    cur = wh.cursor()
    cur.register("incoming", table)
    cur.execute(
                "INSERT INTO raw_events SELECT event_id, event_type, schema_version, source, user_key, "
                "anonymous_key, session_id, ts, received_at, properties, context, "
                "CASE WHEN isnan(lat) THEN NULL ELSE lat END, CASE WHEN isnan(lng) THEN NULL ELSE lng END, "
                "accuracy_m, h3_r6, h3_r9, h3_r12, consent, retention, log_offset, load_date, loaded_at "
                "FROM incoming")
    cur.unregister("incoming")


FLOOR_SQL = """
CREATE OR REPLACE TABLE floor_stg AS
  SELECT * EXCLUDE (rn), CAST(ts AS DATE) AS event_date FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY received_at, log_offset) rn
    FROM raw_events) WHERE rn = 1;
CREATE OR REPLACE TABLE floor_activity AS
  SELECT event_date AS activity_date, user_key AS user_id,
         count(*) FILTER (WHERE event_type = 'login') AS login_count,
         count(DISTINCT session_id) AS session_count, count(*) AS api_calls_count,
         list_sort(list_distinct(list(event_type))) AS features_used
  FROM floor_stg WHERE user_key IS NOT NULL GROUP BY ALL;
CREATE OR REPLACE TABLE floor_dim_users AS
  SELECT user_key AS user_id, min(ts) AS created_at, max(event_date) AS last_active_date,
    CASE WHEN date_diff('day', max(event_date), current_date) >= 30 THEN 'churned'
         WHEN date_diff('day', CAST(min(ts) AS DATE), current_date) < 7 THEN 'new'
         WHEN date_diff('day', max(event_date), current_date) >= 7 THEN 'at_risk'
         ELSE 'active' END AS lifecycle_stage,
    list_sort(list_distinct(list(json_extract_string(properties, '$.method'))
      FILTER (WHERE event_type IN ('login', 'signup')))) AS auth_methods
  FROM floor_stg WHERE user_key IS NOT NULL GROUP BY ALL;
CREATE OR REPLACE TABLE floor_auth AS
  SELECT *, event_type = 'login_failed' AS is_failure FROM floor_stg
  WHERE event_type IN ('signup', 'login', 'logout', 'login_failed', 'token_refresh');
CREATE OR REPLACE TABLE floor_aggregations AS
  SELECT p AS period_type, date_trunc(p, ts) AS period_start, event_type, source, count(*) AS n,
         count(DISTINCT user_key) AS users, count(DISTINCT session_id) AS sessions
  FROM floor_stg, (VALUES ('hour'), ('day'), ('week')) v(p) GROUP BY ALL;
CREATE OR REPLACE TABLE floor_place AS
  SELECT *, json_extract_string(properties, '$.place_id') AS place_id,
         json_extract_string(properties, '$.interaction_type') AS it
  FROM floor_stg WHERE event_type = 'place_interaction';
CREATE OR REPLACE TABLE floor_engagement AS
  SELECT event_date, h3_r6, count(*) FILTER (WHERE it = 'post') AS posts,
         count(*) FILTER (WHERE it = 'reaction') AS reactions, count(*) FILTER (WHERE it = 'comment') AS comments,
         count(DISTINCT user_key) AS users
  FROM floor_place WHERE it IN ('post', 'reaction', 'comment') GROUP BY ALL;
CREATE OR REPLACE TABLE floor_heatmap AS
  SELECT date_trunc('hour', ts) AS hour, h3_r9, count(*) n, count(DISTINCT user_key) AS users
  FROM floor_stg WHERE h3_r9 IS NOT NULL GROUP BY ALL HAVING count(DISTINCT user_key) >= 5;
CREATE OR REPLACE TABLE floor_popularity AS
  WITH f AS (SELECT place_id, count(*) fc FROM (
      SELECT place_id, user_key, arg_max(it, ts) AS last_it FROM floor_place WHERE it IN ('follow', 'unfollow')
      GROUP BY ALL) WHERE last_it = 'follow' GROUP BY ALL),
  p AS (SELECT place_id, count(DISTINCT user_key) users, count(*) FILTER (WHERE it = 'post') AS posts,
        sum(CASE WHEN ts <= now()::TIMESTAMP - INTERVAL 7 DAY THEN 0 WHEN it = 'reaction' THEN 1
                 WHEN it = 'comment' THEN 2 ELSE 0 END) eng FROM floor_place GROUP BY ALL),
  e AS (SELECT p.*, coalesce(fc, 0) fc FROM p LEFT JOIN f USING (place_id) WHERE users >= 5)
  SELECT *, 0.4 * coalesce(fc / nullif(max(fc) OVER (), 0), 0)
          + 0.3 * coalesce(posts / nullif(max(posts) OVER (), 0), 0)
          + 0.3 * coalesce(eng / nullif(max(eng) OVER (), 0), 0) AS score FROM e;
CREATE OR REPLACE TABLE floor_active AS
  WITH d AS (SELECT DISTINCT activity_date FROM floor_activity)
  SELECT d.activity_date, count(DISTINCT a.user_id) FILTER (WHERE a.activity_date = d.activity_date) dau,
         count(DISTINCT a.user_id) FILTER (WHERE a.activity_date > d.activity_date - 7) wau,
         count(DISTINCT a.user_id) mau
  FROM d JOIN floor_activity a ON a.activity_date <= d.activity_date AND a.activity_date > d.activity_date - 30
  GROUP BY ALL;
"""


def floor_seconds(runtime: Runtime) -> float:
    cur = get_warehouse(runtime).cursor()
    t = time.perf_counter()
    cur.execute(FLOOR_SQL)
    return time.perf_counter() - t


def cpu_seconds() -> float:
    """CPU time of this process, all threads (DuckDB's too): comparable on a loaded machine."""
    t = os.times()
    return t.user + t.system


def freshness(runtime: Runtime, seconds: float, rate: int) -> dict[str, object]:
    """A writer loads ``rate`` events/s in batches of 100 ms, recording each batch's days like the
    raw loader; the server's transform scheduler (``on_load``: a run as soon as a load landed)
    runs in its own thread. An event's lag: end of the first run whose execution time covers its
    batch, minus the batch's time (its events are at most 50 ms older)."""
    stop = threading.Event()
    inserted: list[tuple[datetime, int]] = []  # (event time, count)
    runs: list[tuple[datetime, datetime, float]] = []  # (execution time, end, seconds)
    asof_runs: list[float] = []  # seconds of the runs that also rebuilt the as-of tier

    def writer() -> None:
        i = 0
        while not stop.is_set():
            now = datetime.utcnow()
            n = rate // 10
            batch = make_events(n, now - timedelta(milliseconds=50), now, seed=99, id0=i)
            load(runtime, batch)
            intervals.record(get_warehouse(runtime).cursor(), batch)  # what the loader does
            inserted.append((now, n))
            i += n
            time.sleep(max(0.0, 0.1 - (datetime.utcnow() - now).total_seconds()))

    def job(attempt: int) -> None:
        exec_time, t = datetime.utcnow(), time.perf_counter()
        report = operations.run(runtime, execution_time=exec_time, trigger="bench", tier="scheduled")
        runs.append((exec_time, datetime.utcnow(), time.perf_counter() - t))
        if any(e["model"] in ASOF for e in report["evaluations"]):
            asof_runs.append(runs[-1][2])

    sched = service.LoadTriggeredScheduler("transform", runtime.settings.transform.cron, job,
                                           lambda: service.newest_load(runtime), retries=1)
    th = threading.Thread(target=writer, daemon=True)
    th.start()
    sched.start()
    time.sleep(seconds)
    stop.set()
    th.join()
    sched.stop(timeout_s=600)  # lets the run in progress finish
    lags: list[float] = []
    covered = 0
    for exec_time, done, _ in runs:
        for ts, n in inserted[covered:]:
            if ts > exec_time:
                break
            lags.extend([(done - ts).total_seconds()] * n)
            covered += 1
    events = sum(n for _, n in inserted)
    return {"seconds": seconds, "target_rate": rate, "achieved_rate": round(events / seconds),
            "runs": len(runs), "run_s": percentiles([r for _, _, r in runs]), "lag_s": percentiles(lags),
            "lag_is_into": "fresh tier", "asof_cron": runtime.settings.transform.asof_cron,
            "asof_runs": len(asof_runs), "asof_run_s": [round(r, 2) for r in asof_runs],
            "events_not_yet_in_marts": events - sum(n for _, n in inserted[:covered])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="100k events, 20 s of freshness")
    ap.add_argument("--events", type=int, help="events in the warehouse (default 1M; 100k with --quick)")
    ap.add_argument("--freshness-seconds", type=float,
                    help="how long the freshness phase ingests (default 60; 20 with --quick)")
    args = ap.parse_args()
    n = args.events or (100_000 if args.quick else 1_000_000)
    fresh_s = args.freshness_seconds or (20 if args.quick else 60)
    tmp = Path(tempfile.mkdtemp(prefix="hexlake-bench-transform-"))
    runtime = Runtime(Settings(data_dir=tmp / "data"))
    try:
        now = datetime.utcnow()
        t = time.perf_counter()
        load(runtime, make_events(n, now - timedelta(days=30), now - timedelta(minutes=5), seed=1))
        load_s = time.perf_counter() - t
        t = time.perf_counter()
        operations.run(runtime, trigger="bench")
        cold = time.perf_counter() - t
        t, c = time.perf_counter(), cpu_seconds()
        operations.run(runtime, trigger="bench")
        noop, noop_cpu = time.perf_counter() - t, cpu_seconds() - c
        t, c = time.perf_counter(), cpu_seconds()
        operations.run(runtime, trigger="bench", tier="fresh")
        noop_fresh, noop_fresh_cpu = time.perf_counter() - t, cpu_seconds() - c
        now = datetime.utcnow()
        load(runtime, make_events(n // 200, now - timedelta(minutes=4), now, seed=2))
        load(runtime, make_events(n // 200, now - timedelta(days=2), now - timedelta(days=1), seed=3))
        t = time.perf_counter()
        operations.run(runtime, trigger="bench")
        incr = time.perf_counter() - t
        floor = floor_seconds(runtime)
        fresh = freshness(runtime, fresh_s, 2000)
        result = {
            "events": n, "load_arrow_s": round(load_s, 2), "cold_build_s": round(cold, 2),
            "noop_run_s": round(noop, 2), "noop_run_cpu_s": round(noop_cpu, 2),
            "noop_fresh_run_s": round(noop_fresh, 2), "noop_fresh_run_cpu_s": round(noop_fresh_cpu, 2),
            "incremental_run_s": round(incr, 2),
            "floor_duckdb_script_s": round(floor, 2),
            "cold_vs_floor_ratio": round(cold / floor, 2), "incremental_vs_floor_ratio": round(incr / floor, 2),
            "freshness": fresh, "quick": n < 1_000_000 or fresh_s < 60,
            "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
        }
        print(result)
        # a smoke run must not overwrite the full run's numbers
        write_result("transform" if not result["quick"] else "transform-smoke", result)
    finally:
        runtime.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
