"""Warehouse sync to a real PostgreSQL database and to Parquet: tracked, resumable, idempotent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hexlake.log import open_log
from hexlake.sync import ParquetTarget, SyncOptions, open_target, sync_run, sync_status
from hexlake.warehouse import Warehouse, make_raw_loader, open_warehouse

from ..warehouse.conftest import LOG_CONFIG, as_items, make_event

MART_DDL = ("CREATE SCHEMA IF NOT EXISTS marts; CREATE TABLE marts.daily_engagement "
            "(day DATE, event_type VARCHAR, events BIGINT)")


def fill(wh: Warehouse, n: int = 3000) -> None:
    """n events over three days in raw_events, plus a small daily mart."""
    log = open_log("memory://", LOG_CONFIG)
    log.append(as_items([make_event(i) for i in range(n)]))  # 1 min apart from 2024-05-01 12:00
    make_raw_loader(log, wh).run_once()
    wh.execute("UPDATE raw_events SET load_date = CAST(ts AS DATE)")  # spread loads over days
    for sql in MART_DDL.split(";"):
        wh.execute(sql)
    wh.execute("INSERT INTO marts.daily_engagement SELECT CAST(ts AS DATE), event_type, count(*) "
               "FROM raw_events GROUP BY 1, 2")


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    wh = open_warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}")
    fill(wh)
    yield wh
    wh.close()


def target_count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    return int(row[0]) if row else 0


@pytest.mark.services
def test_sync_to_postgres_sends_every_row_once_and_rerun_adds_nothing(warehouse: Warehouse, pg_url: str) -> None:
    target = open_target(pg_url)
    first = sync_run(warehouse, target)
    assert (first.failed, first.rows) == (0, 3000 + 3)
    assert target_count(pg_url, "raw_events") == 3000
    assert target_count(pg_url, "marts_daily_engagement") == 3
    again = sync_run(warehouse, target)
    assert (again.synced, again.skipped) == (0, 6)
    assert target_count(pg_url, "raw_events") == 3000
    target.close()


@pytest.mark.services
def test_a_changed_day_is_sent_again_and_replaces_its_rows(warehouse: Warehouse, pg_url: str) -> None:
    target = open_target(pg_url)
    sync_run(warehouse, target)
    warehouse.execute("UPDATE marts.daily_engagement SET events = events + 1 WHERE day = '2024-05-02'")
    report = sync_run(warehouse, target, SyncOptions(tables=["marts.daily_engagement"]))
    assert (report.synced, report.skipped) == (1, 2)
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT day::text, events FROM marts_daily_engagement ORDER BY day").fetchall()
    expected = warehouse.cursor().execute(
        "SELECT CAST(day AS VARCHAR), events FROM marts.daily_engagement ORDER BY day").fetchall()
    assert rows == expected
    target.close()


class FlakyTarget(ParquetTarget):
    """Fails on one day until told to recover (a network error, say)."""

    def __init__(self, root: Path, bad_key: str) -> None:
        super().__init__(root)
        self.bad_key: str | None = bad_key

    def write(self, table: str, partition_column: str, key: str, rows: pa.Table) -> None:
        if key == self.bad_key:
            raise OSError("connection reset by peer")
        super().write(table, partition_column, key, rows)


def by_status(wh: Warehouse) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["table"], r["status"]): r for r in sync_status(wh)}


def test_failed_batch_is_recorded_and_retried_on_the_next_run(warehouse: Warehouse, tmp_path: Path) -> None:
    target = FlakyTarget(tmp_path / "lake", bad_key="2024-05-02")
    report = sync_run(warehouse, target, SyncOptions(tables=["raw_events"]))
    assert (report.synced, report.failed) == (2, 1)
    failed = by_status(warehouse)[("raw_events", "failed")]
    assert (failed["batches"], failed["retries"]) == (1, 1)
    assert "connection reset" in failed["last_error"]
    target.bad_key = None
    report = sync_run(warehouse, target, SyncOptions(tables=["raw_events"]))
    assert (report.synced, report.skipped, report.failed) == (1, 2, 0)
    assert by_status(warehouse)[("raw_events", "synced")]["batches"] == 3
    assert target.count("raw_events") == 3000


def test_parquet_files_are_partitioned_by_day_and_rerun_is_idempotent(warehouse: Warehouse, tmp_path: Path) -> None:
    target = open_target(f"parquet://{tmp_path / 'lake'}")
    sync_run(warehouse, target)
    warehouse.execute("UPDATE warehouse_sync_status SET status = 'pending'")  # as if interrupted
    report = sync_run(warehouse, target)
    assert report.synced == 6
    days = sorted(p.name for p in (tmp_path / "lake" / "raw_events").iterdir())
    assert days == ["load_date=2024-05-01", "load_date=2024-05-02", "load_date=2024-05-03"]
    table = pq.read_table(tmp_path / "lake" / "raw_events")  # Hive partitions read back as a column
    assert table.num_rows == 3000
    assert len(set(table.column("event_id").to_pylist())) == 3000


@pytest.mark.services
def test_sync_from_a_postgres_warehouse(pg_url: str, tmp_path: Path) -> None:
    wh = open_warehouse(pg_url)
    fill(wh, 500)
    report = sync_run(wh, open_target(f"parquet://{tmp_path / 'lake'}"))
    assert (report.failed, report.rows) == (0, 500 + 1)
    assert sync_run(wh, open_target(f"parquet://{tmp_path / 'lake'}")).synced == 0
    wh.close()


def test_unknown_table_and_target_are_clear_errors(warehouse: Warehouse, tmp_path: Path) -> None:
    from hexlake.sync.errors import SyncConfigError

    with pytest.raises(SyncConfigError, match="does not exist"):
        sync_run(warehouse, ParquetTarget(tmp_path), SyncOptions(tables=["nope"]))
    with pytest.raises(SyncConfigError, match="unsupported sync target"):
        open_target("s3://bucket")


def test_null_dates_sync_and_a_broken_table_does_not_skip_the_others(warehouse: Warehouse, tmp_path: Path) -> None:
    # Users who never logged in have no last_login: their rows are one batch of their own.
    warehouse.execute("CREATE TABLE marts.dim_users (user_key VARCHAR, last_login TIMESTAMP)")
    warehouse.execute("INSERT INTO marts.dim_users VALUES ('a', NULL), ('b', NULL), "
                      "('c', TIMESTAMP '2024-05-01 10:00:00')")
    # Sorted before the others, and fails only when read.
    warehouse.execute("CREATE VIEW marts.a_broken AS SELECT CAST('not a number' AS INTEGER) AS n, "
                      "DATE '2024-05-01' AS day")
    target = open_target(f"parquet://{tmp_path / 'lake'}")
    report = sync_run(warehouse, target)
    assert report.failed == 1 and report.errors[0]["table"] == "marts.a_broken"
    assert target.count("marts.dim_users") == 3
    assert target.count("marts.daily_engagement") > 0 and target.count("raw_events") == 3000
    users = pq.read_table(tmp_path / "lake" / "marts_dim_users")
    assert sorted(users.column("user_key").to_pylist()) == ["a", "b", "c"]
    assert sorted(users.column("last_login").to_pylist(), key=str) == ["2024-05-01", None, None]
    again = sync_run(warehouse, target)
    assert (again.synced, again.failed) == (0, 1)  # NULL batch is fingerprinted like any other
