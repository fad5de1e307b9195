"""Erasure reaches what ``hexlake extract`` landed: a person's rows in ``raw_<source>_<table>`` (a
PostgreSQL app database and a MariaDB shop database), the generated ``stg_<source>_<table>``,
``stg_extracted_*`` and the marts joining the users table. A later extraction of the same source
rows (cursor, snapshot, full refresh) does not bring them back, and the marts equal a rebuild from
sources that never had them.

The link between an extracted row and a hexlake person: the users table's ``id`` and every
``user_id`` column land with a ``user_key`` column, the gate's HMAC of ``str(id)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pymysql
import pytest

from hexlake.extract.operations import extract
from hexlake.privacy.erase import erase, subject_of
from hexlake.privacy.scan import proof_scan
from hexlake.runtime import Runtime
from hexlake.transform import operations as transform
from hexlake.warehouse import get_warehouse
from tests.extract.conftest import logical_pg, logical_pg_url  # noqa: F401 - the CDC tests' own cluster
from tests.extract.seed import USERS_DDL, run_pg

from .conftest import events_of, make_runtime, populate
from .test_erase import VOLATILE, mart, model_names, same_rows

pytestmark = [pytest.mark.services, pytest.mark.slow]

ERASED, OTHERS = 1, (2, 3)
NOW = datetime.utcnow().replace(microsecond=0)
DAY = timedelta(days=1)
EXTRACT_VOLATILE = VOLATILE | {"_extracted_at", "extracted_at", "extracted_date"}
SESSIONS_DDL = ("CREATE TABLE sessions (id INTEGER PRIMARY KEY, user_id INTEGER, started_at TIMESTAMP, "
                "ip_address VARCHAR(45), note TEXT)")
ORDERS_DDL = ("CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER, amount DECIMAL(10,2), "
              "created_at TIMESTAMP NULL)")


def user_row(uid: int) -> tuple[Any, ...]:
    # The erased person's last login is older than the transform's lookback and on a day without
    # events: only the extracted table shows it, and the active-user marts must still forget it.
    login = NOW - (12 if uid == ERASED else 3 - uid) * DAY
    return (uid, f"person{uid}@example.net", ["email"], "email", uid % 2 == 0, login, NOW - 20 * DAY, NOW - 5 * DAY)


def load_pg(url: str, users: tuple[int, ...]) -> None:
    run_pg(url, "INSERT INTO users (id, email, auth_methods, preferred_auth_method, two_factor_enabled, "
                "last_login_at, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
           [user_row(u) for u in users])
    run_pg(url, "INSERT INTO sessions VALUES (%s, %s, %s, %s, %s)",
           [(10 * u + i, u, NOW - (i + 1) * DAY, f"10.1.{u}.{i}", f"login from 10.1.{u}.{i}")
            for u in users for i in range(2)])


class Shop:
    """The MariaDB source: orders referencing the app's user ids."""

    def __init__(self, url: str):
        self.url = url
        rest = url.split("://", 1)[1]
        self.db = rest.rsplit("/", 1)[1]

    def run(self, sql: str, rows: list[tuple[Any, ...]] | None = None) -> None:
        conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database=self.db,
                               autocommit=True)
        with conn.cursor() as cur:
            cur.executemany(sql, rows) if rows else cur.execute(sql)
        conn.close()

    def orders(self, users: tuple[int, ...], first_id: int = 100) -> None:
        self.run("INSERT INTO orders VALUES (%s, %s, %s, %s)",
                 [(first_id + 10 * u + i, u, 9.5 + i, NOW - i * DAY) for u in users for i in range(2)])


def extract_all(rt: Runtime, pg: str, shop: Shop, *, full_refresh: bool = False) -> dict[str, int]:
    landed = {}
    for result in [*extract(rt, pg, ["users"], cursor="updated_at", name="app", full_refresh=full_refresh),
                   *extract(rt, pg, ["sessions"], name="app"),  # snapshots: every run lands every row
                   *extract(rt, shop.url, ["orders"], cursor="id", name="shop")]:
        landed[result["raw_table"]] = result["rows"]
    return landed


@pytest.fixture
def sources(pg_url: str, mysql_url: str) -> Iterator[tuple[str, Shop]]:
    run_pg(pg_url, USERS_DDL)
    run_pg(pg_url, SESSIONS_DDL)
    load_pg(pg_url, (ERASED, *OTHERS))
    shop = Shop(mysql_url)
    shop.run(ORDERS_DDL)
    shop.orders((ERASED, *OTHERS))
    yield pg_url, shop


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    yield from make_runtime(tmp_path / "data")


