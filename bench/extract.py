"""Extraction benchmark (seed 004): PostgreSQL users + sessions → raw → generated staging → marts,
against a plain ``COPY … TO STDOUT`` into DuckDB in the same run; then an incremental run after 1%
of the rows changed.

    .venv/bin/python -m bench.extract                     # full size: 1M users, 10M sessions
    .venv/bin/python -m bench.extract --quick             # smoke: 10k users, 100k sessions
    .venv/bin/python -m bench.extract --users N --sessions N

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust); a database ``hexlake_bench_extract_<pid>``
is created, seeded in SQL (``INSERT … SELECT … generate_series``: no row passes through Python) and
dropped. Reported, per step, seconds and rows/s, each next to the baseline:

* ``copy``: ``COPY <table> TO STDOUT (FORMAT CSV)`` streamed to a file, then ``read_csv`` into a DuckDB
  table: the plain way to move the rows, no PII protection, no state;
* ``extract``: ``hexlake extract`` (cursor ``updated_at``) per table: raw landing with the PII policy
  (email hashed + domain derived, password dropped + has_password, names dropped, IP hashed),
  user ids keyed, high-water mark committed with each batch;
* ``staging``: the generated ``staging.stg_app_users`` / ``stg_app_sessions`` (SCD1 over the raw
  history), from the transform run's per-model durations;
* ``marts``: the models that read the users table (``stg_extracted_users``/``_logins``,
  ``marts_core_dim_users``, ``marts_core_user_activity_daily``); ``other_models_s``: the event models
  (no events here: their fixed cost), ``transform_overhead_s``: the run outside model evaluations.

Then 1% of the users and 1% of the sessions change at the source and the same extract + transform
runs again (``incremental_*``); staging is checked equal to the source after both runs.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import psycopg

from bench._common import write_result
from hexlake.config import Settings
from hexlake.extract.operations import extract
from hexlake.runtime import Runtime
from hexlake.setup import initialise
from hexlake.transform import operations as transform
from hexlake.warehouse import get_warehouse

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DDL = """
CREATE TABLE users (id BIGINT NOT NULL, email VARCHAR(255), email_verified BOOLEAN,
  hashed_password VARCHAR(255), first_name VARCHAR(100), last_name VARCHAR(100), auth_methods TEXT[],
  preferred_auth_method VARCHAR(50), two_factor_enabled BOOLEAN, account_locked_until TIMESTAMP,
  failed_login_attempts INTEGER, last_login_at TIMESTAMP, last_login_ip VARCHAR(45), created_at TIMESTAMP,
  updated_at TIMESTAMP, deleted_at TIMESTAMP);
CREATE TABLE sessions (id BIGINT NOT NULL, user_id BIGINT, started_at TIMESTAMP, ended_at TIMESTAMP,
  user_agent VARCHAR(200), updated_at TIMESTAMP);
"""
# Keys and the cursor's index after the bulk insert (one sort each instead of 11M index updates).
INDEXES = """
ALTER TABLE users ADD PRIMARY KEY (id);
ALTER TABLE sessions ADD PRIMARY KEY (id);
CREATE INDEX ON users (updated_at);
CREATE INDEX ON sessions (updated_at);
"""
# Seeded in SQL in one statement per table (generate_series), not row by row from Python.
SEED_USERS = """
INSERT INTO users SELECT i, 'user' || i || '@' || (ARRAY['gmail.com','corp.io','example.org'])[1 + i % 3],
  i % 2 = 0, CASE WHEN i % 5 = 0 THEN NULL ELSE 'hash' || i END, 'First' || i, 'Last' || i,
  CASE WHEN i % 2 = 0 THEN ARRAY['email', 'google'] ELSE ARRAY['google'] END,
  (ARRAY['email','google','apple'])[1 + i % 3], i % 7 = 0,
  CASE WHEN i % 50 = 0 THEN timestamp '2099-01-01' END, i % 4,
  timestamp '2026-01-01' + (i % 1000) * interval '1 minute', '10.0.' || (i % 250) || '.1',
  timestamp '2025-01-01' + (i % 365) * interval '1 day', timestamp '2026-01-01' + i * interval '1 millisecond',
  CASE WHEN i % 100 = 0 THEN timestamp '2026-01-02' END
FROM generate_series(1, {n}) AS i
"""
SEED_SESSIONS = """
INSERT INTO sessions SELECT i, 1 + i % {users},
  timestamp '2026-01-01' + (i % 100000) * interval '1 second',
  timestamp '2026-01-01' + (i % 100000) * interval '1 second' + interval '15 minutes',
  'Mozilla/5.0 bench ' || (i % 20), timestamp '2026-01-01' + i * interval '1 millisecond'
