"""A seed 004 ``users`` table (and ``sessions``) in a source database, and the expected staging rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

USERS_DDL = (
    "CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(255), email_verified BOOLEAN, "
    "hashed_password VARCHAR(255), first_name VARCHAR(100), last_name VARCHAR(100), auth_methods TEXT[], "
    "preferred_auth_method VARCHAR(50), two_factor_enabled BOOLEAN, account_locked_until TIMESTAMP, "
    "failed_login_attempts INTEGER, last_login_at TIMESTAMP, last_login_ip VARCHAR(45), "
    "created_at TIMESTAMP, updated_at TIMESTAMP, deleted_at TIMESTAMP)"
)
USERS_COLS = ("id, email, email_verified, hashed_password, first_name, last_name, auth_methods, "
              "preferred_auth_method, two_factor_enabled, account_locked_until, failed_login_attempts, "
              "last_login_at, last_login_ip, created_at, updated_at, deleted_at")
D = datetime
USERS: list[tuple[Any, ...]] = [
    (1, "Ann@Example.com", True, "$2b$ann", "Ann", "Leeworth", ["email", "google"], "google", True, None, 0,
     D(2026, 1, 5, 9), "10.0.0.1", D(2026, 1, 1, 8), D(2026, 1, 5, 9), None),
    (2, "bob@corp.io", False, None, "Bob", "Rayburnes", ["google"], "google", False, D(2099, 1, 1), 5,
     D(2026, 1, 4, 7), "10.0.0.2", D(2026, 1, 2, 8), D(2026, 1, 4, 7), None),
    (3, "cy@example.com", True, "$2b$cy", "Cy", "Foxcroft", ["email"], "email", False, D(2020, 1, 1), 1,
     None, None, D(2026, 1, 3, 8), D(2026, 1, 3, 8), None),
]
PLAIN = ["Ann@Example.com", "ann@example.com", "bob@corp.io", "cy@example.com", "$2b$ann", "$2b$cy",
         "Leeworth", "Rayburnes", "Foxcroft", "10.0.0.1", "10.0.0.2"]
# (long enough that the scan of every file cannot match by chance: a 3-letter name once matched
# bytes of a compressed SQLMesh cache file)


def run_pg(url: str, sql: str, rows: list[tuple[Any, ...]] | None = None) -> None:
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.executemany(sql, rows) if rows else cur.execute(sql)


def create_users(url: str) -> None:
    run_pg(url, USERS_DDL)
    run_pg(url, f"INSERT INTO users ({USERS_COLS}) VALUES ({', '.join(['%s'] * 16)})", USERS)


def source_users(url: str) -> list[tuple[Any, ...]]:
    """The expected stg_<source>_users rows computed from the source's current state (seed 004's
    staging SELECT, by hand, in Python): user_id, email_domain, has_password, auth_methods,
    preferred_auth_method, two_factor_enabled, is_account_locked, failed_login_attempts, last_login_at,
    deleted flag."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(f"SELECT {USERS_COLS} FROM users ORDER BY id").fetchall()
    now = datetime.now()
    out = []
    for r in rows:
        domain = r[1].rpartition("@")[2].lower() if r[1] and "@" in r[1] else None
        out.append((r[0], domain, r[3] is not None, None if r[6] is None else sorted(r[6]), r[7], r[8],
                    bool(r[9] and r[9] > now), r[10], r[11], r[15] is not None))
    return out


STAGING_SELECT = ("SELECT user_id, email_domain, has_password, list_sort(CAST(auth_methods AS VARCHAR[])), "
                  "preferred_auth_method, two_factor_enabled, is_account_locked, failed_login_attempts, "
                  "last_login_at, _is_deleted FROM staging.stg_app_users ORDER BY user_id")
#: The same on a PostgreSQL warehouse (auth_methods is a JSON list there too; sorted as a TEXT[]).
STAGING_SELECT_PG = STAGING_SELECT.replace(
    "list_sort(CAST(auth_methods AS VARCHAR[]))",
    "ARRAY(SELECT m FROM jsonb_array_elements_text(CAST(auth_methods AS JSONB)) AS j(m) ORDER BY m)")