def count(rt: Runtime, sql: str, params: list[Any] | None = None) -> int:
    return int(get_warehouse(rt).cursor().execute(sql, params or []).fetchone()[0])


def test_erase_reaches_extracted_tables_and_a_re_extract_does_not_bring_them_back(
        runtime: Runtime, sources: tuple[str, Shop], tmp_path: Path) -> None:
    pg, shop = sources
    populate(runtime, [e for u in (ERASED, *OTHERS) for e in events_of(str(u), n=2)], quarantine=False,
             transform=False)
    extract_all(runtime, pg, shop)
    assert transform.run(runtime).get("ok", True)
    subject = subject_of(runtime, str(ERASED))
    key = subject.user_key
    before = proof_scan(runtime, subject)
    assert before["extracted ids"] > 0  # found by the plain id, independently of the key
    assert count(runtime, "SELECT COUNT(*) FROM staging.stg_app_users WHERE user_id = ?", [ERASED]) == 1
    assert count(runtime, "SELECT COUNT(*) FROM marts.marts_core_dim_users WHERE user_id = ?", [key]) == 1

    report = erase(runtime, str(ERASED))
    assert report.clean, report.to_text()
    layers = {r.layer: r.before for r in report.layers}
    for table, n in (("raw_app_users", 1), ("raw_app_sessions", 2), ("raw_shop_orders", 2)):
        assert layers[f"warehouse main.{table}"] == n, report.to_text()
    assert report.scan["extracted ids"] == 0
    for sql in ("SELECT COUNT(*) FROM main.raw_app_users WHERE id = ?",
                "SELECT COUNT(*) FROM main.raw_app_sessions WHERE user_id = ?",
                "SELECT COUNT(*) FROM main.raw_shop_orders WHERE user_id = ?",
                "SELECT COUNT(*) FROM staging.stg_app_users WHERE user_id = ?",
                "SELECT COUNT(*) FROM staging.stg_app_sessions WHERE user_id = ?",
                "SELECT COUNT(*) FROM staging.stg_shop_orders WHERE user_id = ?"):
        assert count(runtime, sql, [ERASED]) == 0, sql
    assert count(runtime, "SELECT COUNT(*) FROM marts.marts_core_dim_users WHERE user_id = ?", [key]) == 0

    # The app still has them: their row changes, they log in, they order. Nothing of theirs lands,
    # whether by cursor, snapshot or full refresh; the others' new rows do.
    run_pg(pg, f"UPDATE users SET updated_at = '{NOW}', failed_login_attempts = 1 WHERE id = {ERASED}")
    run_pg(pg, "INSERT INTO sessions VALUES (%s, %s, %s, %s, %s)",
           [(90, ERASED, NOW, "10.9.9.9", "again"), (91, OTHERS[0], NOW, "10.9.9.8", "other")])
    shop.orders((ERASED, OTHERS[1]), first_id=500)
    landed = extract_all(runtime, pg, shop)
    assert landed == {"raw_app_users": 0, "raw_app_sessions": 5, "raw_shop_orders": 2}
    assert extract_all(runtime, pg, shop, full_refresh=True)["raw_app_users"] == len(OTHERS)
    assert transform.run(runtime).get("ok", True)
    after = proof_scan(runtime, subject)
    assert all(n == 0 for n in after.values()), after

    # A rebuild from sources that never had the person: every staging table and mart is equal.
    run_pg(pg, f"DELETE FROM sessions WHERE user_id = {ERASED}")
    run_pg(pg, f"DELETE FROM users WHERE id = {ERASED}")
    shop.run(f"DELETE FROM orders WHERE user_id = {ERASED}")
    for rebuilt in make_runtime(tmp_path / "rebuilt", secret=runtime.paths.secret):
        populate(rebuilt, [e for u in OTHERS for e in events_of(str(u), n=2)], quarantine=False, transform=False)
        extract_all(rebuilt, pg, shop)
        assert transform.run(rebuilt).get("ok", True)
        names = model_names(runtime)
        assert {"staging.stg_app_users", "staging.stg_app_sessions", "staging.stg_shop_orders",
                "staging.stg_extracted_users", "marts.marts_core_dim_users"} <= set(names)
        for name in names:
            a, b = mart(runtime, name), mart(rebuilt, name)
            a = a.drop_columns([c for c in a.column_names if c in EXTRACT_VOLATILE])
            b = b.drop_columns([c for c in b.column_names if c in EXTRACT_VOLATILE])
            assert same_rows(a, b), name


