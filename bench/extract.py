"""Extraction benchmark (seed 004): PostgreSQL users + sessions → raw → generated staging → marts,
against a plain ``COPY … TO STDOUT`` into DuckDB in the same run; then an incremental run after 1%
of the rows changed.

    .venv/bin/python -m bench.extract [--quick] [--users N] [--sessions N]

Default 1M users and 10M sessions (--quick: 20k / 200k). Needs PostgreSQL on 127.0.0.1:5432
(user postgres, trust); a database ``hexlake_bench_extract_<pid>`` is created and dropped.
Reported: rows/s of the COPY baseline and of each hexlake step (extract = raw landing with PII
protection; transform = staging + marts), and the incremental run's time.
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

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
USERS = """
CREATE TABLE users AS SELECT i AS id, 'user' || i || '@' || (ARRAY['gmail.com','corp.io','example.org'])[1 + i % 3]
  AS email, i % 2 = 0 AS email_verified, CASE WHEN i % 5 = 0 THEN NULL ELSE 'hash' || i END AS hashed_password,
  'First' || i AS first_name, 'Last' || i AS last_name, ARRAY['email', 'google'] AS auth_methods,
  (ARRAY['email','google','apple'])[1 + i % 3] AS preferred_auth_method, i % 7 = 0 AS two_factor_enabled,
  NULL::timestamp AS account_locked_until, i % 4 AS failed_login_attempts,
  timestamp '2026-01-01' + (i % 1000) * interval '1 minute' AS last_login_at, '10.0.' || (i % 250) || '.1'
  AS last_login_ip, timestamp '2025-01-01' + (i % 365) * interval '1 day' AS created_at,
  timestamp '2026-01-01' + i * interval '1 millisecond' AS updated_at, NULL::timestamp AS deleted_at
FROM generate_series(1, %(n)s) AS i;
ALTER TABLE users ADD PRIMARY KEY (id);
"""
SESSIONS = """
CREATE TABLE sessions AS SELECT i AS id, 1 + i %% %(users)s AS user_id,
  timestamp '2026-01-01' + (i %% 100000) * interval '1 second' AS started_at,
  timestamp '2026-01-01' + i * interval '1 millisecond' AS updated_at
FROM generate_series(1, %(n)s) AS i;
ALTER TABLE sessions ADD PRIMARY KEY (id);
"""


def copy_baseline(url: str, table: str, duck: duckdb.DuckDBPyConnection, tmp: Path) -> float:
    """Seconds for COPY table TO STDOUT (CSV) → file → DuckDB table."""
    t0 = time.perf_counter()
    path = tmp / f"{table}.csv"
    with psycopg.connect(url) as conn, conn.cursor() as cur, path.open("wb") as f, \
            cur.copy(f"COPY {table} TO STDOUT (FORMAT CSV, HEADER)") as copy:
        for chunk in copy:
            f.write(chunk)
    duck.execute(f"CREATE TABLE {table} AS SELECT * FROM read_csv('{path}', header = true)")
    return time.perf_counter() - t0


def hexlake_run(rt: Runtime, url: str) -> dict[str, float]:
    t0 = time.perf_counter()
    extract(rt, url, ["users", "sessions"], cursor="updated_at", name="app", batch_size=50_000)
    t1 = time.perf_counter()
    transform.run(rt)
    return {"extract_s": t1 - t0, "transform_s": time.perf_counter() - t1}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--users", type=int)
    ap.add_argument("--sessions", type=int)
    args = ap.parse_args()
    users = args.users or (20_000 if args.quick else 1_000_000)
    sessions = args.sessions or (200_000 if args.quick else 10_000_000)
    db = f"hexlake_bench_extract_{os.getpid()}"
    url = f"postgresql://postgres@127.0.0.1:5432/{db}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    try:
        result = run(url, users, sessions)
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    print(result)
    print(write_result("extract", result))


def run(url: str, users: int, sessions: int) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(USERS.replace("%(n)s", str(users)))
        conn.execute(SESSIONS % {"n": sessions, "users": users})
    total = users + sessions
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        duck = duckdb.connect(str(tmp / "copy.duckdb"))
        copy_s = copy_baseline(url, "users", duck, tmp) + copy_baseline(url, "sessions", duck, tmp)
        duck.close()
        settings = Settings(data_dir=tmp / "data")
        initialise(settings)
        rt = Runtime(settings)
        try:
            full = hexlake_run(rt, url)
            changed_users, changed_sessions = max(1, users // 100), max(1, sessions // 100)
            with psycopg.connect(url, autocommit=True) as conn:  # 1% of the rows change
                conn.execute(f"UPDATE users SET two_factor_enabled = NOT two_factor_enabled, updated_at = "
                             f"timestamp '2027-01-01' + id * interval '1 millisecond' WHERE id <= {changed_users}")
                conn.execute(f"UPDATE sessions SET updated_at = timestamp '2027-01-01' + id * interval "
                             f"'1 millisecond' WHERE id <= {changed_sessions}")
            incremental = hexlake_run(rt, url)
        finally:
            rt.close()
    return {
        "users": users, "sessions": sessions,
        "copy_to_duckdb_s": round(copy_s, 3), "copy_rows_per_s": round(total / copy_s),
        "extract_s": round(full["extract_s"], 3), "extract_rows_per_s": round(total / full["extract_s"]),
        "transform_s": round(full["transform_s"], 3),
        "staging_marts_rows_per_s": round(total / full["transform_s"]),
        "extract_vs_copy": round(full["extract_s"] / copy_s, 2),
        "incremental_changed_rows": changed_users + changed_sessions,
        "incremental_extract_s": round(incremental["extract_s"], 3),
        "incremental_transform_s": round(incremental["transform_s"], 3),
    }


if __name__ == "__main__":
    main()