FROM generate_series(1, {n}) AS i
"""
TABLES = ("users", "sessions")
#: The models that read the extracted users table (the rest read events, empty here).
USER_MARTS = ("stg_extracted_users", "stg_extracted_logins", "marts_core_dim_users", "marts_core_user_activity_daily")


def seed(url: str, users: int, sessions: int) -> float:
    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute(DDL)
        conn.execute(SEED_USERS.format(n=users))
        conn.execute(SEED_SESSIONS.format(n=sessions, users=users))
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute(INDEXES)
        conn.execute("ANALYZE users")
        conn.execute("ANALYZE sessions")
    return time.perf_counter() - t0


def copy_baseline(url: str, table: str, duck: duckdb.DuckDBPyConnection, tmp: Path) -> float:
    """Seconds for COPY table TO STDOUT (CSV) → file → DuckDB table."""
    t0 = time.perf_counter()
    path = tmp / f"{table}.csv"
    with psycopg.connect(url) as conn, conn.cursor() as cur, path.open("wb") as f, \
            cur.copy(f"COPY {table} TO STDOUT (FORMAT CSV, HEADER)") as copy:
        for chunk in copy:
            f.write(chunk)
    duck.execute(f"CREATE TABLE {table} AS SELECT * FROM read_csv('{path}', header = true)")
    path.unlink()
    return time.perf_counter() - t0


def hexlake_run(rt: Runtime, url: str) -> dict[str, Any]:
    """extract each table, then one transform run; seconds per step (staging/marts from the run's
    per-model durations)."""
    out: dict[str, Any] = {}
    for table in TABLES:
        t0, c0 = time.perf_counter(), time.process_time()
        (result,) = extract(rt, url, [table], cursor="updated_at", name="app", batch_size=50_000)
        out[f"extract_{table}_s"] = time.perf_counter() - t0
        out[f"extract_{table}_cpu_s"] = time.process_time() - c0  # this process only: not inflated by waiting
        out[f"extract_{table}_rows"] = result["rows"]
    t0 = time.perf_counter()
    report = transform.run(rt)
    out["transform_s"] = time.perf_counter() - t0
    evals = report["evaluations"]
    def seconds(names: tuple[str, ...]) -> float:
        return sum(e["duration_ms"] for e in evals if e["model"].split(".")[-1].strip('"') in names) / 1000

    out["staging_s"] = seconds(tuple(f"stg_app_{t}" for t in TABLES))
    out["marts_s"] = seconds(USER_MARTS)
    out["other_models_s"] = sum(e["duration_ms"] for e in evals) / 1000 - out["staging_s"] - out["marts_s"]
    out["models"] = {e["model"]: round(e["duration_ms"] / 1000, 3) for e in evals}
    out["transform_overhead_s"] = out["transform_s"] - sum(e["duration_ms"] for e in evals) / 1000
    return out


def check_staging(rt: Runtime, url: str) -> dict[str, Any]:
    """Staging equals the source's current state (counts that any lost or stale row would change)."""
    q = ("SELECT count(*), count(*) FILTER (WHERE two_factor_enabled), count(*) FILTER (WHERE deleted_at IS NOT NULL) "
         "FROM {}")
    with psycopg.connect(url) as conn:
        source = conn.execute(q.format("users")).fetchone()
        sessions = conn.execute("SELECT count(*), max(updated_at) FROM sessions").fetchone()
    cur = get_warehouse(rt).cursor()
    staged = cur.execute(q.format("staging.stg_app_users")).fetchone()
    staged_sessions = cur.execute("SELECT count(*), max(updated_at) FROM staging.stg_app_sessions").fetchone()
    ok = tuple(source or ()) == tuple(staged or ()) and tuple(sessions or ()) == tuple(staged_sessions or ())
    if not ok:
        raise SystemExit(f"staging differs from the source: users {staged} vs {source}, "
                         f"sessions {staged_sessions} vs {sessions}")
    return {"users_rows_two_factor_deleted": list(source or ()), "staging_equals_source": True}


def per_second(rows: int, seconds: float) -> int:
    return round(rows / seconds) if seconds > 0 else 0