def test_on_a_postgres_warehouse_raw_tables_are_erased_and_stay_so(
        tmp_path: Path, sources: tuple[str, Shop], pg_url: str) -> None:
    """The same on a PostgreSQL warehouse (scale-out): the landed raw tables (partitioned by
    ``extracted_date`` there) lose the person's rows, the proof scan finds no key and no plain id,
    and a later snapshot, cursor or full-refresh extraction lands nothing of theirs."""
    import psycopg

    from tests.conftest import unique_name

    pg, shop = sources
    name = unique_name("hexlake_wh")
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        for rt in make_runtime(tmp_path / "data", warehouse_url=f"postgresql://postgres@127.0.0.1:5432/{name}"):
            assert get_warehouse(rt).dialect == "postgres"
            populate(rt, [e for u in (ERASED, *OTHERS) for e in events_of(str(u), n=1)], quarantine=False,
                     transform=False)
            extract_all(rt, pg, shop)
            subject = subject_of(rt, str(ERASED))
            assert proof_scan(rt, subject)["extracted ids"] >= 5  # 1 user, 2 sessions, 2 orders

            report = erase(rt, str(ERASED))
            assert report.clean, report.to_text()
            layers = {r.layer: r.before for r in report.layers}
            for table, n in (("raw_app_users", 1), ("raw_app_sessions", 2), ("raw_shop_orders", 2)):
                assert layers[f"warehouse public.{table}"] == n, report.to_text()

            run_pg(pg, f"UPDATE users SET updated_at = '{NOW}' WHERE id = {ERASED}")
            run_pg(pg, "INSERT INTO sessions VALUES (%s, %s, %s, %s, %s)", [(90, ERASED, NOW, "10.9.9.9", "x")])
            shop.orders((ERASED,), first_id=500)
            assert extract_all(rt, pg, shop) == {"raw_app_users": 0, "raw_app_sessions": 4, "raw_shop_orders": 0}
            assert extract_all(rt, pg, shop, full_refresh=True)["raw_app_users"] == len(OTHERS)
            for table, col in (("raw_app_users", "id"), ("raw_app_sessions", "user_id"),
                               ("raw_shop_orders", "user_id")):
                assert count(rt, f"SELECT COUNT(*) FROM public.{table} WHERE {col} = ?", [ERASED]) == 0
            after = proof_scan(rt, subject)
            assert all(n == 0 for n in after.values()), after
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_change_data_capture_does_not_bring_an_erased_person_back(
        logical_pg_url: str, tmp_path: Path) -> None:  # noqa: F811 - the fixture imported above
    """CDC (pgoutput): the erased person's later update and delete arrive through the replication
    slot and are dropped at landing; another user's change lands."""
    from hexlake.extract.cdc import drop_cdc

    run_pg(logical_pg_url, USERS_DDL)
    try:
        run_pg(logical_pg_url, "INSERT INTO users (id, email, auth_methods, preferred_auth_method, "
                               "two_factor_enabled, last_login_at, created_at, updated_at) "
                               "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", [user_row(u) for u in (ERASED, *OTHERS)])
        for rt in make_runtime(tmp_path / "data"):
            assert extract(rt, logical_pg_url, ["users"], cdc=True, name="app")[0]["rows"] == 3
            report = erase(rt, str(ERASED))
            assert report.clean and {r.layer: r.before for r in report.layers}["warehouse main.raw_app_users"] == 1
            run_pg(logical_pg_url, f"UPDATE users SET failed_login_attempts = 3 WHERE id IN ({ERASED}, {OTHERS[0]})")
            run_pg(logical_pg_url, f"DELETE FROM users WHERE id = {ERASED}")
            assert extract(rt, logical_pg_url, ["users"], cdc=True, name="app")[0]["rows"] == 1  # the other's
            assert count(rt, "SELECT COUNT(*) FROM main.raw_app_users WHERE id = ?", [ERASED]) == 0
            after = proof_scan(rt, subject_of(rt, str(ERASED)))
            assert all(n == 0 for n in after.values()), after
    finally:
        drop_cdc(logical_pg_url, "app", "users")
