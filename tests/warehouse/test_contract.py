"""One contract for every warehouse engine: the same calls give the same answers on DuckDB and PostgreSQL.

``HEXLAKE_TEST_WAREHOUSES=duckdb`` narrows the engines locally; PostgreSQL cases are marked ``services``
and each gets its own database, dropped afterwards (the ``pg_url`` fixture).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from hexlake.errors import BadRequest, ConfigError, WarehouseError
from hexlake.log import open_log
from hexlake.warehouse import LoaderBase, Warehouse, make_raw_loader, open_warehouse

from .conftest import LOG_CONFIG, as_items, make_event

ENGINES = [e for e in os.environ.get("HEXLAKE_TEST_WAREHOUSES", "duckdb,postgres").split(",") if e]


@pytest.fixture(params=[pytest.param(e, marks=[pytest.mark.services] if e == "postgres" else []) for e in ENGINES])
def wh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    url = (request.getfixturevalue("pg_url") if request.param == "postgres"
           else f"duckdb:///{tmp_path / 'contract.duckdb'}")
    opened = open_warehouse(url)
    opened.ensure_raw_tables()
    yield opened
    opened.close()


def _make_table(wh: Warehouse) -> None:
    wh.execute(f"CREATE TABLE t (k VARCHAR NOT NULL, d TIMESTAMP NOT NULL, n INTEGER, x {wh.column_type('DOUBLE')}, "
               f"j {wh.column_type('JSON')}, PRIMARY KEY (k, d))")


def test_is_a_warehouse_with_declared_capabilities(wh: Warehouse) -> None:
    assert isinstance(wh, Warehouse)
    assert wh.dialect in ("duckdb", "postgres")
    for flag in ("SUPPORTS_ARROW_SCAN", "SUPPORTS_CONCURRENT_WRITERS", "SUPPORTS_DECLARATIVE_PARTITIONS"):
        assert isinstance(getattr(type(wh), flag), bool)


def test_execute_and_query_arrow_with_qmark_params(wh: Warehouse) -> None:
    _make_table(wh)
    wh.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?)", ["a", datetime(2024, 5, 1), 1, 0.5, '{"p": "50%"}'])
    rows = wh.query_arrow("SELECT k, n, x, CAST(j AS VARCHAR) AS j FROM t WHERE k = ? AND j::VARCHAR LIKE '%50%%'",
                          ["a"]).to_pylist()
    assert [(r["k"], r["n"], r["x"]) for r in rows] == [("a", 1, 0.5)]
    assert wh.cursor().execute("SELECT count(*) FROM t").fetchone() == (1,)


def test_ensure_raw_tables_is_idempotent(wh: Warehouse) -> None:
    wh.ensure_raw_tables()
    assert wh.query_arrow("SELECT count(*) AS n FROM raw_events").to_pylist() == [{"n": 0}]


def test_a_failing_statement_is_a_warehouse_error(wh: Warehouse) -> None:
    with pytest.raises(WarehouseError):
        wh.execute("INSERT INTO no_such_table VALUES (1)")
    with pytest.raises(WarehouseError):
        wh.query_arrow("SELECT nope FROM raw_events")
    assert wh.query_arrow("SELECT 1 AS one").to_pylist() == [{"one": 1}]  # still usable afterwards


def test_read_query_refuses_writes_and_caps_rows(wh: Warehouse) -> None:
    _make_table(wh)
    wh.insert_rows("t", ["k", "d", "n"], [(f"k{i}", datetime(2024, 5, 1), i) for i in range(5)])
    assert wh.read_query("SELECT k FROM t ORDER BY k", limit=2).column("k").to_pylist() == ["k0", "k1"]
    for hostile in ("DELETE FROM t", "DROP TABLE t", "SELECT 1; DROP TABLE t", "SELEC k FROM t"):
        with pytest.raises(BadRequest):
            wh.read_query(hostile)
    assert wh.query_arrow("SELECT count(*) AS n FROM t").to_pylist() == [{"n": 5}]


def test_insert_rows_and_then_statements_commit_together_or_not_at_all(wh: Warehouse) -> None:
    _make_table(wh)
    wh.execute("CREATE TABLE marks (name VARCHAR PRIMARY KEY, v INTEGER)")
    wh.insert_rows("t", ["k", "d", "n"], [("a", datetime(2024, 5, 1), 1)], then=[("INSERT INTO marks VALUES (?, ?)",
                                                                                  ["hw", 1])])
    with pytest.raises(Exception):  # noqa: B017 - the engine's own error; what matters is the rollback
        wh.insert_rows("t", ["k", "d", "n"], [("b", datetime(2024, 5, 2), 2)],
                       then=[("INSERT INTO marks VALUES (?, ?)", ["hw", 2])])  # duplicate key: fails
    assert wh.query_arrow("SELECT k FROM t").column("k").to_pylist() == ["a"]
    assert wh.query_arrow("SELECT v FROM marks").column("v").to_pylist() == [1]


def test_upsert_rows_replaces_on_key_and_keeps_the_last_of_a_batch(wh: Warehouse) -> None:
    _make_table(wh)
    day = datetime(2024, 5, 1)
    assert wh.upsert_rows("t", ["k", "d", "n", "x", "j"], [("a", day, 1, 1.0, '{"v": 1}'), ("b", day, 1, 1.0, None)],
                          key=["k", "d"]) == 2
    written = wh.upsert_rows("t", ["k", "d", "n", "x", "j"],
                             [("a", day, 2, 2.0, '{"v": 2}'), ("a", day, 3, 3.0, '{"v": 3}')], key=["k", "d"])
    assert written == 1
    rows = wh.query_arrow("SELECT k, n, x FROM t ORDER BY k").to_pylist()
    assert rows == [{"k": "a", "n": 3, "x": 3.0}, {"k": "b", "n": 1, "x": 1.0}]
    assert wh.upsert_rows("t", ["k", "d", "n"], [], key=["k", "d"]) == 0


def test_each_thread_gets_its_own_cursor(wh: Warehouse) -> None:
    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(wh.query_arrow("SELECT 1 AS one").to_pylist()))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [[{"one": 1}]] * 4


def test_make_raw_loader_fits_the_engine_and_loads_each_event_once(wh: Warehouse) -> None:
    log = open_log("memory://", LOG_CONFIG)
    events = [make_event(i) for i in range(20)]
    log.append(as_items(events) + as_items(events[:5]))
    loader = make_raw_loader(log, wh)
    assert isinstance(loader, LoaderBase)
    assert loader.run_once() == 20
    assert wh.query_arrow("SELECT count(DISTINCT event_id) AS d, count(*) AS n FROM raw_events").to_pylist() == [
        {"d": 20, "n": 20}]


def test_raw_loader_records_the_event_time_days_each_batch_touched(wh: Warehouse) -> None:
    from hexlake.warehouse import intervals

    log = open_log("memory://", LOG_CONFIG)
    old = datetime(2021, 3, 4, 5, tzinfo=UTC)
    events = [make_event(i) for i in range(3)] + [
        make_event(10, ts=old), make_event(11, ts=old + timedelta(hours=1), event_type="signup")]
    log.append(as_items(events))
    make_raw_loader(log, wh).run_once()
    log.append(as_items(events[3:4]))  # a redelivered event: its day is recorded again
    make_raw_loader(log, wh).run_once()
    touched = {(d.day, d.events, d.user_events) for d in intervals.touched(wh.cursor())}
    assert touched == {(date(2024, 5, 1), 3, 0), (date(2021, 3, 4), 3, 1)}


def test_closed_warehouse_refuses_work_on_a_new_thread(wh: Warehouse) -> None:
    wh.close()
    wh.close()  # idempotent
    errors: list[BaseException] = []

    def run() -> None:
        try:
            wh.query_arrow("SELECT 1")
        except WarehouseError as exc:
            errors.append(exc)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert len(errors) == 1


@pytest.mark.parametrize("url", ["bigquery://project/dataset", "duckdb:///", "warehouse.duckdb", "postgresql:x"])
def test_unsupported_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        open_warehouse(url)


@pytest.mark.slow
def test_embedded_server_never_imports_psycopg(tmp_path: Path) -> None:
    """The server with its background services (loader, stream) on the embedded defaults."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from fastapi.testclient import TestClient\n"
            "from hexlake.config import Settings\n"
            "from hexlake.serve.app import create_app\n"
            "from hexlake.setup import initialise\n"
            f"settings = Settings(data_dir={str(tmp_path / 'data')!r})\n"
            "initialise(settings)\n"
            "with TestClient(create_app(settings, background=True)) as client:\n"
            "    client.post('/v1/admin/ops/load_once', json={})\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('psycopg', 'psycopg2')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
