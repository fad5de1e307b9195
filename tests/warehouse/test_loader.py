from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import msgspec
import numpy as np
import pytest

from hexlake.gate.envelope import Event
from hexlake.log import AppendItem, EventLog, LogMessage
from hexlake.warehouse import LoadProgress, RawLoader
from hexlake.warehouse.backends.duckdb import DuckDBWarehouse
from hexlake.warehouse.config import WarehouseConfig
from hexlake.warehouse.frames import ENVELOPE_FIELDS, fast_table, slow_table
from hexlake.warehouse.seen import seen_ids

from ..log.conftest import FakeClock
from .conftest import LOG_CONFIG, as_items, make_event


def count(warehouse: DuckDBWarehouse, where: str = "true") -> int:
    return int(warehouse.query_arrow(f"SELECT count(*) AS n FROM raw_events WHERE {where}")["n"][0].as_py())


def loader_for(log: EventLog, warehouse: DuckDBWarehouse, clock: FakeClock, batch: int = 20_000) -> RawLoader:
    config = WarehouseConfig(loader_batch=batch, loader_interval_s=0.01)
    return RawLoader(log, warehouse, config, clock=clock)


def test_loader_moves_every_event_into_raw_events_and_acks_it(
        log: EventLog, warehouse: DuckDBWarehouse, clock: FakeClock) -> None:
    log.append(as_items([make_event(i) for i in range(25)]))
    progress: list[LoadProgress] = []
    loader = RawLoader(log, warehouse, WarehouseConfig(loader_batch=10, loader_interval_s=0.01),
                       clock=clock, on_progress=lambda p: progress.append(LoadProgress(**vars(p))))
    assert loader.run_once() == 25
    assert count(warehouse) == 25
    assert [(p.batches, p.messages, p.inserted) for p in progress] == [(1, 10, 10), (2, 20, 20), (3, 25, 25)]
    (status,) = [s for s in log.status() if s.group == "raw_loader"]
    assert (status.lag, status.in_flight) == (0, 0)


def test_run_once_stops_after_max_batches(log: EventLog, warehouse: DuckDBWarehouse, clock: FakeClock) -> None:
    log.append(as_items([make_event(i) for i in range(25)]))
    assert loader_for(log, warehouse, clock, batch=10).run_once(max_batches=2) == 20
    assert count(warehouse) == 20


def test_replayed_events_are_stored_once(log: EventLog, warehouse: DuckDBWarehouse, clock: FakeClock) -> None:
    events = [make_event(i) for i in range(10)]
    loader = loader_for(log, warehouse, clock)
    log.append(as_items(events))
    assert loader.run_once() == 10
    log.append(as_items(events))  # the same events appended again (importer re-run, replay)
    assert loader.run_once() == 0
    assert count(warehouse) == 10
    assert count(warehouse, "true") == int(
        warehouse.query_arrow("SELECT count(DISTINCT event_id) AS n FROM raw_events")["n"][0].as_py())


def test_duplicates_within_one_batch_are_stored_once_keeping_the_first(
        log: EventLog, warehouse: DuckDBWarehouse, clock: FakeClock) -> None:
    first, again = make_event(1), make_event(1, event_type="second_copy")
    log.append(as_items([first, again, make_event(2)]))
    assert loader_for(log, warehouse, clock).run_once() == 2
    rows = warehouse.query_arrow("SELECT event_type FROM raw_events WHERE event_id = 'evt-1'")
    assert rows["event_type"].to_pylist() == ["place_interaction"]


def test_redelivery_after_a_crash_between_insert_and_ack_adds_no_rows(
        log: EventLog, warehouse: DuckDBWarehouse, clock: FakeClock) -> None:
    log.append(as_items([make_event(i) for i in range(8)]))
    crashed = loader_for(log, warehouse, clock)

    class Died(BaseException):
        """The process dying: no handler runs after it (unlike an error the loader settles)."""

    def die(group: str, offsets: object) -> None:
        raise Died("process died before ack")

    crashed.log = type("Dying", (), {"ack": staticmethod(die), "read": log.read, "nack": log.nack})()
    with pytest.raises(Died):
        crashed.run_once()
    assert count(warehouse) == 8  # committed to DuckDB, never acked
    clock.advance(LOG_CONFIG.visibility_timeout_s + 1)
    assert loader_for(log, warehouse, clock).run_once() == 0
    assert count(warehouse) == 8
    assert log.read("raw_loader", "x", 100) == []


def test_raw_row_values_equal_the_envelope(log: EventLog, warehouse: DuckDBWarehouse, clock: FakeClock) -> None:
    full = make_event(7)
    sparse = Event(event_id="anon-1", event_type="page", schema_version=2, source="web",
                   ts=datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
                   received_at=datetime(2024, 1, 2, 3, 4, 6, tzinfo=UTC), anonymous_key="ak")
    offsets = log.append(as_items([full, sparse]))
    loader_for(log, warehouse, clock).run_once()
    rows = {r["event_id"]: r for r in warehouse.query_arrow("SELECT * FROM raw_events").to_pylist()}
    for event, offset in zip([full, sparse], offsets, strict=True):
        row = rows[event.event_id]
        expected = msgspec.structs.asdict(event)
        for name in ("ts", "received_at"):
            assert row[name] == expected.pop(name).astimezone(UTC).replace(tzinfo=None)
        for name in ("properties", "context", "consent"):
            assert json.loads(row[name]) == expected.pop(name)
        assert {k: row[k] for k in expected} == expected
        assert row["log_offset"] == offset
    loaded = datetime.fromtimestamp(clock(), UTC).replace(tzinfo=None)
    assert {(r["load_date"], r["loaded_at"]) for r in rows.values()} == {(loaded.date(), loaded)}


