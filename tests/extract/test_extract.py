"""Extraction from real PostgreSQL and MariaDB databases into the warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg
import pymysql
import pytest

from hexlake.extract import ExtractOptions, PiiPolicy, extract_tables
from hexlake.extract.errors import ExtractConfigError
from hexlake.privacy.hashing import Hasher
from hexlake.warehouse import Warehouse, open_warehouse

pytestmark = pytest.mark.services

SECRET = b"s" * 32
HASHER = Hasher(SECRET)
USERS = [(1, "Ann@Example.com", "555-0101", datetime(2024, 1, 1, 10)),
         (2, "bob@example.com", "555-0102", datetime(2024, 1, 2, 10)),
         (3, "cy@example.org", None, datetime(2024, 1, 3, 10))]


class Db:
    """Run SQL on the source database (PostgreSQL or MariaDB) with %s params."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.kind = "pg" if url.startswith("postgresql") else "mysql"

    def run(self, sql: str, rows: list[tuple[Any, ...]] | None = None) -> None:
        if self.kind == "pg":
            with psycopg.connect(self.url, autocommit=True) as conn, conn.cursor() as cur:
                cur.executemany(sql, rows) if rows else cur.execute(sql)
            return
        p = urlparse(self.url)
        conn = pymysql.connect(host=p.hostname, port=p.port, user=p.username, database=p.path.strip("/"),
                               autocommit=True)
        with conn.cursor() as cur:
            cur.executemany(sql, rows) if rows else cur.execute(sql)
        conn.close()


@pytest.fixture(params=["postgresql", "mariadb"])
def source(request: pytest.FixtureRequest) -> Db:
    db = Db(request.getfixturevalue("pg_url" if request.param == "postgresql" else "mysql_url"))
    db.run("CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(100), phone VARCHAR(20), "
           "updated_at TIMESTAMP NULL)")
    db.run("INSERT INTO users VALUES (%s, %s, %s, %s)", USERS)
    return db


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    wh = open_warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}")
    yield wh
    wh.close()


def run(db: Db, wh: Warehouse, **opts: Any) -> Any:
    policy = PiiPolicy.load(None, opts.pop("pii", ["users.email=hash", "users.phone=mask"]))
    (result,) = extract_tables(db.url, wh, ["users"], ExtractOptions(name="app", **opts), policy, HASHER)
    return result


def rows(wh: Warehouse, sql: str) -> list[tuple[Any, ...]]:
    return wh.cursor().execute(sql).fetchall()


def test_extracts_into_raw_source_table_with_pii_hashed_before_landing(source: Db, warehouse: Warehouse) -> None:
    result = run(source, warehouse, cursor="updated_at")
    assert (result.raw_table, result.rows, result.high_water) == ("raw_app_users", 3, datetime(2024, 1, 3, 10))
    got = rows(warehouse, "SELECT id, email, phone, source_system FROM raw_app_users ORDER BY id")
    assert got[0] == (1, HASHER.hash_pii("ann@example.com", email=True), "***0101", "app")
    assert got[2][2] is None
    plain = rows(warehouse, "SELECT count(*) FROM raw_app_users WHERE email LIKE '%@%'")
    assert plain == [(0,)]


def test_incremental_run_copies_only_rows_past_the_high_water_mark(source: Db, warehouse: Warehouse) -> None:
    run(source, warehouse, cursor="updated_at")
    assert run(source, warehouse, cursor="updated_at").rows == 0
    source.run("UPDATE users SET phone = '555-9999', updated_at = '2024-02-01 00:00:00' WHERE id = 2")
    source.run("INSERT INTO users VALUES (%s, %s, %s, %s)", [(4, "dee@example.com", None, datetime(2024, 2, 2))])
    result = run(source, warehouse, cursor="updated_at")
    assert (result.rows, result.high_water) == (2, datetime(2024, 2, 2))
    history = rows(warehouse, "SELECT id, phone FROM raw_app_users WHERE id = 2 ORDER BY updated_at")
    assert history == [(2, "***0102"), (2, "***9999")]  # append-only: both versions kept


def test_full_refresh_rebuilds_the_table_from_scratch(source: Db, warehouse: Warehouse) -> None:
    run(source, warehouse, cursor="updated_at")
    run(source, warehouse)  # a snapshot run appends every row again
    assert rows(warehouse, "SELECT count(*) FROM raw_app_users") == [(6,)]
    result = run(source, warehouse, cursor="updated_at", full_refresh=True)
    assert (result.mode, result.rows) == ("full_refresh", 3)
    assert rows(warehouse, "SELECT count(*) FROM raw_app_users") == [(3,)]


