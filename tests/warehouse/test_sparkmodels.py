"""The reader of the models Spark built (``HEXLAKE_WAREHOUSE_URL=spark://…``) behind the query sandbox,
on a spark-warehouse folder laid out as Spark writes it (Parquet files per table, the views'
record): it follows the files and the views, routes raw tables to the landing DuckDB, and
refuses every file-reading statement."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hexlake.config import Settings
from hexlake.errors import BadRequest
from hexlake.runtime import Runtime
from hexlake.serve.query import query
from hexlake.warehouse import get_warehouse
from hexlake.warehouse.query import get_sandbox
from hexlake.warehouse.sandbox import Caller
from hexlake.warehouse.sparkmodels import SparkModels, model_views, record_view, table_dir

TABLE = "sqlmesh__marts.marts__daily_engagement__111"
COLUMNS = [("day", "DATE"), ("events", "BIGINT")]


def write_table(warehouse: Path, table: str, days: list[int]) -> None:
    path = table_dir(warehouse, table)
    path.mkdir(parents=True, exist_ok=True)
    for f in path.glob("*.parquet"):
        f.unlink()
    rows = pa.table({"day": pa.array([date(2026, 1, d) for d in days]), "events": pa.array(days, pa.int64())})
    pq.write_table(rows, path / "part-00000-x.snappy.parquet")


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    settings = Settings(data_dir=tmp_path / "data", warehouse_url=f"spark://local[1]?lake={tmp_path / 'lake'}")
    rt = Runtime(settings)
    wh = settings.paths.spark_warehouse
    write_table(wh, TABLE, [1, 2, 3])
    record_view(wh, "marts.daily_engagement", TABLE, COLUMNS)
    record_view(
        wh,
        "marts.event_aggregations",
        "sqlmesh__marts.marts__event_aggregations__222",
        [("hour", "TIMESTAMP"), ("n", "BIGINT")],
    )  # built, but Spark wrote no file: empty
    get_warehouse(rt).execute(
        "INSERT INTO raw_events (event_id, event_type, schema_version, source, ts, received_at, load_date, "
        "loaded_at) VALUES ('e1', 'page', 1, 'app', TIMESTAMP '2026-01-01 10:00', TIMESTAMP '2026-01-01 10:00', "
        "DATE '2026-01-01', TIMESTAMP '2026-01-01 10:00')"
    )
    yield rt
    rt.close()


def rows(rt: Runtime, sql: str) -> list[list[object]]:
    return list(query(rt, sql)["rows"])


def test_hexlake_query_reads_the_tables_spark_wrote_and_raw_events_from_the_landing_file(runtime: Runtime) -> None:
    assert rows(runtime, "SELECT sum(events) FROM marts.daily_engagement") == [[6]]
    assert rows(runtime, "SELECT count(*) FROM marts.event_aggregations") == [[0]]
    assert rows(runtime, "SELECT count(*) FROM raw_events") == [[1]]
    shown = rows(runtime, "SHOW TABLES")
    assert ["marts", "daily_engagement"] in shown and ["main", "raw_events"] in shown
    with pytest.raises(BadRequest, match="different databases"):
        query(runtime, "SELECT * FROM marts.daily_engagement, raw_events")


def test_the_reader_follows_new_files_and_a_new_physical_table(runtime: Runtime) -> None:
    wh = runtime.settings.paths.spark_warehouse
    assert rows(runtime, "SELECT count(*) FROM marts.daily_engagement") == [[3]]
    write_table(wh, TABLE, [1, 2, 3, 4])  # a run rewrote the table's files
    assert rows(runtime, "SELECT count(*) FROM marts.daily_engagement") == [[4]]
    write_table(wh, "sqlmesh__marts.marts__daily_engagement__999", [7])  # a plan promoted a new version
    record_view(wh, "marts.daily_engagement", "sqlmesh__marts.marts__daily_engagement__999", COLUMNS)
    get_sandbox(runtime).warehouse.refresh(force=True)
    assert rows(runtime, "SELECT sum(events) FROM marts.daily_engagement") == [[7]]


HOSTILE = [
    "SELECT * FROM read_parquet('/etc/passwd')",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_csv_auto('/etc/passwd')",
    "SELECT * FROM '/etc/passwd'",
    "COPY (SELECT 1) TO '/tmp/hexlake-owned.csv'",
    "ATTACH '/tmp/hexlake-owned.duckdb' AS x",
    "SET enable_external_access = true",
    "SELECT * FROM sqlmesh__marts.marts__daily_engagement__111",
]


@pytest.mark.parametrize("sql", HOSTILE)
def test_hostile_sql_is_refused_against_the_spark_reader(runtime: Runtime, sql: str) -> None:
    with pytest.raises(BadRequest):
        query(runtime, sql)
    assert not Path("/tmp/hexlake-owned.csv").exists()


def test_the_spark_folder_itself_cannot_be_read_by_name(runtime: Runtime) -> None:
    files = sorted(str(p) for p in table_dir(runtime.settings.paths.spark_warehouse, TABLE).glob("*.parquet"))
    with pytest.raises(BadRequest, match="read_parquet"):
        query(runtime, f"SELECT * FROM read_parquet('{files[0]}')")


def test_the_second_wall_the_reader_database_reads_no_file_and_stays_locked(runtime: Runtime) -> None:
    import duckdb

    reader = get_sandbox(runtime).warehouse
    assert isinstance(reader, SparkModels)
    cur = reader.cursor()
    with pytest.raises(duckdb.Error):
        cur.execute("SELECT * FROM read_csv('/etc/passwd')").fetchall()
    with pytest.raises(duckdb.Error):
        cur.execute("SET enable_external_access = true")


def test_a_read_key_sees_only_its_marts(runtime: Runtime) -> None:
    sandbox = get_sandbox(runtime)
    key = Caller(key_id="k1", kind="read", marts=frozenset({"event_aggregations"}))
    with pytest.raises(BadRequest, match="may not read"):
        sandbox.run("SELECT * FROM marts.daily_engagement", key)
    assert sandbox.run("SELECT count(*) FROM marts.event_aggregations", key).rows == [[0]]
    shown = sandbox.run("SHOW TABLES", key).rows
    assert shown == [["marts", "event_aggregations"]]


def test_without_a_record_the_newest_table_of_each_model_is_read(tmp_path: Path) -> None:
    wh = tmp_path / "spark-warehouse"
    write_table(wh, TABLE, [1])
    assert model_views(wh) == {"marts.daily_engagement": {"table": TABLE, "columns": []}}