def test_loader_survives_a_poison_message_and_dead_letters_it(
        log: EventLog, warehouse: DuckDBWarehouse, clock: FakeClock) -> None:
    good = as_items([make_event(i) for i in range(5)])
    poison = AppendItem(key="px", event_id="poison", payload=b'{"event_id": "poison", "oops"')
    not_utf8 = AppendItem(key="py", event_id="binary", payload=b"\xff\xfe\x00")
    missing = AppendItem(key="pz", event_id="partial", payload=b'{"event_id": "partial"}')
    envelope = msgspec.json.decode(good[0].payload)
    stringy = AppendItem(key="pw", event_id="stringy", payload=msgspec.json.encode(
        {**envelope, "event_id": "stringy", "properties": "{not an object"}))
    log.append([*good[:2], poison, not_utf8, missing, stringy, *good[2:]])
    loader = loader_for(log, warehouse, clock)
    assert loader.run_once() == 5
    # undecodable is terminal: dead-lettered on the first delivery, no retries, no clock advance
    assert {(d.event_id, d.attempts) for d in log.dead_letters("raw_loader")} == {
        ("poison", 1), ("binary", 1), ("partial", 1), ("stringy", 1)}
    for _ in range(LOG_CONFIG.max_attempts):
        clock.advance(LOG_CONFIG.backoff_max_s + 1)
        assert loader.run_once() == 0
    dead = {d.event_id: d.error for d in log.dead_letters("raw_loader")}
    assert set(dead) == {"poison", "binary", "partial", "stringy"}
    assert all(e.startswith("undecodable event payload:") for e in dead.values())
    assert count(warehouse) == 5
    log.append(as_items([make_event(99)]))
    assert loader.run_once() == 1


def test_the_loader_reads_every_envelope_field() -> None:
    assert set(ENVELOPE_FIELDS) == set(Event.__struct_fields__)


def test_fast_and_per_message_decoding_give_identical_rows() -> None:
    events = [make_event(1), make_event(2, ts=datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=UTC)),
              Event(event_id="sparse", event_type="page", schema_version=3, source="web",
                    ts=datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=2))),
                    received_at=datetime(2024, 1, 1, 1, tzinfo=UTC), properties={"é": [1.5, None, True]})]
    messages = [LogMessage(i + 1, it.key, it.event_id, it.payload, 1) for i, it in enumerate(as_items(events))]
    now = datetime(2024, 6, 1, 12, 0)
    fast = fast_table(messages, now)
    slow, good, bad = slow_table(messages, now)
    assert (len(good), bad) == (3, [])
    assert fast.schema == slow.schema
    for f_row, s_row in zip(fast.to_pylist(), slow.to_pylist(), strict=True):
        for name in ("properties", "context", "consent"):
            assert json.loads(f_row.pop(name)) == json.loads(s_row.pop(name))
        assert f_row == s_row
    assert fast.column("ts")[2].as_py() == datetime(2023, 12, 31, 22, 0)  # +02:00 stored as UTC


def test_naive_timestamps_are_loaded_as_utc(log: EventLog, warehouse: DuckDBWarehouse, clock: FakeClock) -> None:
    naive = b'{"event_id":"n1","event_type":"page","schema_version":1,"source":"web",' \
            b'"ts":"2024-03-01T10:00:00","received_at":"2024-03-01T10:00:01"}'
    log.append([AppendItem(key="k", event_id="n1", payload=naive), *as_items([make_event(5)])])
    assert loader_for(log, warehouse, clock).run_once() == 2
    row = warehouse.query_arrow("SELECT ts, properties FROM raw_events WHERE event_id = 'n1'").to_pylist()[0]
    assert row == {"ts": datetime(2024, 3, 1, 10, 0), "properties": "{}"}


def test_a_reopened_warehouse_still_refuses_ids_it_already_stores(
        log: EventLog, tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "again.duckdb"
    first = DuckDBWarehouse(path)
    log.append(as_items([make_event(i) for i in range(4)]))
    assert loader_for(log, first, clock).run_once() == 4
    first.close()
    second = DuckDBWarehouse(path)
    try:
        log.append(as_items([make_event(i) for i in range(6)]))
        assert loader_for(log, second, clock).run_once() == 2
        assert count(second) == 6
    finally:
        second.close()


def test_ids_known_to_the_prefilter_but_absent_from_the_table_are_still_loaded(
        log: EventLog, warehouse: DuckDBWarehouse, clock: FakeClock) -> None:
    """Hash collisions and rows erased since (GDPR) must not make the loader drop new events."""
    events = [make_event(i) for i in range(3)]
    log.append(as_items(events))
    loader = loader_for(log, warehouse, clock)
    loader.run_once()
    warehouse.execute("DELETE FROM raw_events WHERE event_id = 'evt-1'")  # erased
    seen_ids(warehouse).add(np.array([_hash(warehouse, "evt-9")], dtype=np.uint64))  # a "collision"
    log.append(as_items([events[1], make_event(9)]))
    assert loader.run_once() == 2
    assert sorted(warehouse.query_arrow("SELECT event_id FROM raw_events")["event_id"].to_pylist()) == [
        "evt-0", "evt-1", "evt-2", "evt-9"]


def _hash(warehouse: DuckDBWarehouse, event_id: str) -> int:
    return int(warehouse.query_arrow("SELECT hash(?) AS h", [event_id])["h"][0].as_py())
