"""``hexlake sync`` to an Iceberg lake: idempotent by batch, partitioned by event day, zstd Parquet,
readable by DuckDB (the current snapshot's files) and pyiceberg, and erasable per person."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from hexlake.lake.catalog import data_files
from hexlake.lake.erase import erase_target
from hexlake.lake.target import IcebergTarget
from hexlake.privacy import warehouse as pw
from hexlake.sync import SyncOptions, open_target, sync_run, sync_status
from hexlake.sync.errors import SyncConfigError
from hexlake.warehouse import Warehouse, open_warehouse

from ..sync.test_sync import fill


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    wh = open_warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}")
    fill(wh, 3000)
    yield wh
    wh.close()


def duck_rows(files: list[str], sql: str = "count(*)") -> object:
    return duckdb.sql(f"SELECT {sql} FROM read_parquet({files!r})").fetchone()[0]  # type: ignore[index]


def test_sync_to_iceberg_writes_each_batch_once(warehouse: Warehouse, tmp_path: Path) -> None:
    url = f"iceberg://{tmp_path / 'lake'}"
    target = open_target(url)
    assert isinstance(target, IcebergTarget)
    first = sync_run(warehouse, target)
    assert (first.failed, first.rows) == (0, 3000 + 3), first.errors
    raw = target.table("raw_events")
    assert [f.name for f in raw.spec().fields] == ["ts_day"]  # partitioned by event day
    files = data_files(raw)
    assert duck_rows(files) == 3000  # DuckDB reads the current snapshot's files
    assert pq.ParquetFile(files[0]).metadata.row_group(0).column(0).compression == "ZSTD"
    assert duck_rows(files, "count(DISTINCT event_id)") == 3000
    # A changed batch is replaced in place, an unchanged one skipped: never a duplicate.
    warehouse.execute("UPDATE marts.daily_engagement SET events = events + 1 WHERE day = DATE '2024-05-01'")
    again = sync_run(warehouse, target)
    assert (again.synced, again.failed) == (1, 0)
    assert target.count("raw_events") == 3000 and target.count("marts.daily_engagement") == 3
    mart = target.table("marts.daily_engagement").scan().to_arrow()
    expected = warehouse.cursor().execute("SELECT sum(events) FROM marts.daily_engagement").fetchone()
    assert sum(mart.column("events").to_pylist()) == expected[0]
    assert {r["status"] for r in sync_status(warehouse, target.name)} == {"synced"}
    target.close()


def test_a_lost_batch_status_is_resent_without_duplicates(warehouse: Warehouse, tmp_path: Path) -> None:
    target = open_target(f"iceberg://{tmp_path / 'lake'}")
    sync_run(warehouse, target, SyncOptions(tables=["raw_events"]))
    warehouse.execute("UPDATE warehouse_sync_status SET status = 'pending'")  # as if killed before recording
    assert sync_run(warehouse, target, SyncOptions(tables=["raw_events"])).synced == 3
    assert target.count("raw_events") == 3000


def test_a_batch_written_by_another_writer_is_replaced_not_appended(tmp_path: Path) -> None:
    """A new batch is appended (no delete pass); one another target instance wrote meanwhile is
    seen in the table's new snapshot and replaced, never duplicated."""
    from datetime import date

    import pyarrow as pa

    url = f"iceberg://{tmp_path / 'lake'}"
    ours, theirs = IcebergTarget(url), IcebergTarget(url)
    rows = pa.table({"day": pa.array([date(2024, 5, 1)] * 3), "n": pa.array([1, 2, 3])})
    ours.write("marts.t", "day", "2024-05-01", rows)
    ours.write("marts.t", "day", "2024-05-02", rows)  # a new key: appended
    theirs.write("marts.t", "day", "2024-05-03", rows)
    ours.write("marts.t", "day", "2024-05-03", rows)  # written by the other instance: replaced
    ours.write("marts.t", "day", "2024-05-01", rows.slice(0, 1))
    got = ours.table("marts.t").scan().to_arrow().group_by("_hexlake_batch").aggregate([("n", "count")])
    assert dict(zip(got.column(0).to_pylist(), got.column(1).to_pylist(), strict=True)) == {
        "2024-05-01": 1,
        "2024-05-02": 3,
        "2024-05-03": 3,
    }
    ours.close()
    theirs.close()


