"""The PostgreSQL warehouse: raw loading is idempotent on event_id and matches the DuckDB loader."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from hexlake.log import AppendItem, open_log
from hexlake.warehouse import make_raw_loader, open_warehouse
from hexlake.warehouse.backends.postgres import PostgresRawLoader, PostgresWarehouse

from ..log.conftest import FakeClock
from ..warehouse.conftest import LOG_CONFIG, as_items, make_event

pytestmark = pytest.mark.services

COLUMNS = ("event_id, event_type, schema_version, source, user_key, session_id, ts, received_at, "
           "lat, lng, accuracy_m, h3_r6, h3_r9, h3_r12, retention")


def test_postgresql_url_opens_a_postgres_warehouse_with_a_copy_loader(pg_url: str) -> None:
    wh = open_warehouse(pg_url)
    log = open_log("memory://", LOG_CONFIG)
    assert isinstance(wh, PostgresWarehouse)
    assert isinstance(make_raw_loader(log, wh), PostgresRawLoader)
    wh.close()


def test_loader_stores_each_event_once_across_redelivery_and_in_batch_duplicates(pg_url: str) -> None:
    clock = FakeClock()
    log = open_log(pg_url, LOG_CONFIG, clock=clock)
    wh = open_warehouse(pg_url)
    events = [make_event(i) for i in range(50)]
    log.append(as_items(events) + as_items(events[:10]))  # in-log duplicates
    loader = make_raw_loader(log, wh)
    assert loader.run_once() == 50
    log.append(as_items(events[40:]))  # a client retry, later
    assert loader.run_once() == 0
    rows = wh.query_arrow("SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM raw_events").to_pylist()
    assert rows == [{"n": 50, "d": 50}]
    log.close()
    wh.close()


def test_postgres_and_duckdb_loaders_store_identical_rows(pg_url: str, tmp_path: Path) -> None:
    events = [make_event(i, lat=None if i % 4 == 0 else 52.5) for i in range(30)]
    tables = []
    for url in (pg_url, f"duckdb:///{tmp_path / 'w.duckdb'}"):
        log = open_log("memory://", LOG_CONFIG)
        log.append(as_items(events))
        wh = open_warehouse(url)
        make_raw_loader(log, wh).run_once()
        tables.append(wh.query_arrow(f"SELECT {COLUMNS}, properties::text AS p FROM raw_events ORDER BY event_id")
                      .to_pylist())
        wh.close()
    pg_rows, duck_rows = tables
    assert len(pg_rows) == 30
    for pg, duck in zip(pg_rows, duck_rows, strict=True):
        assert orjson.loads(pg.pop("p")) == orjson.loads(duck.pop("p"))
        assert pg == duck


def test_a_poison_message_is_nacked_and_the_rest_loaded(pg_url: str) -> None:
    log = open_log("memory://", LOG_CONFIG)
    poison = AppendItem(key="k", event_id="bad", payload=b"not json")
    log.append([*as_items([make_event(1)]), poison, *as_items([make_event(2)])])
    wh = open_warehouse(pg_url)
    loader = make_raw_loader(log, wh)
    assert loader.run_once(max_batches=1) == 2
    assert wh.query_arrow("SELECT event_id FROM raw_events ORDER BY 1").column(0).to_pylist() == ["evt-1", "evt-2"]
    # undecodable is terminal: dead-lettered on its first delivery, as on DuckDB
    assert [(d.event_id, d.attempts) for d in log.dead_letters(loader.group)] == [("bad", 1)]
    (status,) = [s for s in log.status() if s.group == loader.group]
    assert status.lag == 0
    wh.close()


def test_read_query_refuses_writes(pg_url: str) -> None:
    from hexlake.errors import BadRequest

    wh = open_warehouse(pg_url)
    wh.ensure_raw_tables()
    assert wh.read_query("SELECT 1 AS one").to_pylist() == [{"one": 1}]
    with pytest.raises(BadRequest):
        wh.read_query("DELETE FROM raw_events")
    wh.close()