def run(url: str, users: int, sessions: int) -> dict[str, Any]:
    seed_s = seed(url, users, sessions)
    total = users + sessions
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        duck = duckdb.connect(str(tmp / "copy.duckdb"))
        copy = {t: copy_baseline(url, t, duck, tmp) for t in TABLES}
        duck.close()
        settings = Settings(data_dir=tmp / "data")
        initialise(settings)
        rt = Runtime(settings)
        try:
            full = hexlake_run(rt, url)
            checked = check_staging(rt, url)
            t0 = time.perf_counter()
            with psycopg.connect(url, autocommit=True) as conn:  # 1% of the rows change, spread over the ids
                conn.execute("UPDATE users SET two_factor_enabled = NOT two_factor_enabled, last_login_at = "
                             "timestamp '2026-06-01' + id * interval '1 second', updated_at = timestamp "
                             "'2027-01-01' + id * interval '1 millisecond' WHERE id % 100 = 37")
                conn.execute("UPDATE sessions SET ended_at = ended_at + interval '1 hour', updated_at = "
                             "timestamp '2027-01-01' + id * interval '1 millisecond' WHERE id % 100 = 37")
            change_s = time.perf_counter() - t0
            incremental = hexlake_run(rt, url)
            check_staging(rt, url)
        finally:
            rt.close()
    copy_s = sum(copy.values())
    extract_s = full["extract_users_s"] + full["extract_sessions_s"]
    extract_cpu = full["extract_users_cpu_s"] + full["extract_sessions_cpu_s"]
    changed = incremental["extract_users_rows"] + incremental["extract_sessions_rows"]
    expected = (users + 63) // 100 + (sessions + 63) // 100  # ids with id % 100 = 37
    if changed != expected:
        raise SystemExit(f"the incremental run landed {changed} rows, {expected} changed")
    return {
        "users": users, "sessions": sessions, "full_size": users >= 1_000_000 and sessions >= 10_000_000,
        "seed_s": round(seed_s, 2), "seed_rows_per_s": per_second(total, seed_s),
        "steps": {
            "copy_to_duckdb": {"s": round(copy_s, 3), "rows_per_s": per_second(total, copy_s),
                               **{f"{t}_rows_per_s": per_second(users if t == "users" else sessions, s)
                                  for t, s in copy.items()}},
            "extract": {"s": round(extract_s, 3), "rows_per_s": per_second(total, extract_s),
                        "users_rows_per_s": per_second(users, full["extract_users_s"]),
                        "sessions_rows_per_s": per_second(sessions, full["extract_sessions_s"]),
                        "cpu_s": round(extract_cpu, 3), "rows_per_cpu_s": per_second(total, extract_cpu),
                        "vs_copy": round(extract_s / copy_s, 2)},
            "staging": {"s": round(full["staging_s"], 3), "rows_per_s": per_second(total, full["staging_s"]),
                        "vs_copy": round(full["staging_s"] / copy_s, 2)},
            "marts": {"s": round(full["marts_s"], 3), "users_rows_per_s": per_second(users, full["marts_s"]),
                      "vs_copy": round(full["marts_s"] / copy_s, 2)},
            "other_models_s": round(full["other_models_s"], 3),
            "transform_overhead_s": round(full["transform_overhead_s"], 3),
            "extract_staging_marts_s": round(extract_s + full["transform_s"], 3),
            "end_to_end_vs_copy": round((extract_s + full["transform_s"]) / copy_s, 2),
        },
        "models_s": full["models"],
        "check": checked,
        "incremental": {
            "changed_rows": changed,
            "source_update_s": round(change_s, 3),
            "extract_s": round(incremental["extract_users_s"] + incremental["extract_sessions_s"], 3),
            "staging_s": round(incremental["staging_s"], 3), "marts_s": round(incremental["marts_s"], 3),
            "transform_s": round(incremental["transform_s"], 3),
            "total_s": round(incremental["extract_users_s"] + incremental["extract_sessions_s"]
                             + incremental["transform_s"], 3),
            "models_s": incremental["models"],
        },
        "load_avg_at_end": os.getloadavg(),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smoke size: 10k users, 100k sessions")
    ap.add_argument("--users", type=int)
    ap.add_argument("--sessions", type=int)
    args = ap.parse_args()
    users = args.users or (10_000 if args.quick else 1_000_000)
    sessions = args.sessions or (100_000 if args.quick else 10_000_000)
    db = f"hexlake_bench_extract_{os.getpid()}"
    url = f"postgresql://postgres@127.0.0.1:5432/{db}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    started, load = time.perf_counter(), os.getloadavg()
    try:
        result = run(url, users, sessions)
        result["load_avg_before_run"] = load  # machine.load_avg_at_start is taken when the result is written
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    result["bench_wall_s"] = round(time.perf_counter() - started, 1)
    print(result)
    print(write_result("extract", result))


if __name__ == "__main__":
    main()