def test_erasure_rewrites_the_affected_files_only_that_persons_rows(warehouse: Warehouse, tmp_path: Path) -> None:
    url = f"iceberg://{tmp_path / 'lake'}"
    target = open_target(url)
    sync_run(warehouse, target)
    assert isinstance(target, IcebergTarget)
    key = warehouse.cursor().execute("SELECT user_key FROM raw_events LIMIT 1").fetchone()[0]
    mine = warehouse.cursor().execute("SELECT count(*) FROM raw_events WHERE user_key = ?", [key]).fetchone()[0]
    assert 0 < mine < 3000
    old_files = set(data_files(target.table("raw_events")))
    assert pw.erase_sync_targets(warehouse, key, delete=False) == {target.name: mine}
    assert pw.erase_sync_targets(warehouse, key, delete=True) == {target.name: mine}
    assert erase_target(url, key, delete=False) == 0
    raw = target.table("raw_events")
    rows = raw.scan().to_arrow()
    assert rows.num_rows == 3000 - mine and key not in rows.column("user_key").to_pylist()
    files = data_files(raw)
    assert duck_rows(files) == 3000 - mine
    assert not any(Path(f).exists() for f in old_files - set(files))  # the old copies are gone
    assert len(raw.snapshots()) == 1
    target.close()


@pytest.mark.parametrize(
    "url", ["iceberg://relative/dir", "iceberg:///x#mysql://h/db", "iceberg://", "iceberg:///x#file:///etc/passwd"]
)
def test_bad_iceberg_urls_are_config_errors(url: str, tmp_path: Path) -> None:
    with pytest.raises(SyncConfigError) as err:
        open_target(url)
    assert err.value.field == "target" and "iceberg" in str(err.value).lower()


@pytest.mark.services
def test_iceberg_catalog_in_postgres(warehouse: Warehouse, tmp_path: Path, pg_url: str) -> None:
    url = f"iceberg://{tmp_path / 'lake'}#{pg_url}"
    target = open_target(url)
    assert sync_run(warehouse, target, SyncOptions(tables=["raw_events"])).rows == 3000
    target.close()
    reopened = IcebergTarget(url)  # the catalog (table -> metadata file) is in PostgreSQL
    assert reopened.count("raw_events") == 3000
    assert not (tmp_path / "lake" / "catalog.sqlite").exists()
    reopened.close()


def test_the_catalog_is_the_jdbc_catalog_other_engines_read(warehouse: Warehouse, tmp_path: Path) -> None:
    """Spark's and Trino's Iceberg JDBC catalogs read a table's current metadata file from the row
    (catalog_name, table_namespace, table_name) of ``iceberg_tables`` (docs/lake.md): that row must
    point at metadata whose current snapshot is the one pyiceberg scans."""
    import json
    import sqlite3

    target = open_target(f"iceberg://{tmp_path / 'lake'}")
    assert isinstance(target, IcebergTarget)
    assert sync_run(warehouse, target).failed == 0
    with sqlite3.connect(tmp_path / "lake" / "catalog.sqlite") as conn:
        rows = conn.execute(
            "SELECT catalog_name, table_namespace, table_name, metadata_location FROM iceberg_tables "
            "WHERE table_name = 'raw_events'"
        ).fetchall()
    assert len(rows) == 1 and rows[0][:3] == ("hexlake", "raw", "raw_events")
    metadata = json.loads(Path(rows[0][3].removeprefix("file://")).read_text())
    table = target.table("raw_events")
    assert metadata["format-version"] == table.metadata.format_version
    snapshot = table.current_snapshot()
    assert snapshot is not None and metadata["current-snapshot-id"] == snapshot.snapshot_id
    assert Path(metadata["location"].removeprefix("file://")) == (tmp_path / "lake").resolve() / "raw" / "raw_events"
    target.close()
