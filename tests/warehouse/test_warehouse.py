from __future__ import annotations

import threading
from pathlib import Path

import pytest

from hexlake.errors import BadRequest, ConfigError, WarehouseError
from hexlake.warehouse import READ_ONLY_MESSAGE, Warehouse, open_warehouse


@pytest.mark.parametrize("sql", [
    "DELETE FROM raw_events",
    "INSERT INTO raw_events SELECT * FROM raw_events",
    "UPDATE raw_events SET source = 'x'",
    "DROP TABLE raw_events",
    "CREATE TABLE t AS SELECT 1",
    "ALTER TABLE raw_events ADD COLUMN x INT",
    "COPY raw_events TO 'out.csv'",
    "ATTACH 'other.duckdb'",
    "SET threads = 1",
    "PRAGMA threads = 1",
    "CHECKPOINT",
    "INSTALL httpfs",
    "EXPLAIN ANALYZE DELETE FROM raw_events",
    "WITH d AS (DELETE FROM raw_events RETURNING *) SELECT * FROM d",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM '/etc/passwd.csv'",
    "SELECT * FROM query('DROP TABLE raw_events')",
    "SELECT getenv('HOME')",
    "PRAGMA table_info('raw_events')",  # DESCRIBE does the same; PRAGMA can change settings
])
def test_read_query_refuses_anything_but_reads(warehouse: Warehouse, sql: str) -> None:
    with pytest.raises(BadRequest) as info:
        warehouse.read_query(sql)
    assert READ_ONLY_MESSAGE in info.value.message or "could not parse" in info.value.message
    assert info.value.status == 400
    assert info.value.to_body()["error"]["field"] == "sql"
    assert warehouse.query_arrow("SELECT count(*) AS n FROM raw_events")["n"][0].as_py() == 0


@pytest.mark.parametrize("sql", [
    "SELECT count(*) FROM raw_events",
    "WITH t AS (SELECT 1 AS x) SELECT x FROM t",
    "SELECT 1 UNION ALL SELECT 2",
    "DESCRIBE raw_events",
    "SHOW TABLES",
    "SUMMARIZE raw_events",
    "EXPLAIN SELECT * FROM raw_events",
    "FROM raw_events",
])
def test_read_query_runs_read_only_statements(warehouse: Warehouse, sql: str) -> None:
    assert warehouse.read_query(sql).num_columns > 0


def test_read_query_refuses_several_statements(warehouse: Warehouse) -> None:
    with pytest.raises(BadRequest, match="exactly one statement"):
        warehouse.read_query("SELECT 1; DROP TABLE raw_events")


def test_read_query_reports_duckdb_errors_as_bad_request(warehouse: Warehouse) -> None:
    with pytest.raises(BadRequest, match="no_such_table"):
        warehouse.read_query("SELECT * FROM no_such_table")


def test_read_query_applies_limit_and_parameters(warehouse: Warehouse) -> None:
    table = warehouse.read_query("SELECT * FROM range(100000) t(i) WHERE i >= ?", [10], limit=7)
    assert table["i"].to_pylist() == list(range(10, 17))


def test_each_thread_gets_its_own_cursor(warehouse: Warehouse) -> None:
    results: list[int] = []

    def work() -> None:
        results.append(warehouse.query_arrow("SELECT 41 + 1 AS x")["x"][0].as_py())
        assert warehouse.cursor() is warehouse.cursor()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [42] * 4


def test_writes_by_hexlake_code_go_through_execute(warehouse: Warehouse) -> None:
    warehouse.execute("CREATE TABLE t (x INT)")
    warehouse.execute("INSERT INTO t VALUES (?)", [3])
    assert warehouse.query_arrow("SELECT x FROM t")["x"].to_pylist() == [3]
    with pytest.raises(WarehouseError, match="statement failed"):
        warehouse.execute("INSERT INTO nope VALUES (1)")


@pytest.mark.parametrize("url", ["bigquery://project/dataset", "duckdb:///", "warehouse.duckdb"])
def test_open_warehouse_refuses_unsupported_urls(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        open_warehouse(url)
    assert url in info.value.message and info.value.field == "warehouse_url"


def test_closed_warehouse_says_so(tmp_path: Path) -> None:
    wh = open_warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}")
    wh.close()
    with pytest.raises(WarehouseError, match="closed"):
        wh.query_arrow("SELECT 1")