def test_new_column_is_added_and_a_changed_type_is_reported(source: Db, warehouse: Warehouse) -> None:
    run(source, warehouse, cursor="updated_at")
    source.run("ALTER TABLE users ADD COLUMN plan VARCHAR(10)")
    modify = "ALTER TABLE users ALTER COLUMN id TYPE VARCHAR(10)" if source.kind == "pg" else \
        "ALTER TABLE users MODIFY id VARCHAR(10)"
    source.run(modify)
    source.run("INSERT INTO users VALUES (%s, %s, %s, %s, %s)",
               [("x5", "e@example.com", None, datetime(2024, 3, 1), "pro")])
    result = run(source, warehouse, cursor="updated_at")
    assert {(d["column"], d["change"]) for d in result.drift} == {("plan", "added"), ("id", "type_changed")}
    assert rows(warehouse, "SELECT id, plan FROM raw_app_users WHERE updated_at = '2024-03-01'") == [("x5", "pro")]
    assert run(source, warehouse, cursor="updated_at").drift == []  # reported once


def test_dropped_pii_column_never_lands(source: Db, warehouse: Warehouse) -> None:
    run(source, warehouse, pii=["users.phone=drop", "users.email=hash"])
    cols = [r[0] for r in rows(warehouse, "SELECT column_name FROM information_schema.columns "
                                          "WHERE table_name = 'raw_app_users'")]
    assert "phone" not in cols and "email" in cols


def test_unknown_cursor_or_table_is_a_clear_error(source: Db, warehouse: Warehouse) -> None:
    with pytest.raises(ExtractConfigError, match="cursor column 'nope'"):
        run(source, warehouse, cursor="nope")
    with pytest.raises(ExtractConfigError, match="does not exist"):
        extract_tables(source.url, warehouse, ["missing"], ExtractOptions(), PiiPolicy(), HASHER)


def test_lands_in_a_postgres_warehouse_partitioned_by_extracted_date(pg_url: str, mysql_url: str) -> None:
    db = Db(mysql_url)
    db.run("CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(100), phone VARCHAR(20), "
           "updated_at TIMESTAMP NULL)")
    db.run("INSERT INTO users VALUES (%s, %s, %s, %s)", USERS)
    wh = open_warehouse(pg_url)
    assert run(db, wh, cursor="updated_at").rows == 3
    assert run(db, wh, cursor="updated_at").rows == 0
    parts = wh.cursor().execute(
        "SELECT count(*) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent "
        "WHERE p.relname = 'raw_app_users'").fetchone()
    assert parts == (1,)
    assert wh.cursor().execute("SELECT count(*) FROM raw_app_users").fetchone() == (3,)
    wh.close()




def test_identifiers_are_protected_by_default_after_deriving_what_staging_needs(source: Db,
                                                                                  warehouse: Warehouse) -> None:
    source.run("ALTER TABLE users ADD COLUMN hashed_password VARCHAR(100)")
    source.run("ALTER TABLE users ADD COLUMN last_login_ip VARCHAR(45)")
    source.run("UPDATE users SET hashed_password = '$2b$secret', last_login_ip = '10.1.2.3' WHERE id = 1")
    source.run("UPDATE users SET email = 'no-domain' WHERE id = 3")
    run(source, warehouse, pii=[])  # no rules: the defaults still protect every identifier
    got = rows(warehouse, "SELECT id, email, email_domain, has_password, last_login_ip, phone "
                          "FROM raw_app_users ORDER BY id")
    assert got[0] == (1, HASHER.hash_pii("ann@example.com", email=True), "example.com", True,
                      HASHER.hash_pii("10.1.2.3"), "***0101")
    assert got[1][2:4] == ("example.com", False)
    assert got[2][2] is None  # seed 004: NULLIF(SPLIT_PART(email, '@', 2), '')
    cols = [r[0] for r in rows(warehouse, "SELECT column_name FROM information_schema.columns "
                                          "WHERE table_name = 'raw_app_users'")]
    assert "hashed_password" not in cols
    dump = repr(rows(warehouse, "SELECT * FROM raw_app_users"))
    for plain in ("Ann@Example.com", "bob@example.com", "$2b$secret", "10.1.2.3", "555-0101"):
        assert plain not in dump


def test_keep_opts_a_column_out_of_the_defaults(source: Db, warehouse: Warehouse) -> None:
    run(source, warehouse, pii=["users.phone=keep"])
    assert rows(warehouse, "SELECT phone FROM raw_app_users WHERE id = 1") == [("555-0101",)]
    assert rows(warehouse, "SELECT count(*) FROM raw_app_users WHERE email LIKE '%@%'") == [(0,)]
