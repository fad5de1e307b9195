"""EventLog + raw loader benchmark.

(a) SQLite append rows/s, 100- and 1,000-event batches, 1 thread and 8 threads (group commit).
(b) Raw loader, log → DuckDB ``raw_events``, over ≥ 500k events (target ≥ 100,000 rows/s), with
    the time split into log read / DuckDB insert / ack.
(c) Same run, the ceiling: DuckDB ``INSERT … SELECT * FROM arrow_table`` of already-typed columns.
(d) Dedupe strategies on a pre-filled ``raw_events``: hash pre-filter (what the loader does) vs a
    full ``NOT EXISTS`` anti-join vs no check (and a DuckDB ART unique index with ``--with-art``).
(e) Decoders: polars NDJSON (the loader's fast path) vs msgspec per message (its fallback).
Every figure is given as wall rows/s and as rows per CPU-second of this process (steadier when
the machine is shared).

Run: ``.venv/bin/python -m bench.log [--quick] [--with-art]``. Events are ~600-byte envelopes.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa

from bench._common import write_result
from hexlake.gate.envelope import Event, encode_event
from hexlake.log import AppendItem, LogConfig, LogMessage, open_log
from hexlake.log.backends.sqlite import SqliteEventLog
from hexlake.warehouse import RawLoader
from hexlake.warehouse.backends.duckdb import DuckDBWarehouse
from hexlake.warehouse.config import WarehouseConfig
from hexlake.warehouse.frames import fast_table, slow_table
from hexlake.warehouse.schema import RAW_EVENTS_COLUMNS
from hexlake.warehouse.seen import seen_ids

EVENT_TYPES = ["place_interaction", "page", "track", "location_ping", "screen"]


def make_events(n: int, seed: int = 7) -> list[AppendItem]:
    """``n`` realistic envelopes (~600 bytes encoded), random UUIDv4 ids, ~2,000 users."""
    rnd = random.Random(seed)
    start = datetime(2024, 5, 1, tzinfo=UTC)
    users = [f"{rnd.getrandbits(256):064x}" for _ in range(2000)]
    out = []
    for i in range(n):
        ts = start + timedelta(seconds=i * 0.1)
        event = Event(
            event_id=str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
            event_type=EVENT_TYPES[i % len(EVENT_TYPES)], schema_version=1, source="ios", ts=ts,
            received_at=ts + timedelta(milliseconds=350), user_key=users[rnd.randrange(len(users))],
            session_id=f"s{rnd.randrange(10**6)}",
            properties={"place_id": f"pl_{rnd.randrange(10**5)}", "action": "view",
                        "duration_ms": rnd.randrange(10**5)},
            context={"app": {"version": "3.2.1"}, "os": {"name": "iOS", "version": "17.4"},
                     "locale": "en-US", "timezone": "Europe/Berlin"},
            lat=52.5 + rnd.random() / 10, lng=13.4 + rnd.random() / 10, accuracy_m=12.0,
            h3_r6="861f1d48fffffff", h3_r9="891f1d4810bffff", h3_r12="8c1f1d4810b01ff",
            consent={"precise_location": True}, retention="interaction")
        out.append(AppendItem(key=event.partition_key, event_id=event.event_id, payload=encode_event(event)))
    return out


# -- (a) appends --------------------------------------------------------------------------------

def bench_append(items: list[AppendItem], batch: int, threads: int, tmp: Path) -> dict[str, Any]:
    log = SqliteEventLog(tmp / f"append_{batch}_{threads}.sqlite", LogConfig())
    batches = [items[i:i + batch] for i in range(0, len(items), batch)]
    shares = [batches[t::threads] for t in range(threads)]
    gate = threading.Barrier(threads + 1)

    def worker(mine: list[list[AppendItem]]) -> None:
        gate.wait()
        for b in mine:
            log.append(b)

    pool = [threading.Thread(target=worker, args=(s,)) for s in shares]
    for th in pool:
        th.start()
    gate.wait()
    t0, c0 = time.perf_counter(), time.process_time()
    for th in pool:
        th.join()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    commits = log.commit_count
    log.close()
    return {"batch": batch, "threads": threads, "rows": len(items), "seconds": round(elapsed, 3),
            "rows_per_s": round(len(items) / elapsed), "rows_per_cpu_s": round(len(items) / cpu),
            "append_calls": len(batches), "commits": commits}


# -- (b) loader ----------------------------------------------------------------------------------

def bench_loader(items: list[AppendItem], tmp: Path) -> dict[str, Any]:
    log = open_log(f"sqlite:///{tmp / 'loader_log.sqlite'}", LogConfig())
    for i in range(0, len(items), 5000):
        log.append(items[i:i + 5000])
    warehouse = DuckDBWarehouse(tmp / "loader.duckdb")
    loader = RawLoader(log, warehouse, WarehouseConfig())
    phases = {"read": 0.0, "insert": 0.0, "ack": 0.0}
    _time_method(log, "read", phases, "read")
    _time_method(log, "ack", phases, "ack")
    _time_method(loader, "insert_table", phases, "insert")
    t0, c0 = time.perf_counter(), time.process_time()
    inserted = loader.run_once()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    stored = warehouse.query_arrow("SELECT count(*) AS n FROM raw_events")["n"][0].as_py()
    log.close()
    warehouse.close()
    return {"events": len(items), "inserted": inserted, "stored": stored, "seconds": round(elapsed, 3),
            "rows_per_s": round(len(items) / elapsed), "rows_per_cpu_s": round(len(items) / cpu),
            "target_rows_per_s": 100_000,
            "phase_seconds": {k: round(v, 3) for k, v in phases.items()},
            "decode_and_other_seconds": round(elapsed - sum(phases.values()), 3)}


def _time_method(obj: Any, name: str, phases: dict[str, float], phase: str) -> None:
    original = getattr(obj, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            phases[phase] += time.perf_counter() - t0

    setattr(obj, name, timed)


# -- (c) ceiling ---------------------------------------------------------------------------------

def typed_table(items: list[AppendItem], first_offset: int = 1) -> pa.Table:
    """The rows as Arrow columns already in raw_events types (what a free decoder would give)."""
    events = [msgspec.json.decode(i.payload, type=Event) for i in items]
    now = datetime.now(UTC).replace(tzinfo=None)
    cols: dict[str, Any] = {}
    for name, _ in RAW_EVENTS_COLUMNS:
        if name in ("ts", "received_at"):
            cols[name] = pa.array([getattr(e, name).replace(tzinfo=None) for e in events], pa.timestamp("us"))
        elif name in ("properties", "context", "consent"):
            cols[name] = pa.array([msgspec.json.encode(getattr(e, name)).decode() for e in events], pa.string())
        elif name == "log_offset":
            cols[name] = pa.array(range(first_offset, first_offset + len(events)), pa.int64())
        elif name == "load_date":
            cols[name] = pa.array([now.date()] * len(events), pa.date32())
        elif name == "loaded_at":
            cols[name] = pa.array([now] * len(events), pa.timestamp("us"))
        else:
            cols[name] = pa.array([getattr(e, name) for e in events])
    return pa.table(cols)


def bench_ceiling(items: list[AppendItem], tmp: Path, batch: int = 20_000) -> dict[str, Any]:
    warehouse = DuckDBWarehouse(tmp / "ceiling.duckdb")
    warehouse.ensure_raw_tables()
    tables = [typed_table(items[i:i + batch], i + 1) for i in range(0, len(items), batch)]
    cur = warehouse.cursor()
    t0, c0 = time.perf_counter(), time.process_time()
    for table in tables:
        cur.register("arrow_batch", table)
        cur.execute("INSERT INTO raw_events SELECT * FROM arrow_batch")
        cur.unregister("arrow_batch")
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    warehouse.close()
    return {"rows": len(items), "seconds": round(elapsed, 3), "rows_per_s": round(len(items) / elapsed),
            "rows_per_cpu_s": round(len(items) / cpu)}


# -- (d) dedupe strategies, (e) decoders -----------------------------------------------------------

PREFILL_SQL = (
    "INSERT INTO raw_events SELECT uuid()::VARCHAR, 'page', 1, 'ios', NULL, NULL, NULL, "
    "TIMESTAMP '2024-01-01', TIMESTAMP '2024-01-01', '{}', '{}', NULL, NULL, NULL, NULL, NULL, NULL, "
    "'{}', NULL, -i, current_date, TIMESTAMP '2024-01-01' FROM range(?) t(i)")


def messages_of(items: list[AppendItem]) -> list[LogMessage]:
    return [LogMessage(i + 1, it.key, it.event_id, it.payload, 1) for i, it in enumerate(items)]


def bench_dedupe(items: list[AppendItem], prefill: int, tmp: Path, with_art: bool,
                 batch: int = 20_000) -> dict[str, Any]:
    """Insert already-decoded batches into a pre-filled raw_events under each dedupe strategy."""
    messages = messages_of(items)
    now = datetime.now(UTC).replace(tzinfo=None)
    tables = [fast_table(messages[i:i + batch], now) for i in range(0, len(messages), batch)]
    strategies = ["hash_prefilter (loader)", "not_exists_full_table", "no_check"]
    strategies += ["art_unique_index_or_ignore"] if with_art else []
    out: dict[str, Any] = {"prefilled_rows": prefill, "loaded_rows": len(items)}
    for n, label in enumerate(strategies):
        wh = DuckDBWarehouse(tmp / f"dedupe_{n}.duckdb")
        wh.ensure_raw_tables()
        wh.execute(PREFILL_SQL, [prefill])
        t_setup = time.perf_counter()
        if label.startswith("art"):
            wh.execute("CREATE UNIQUE INDEX raw_events_event_id ON raw_events(event_id)")
        if label.startswith("hash_prefilter"):
            seen_ids(wh)  # built once per process start from the stored ids: setup, not per batch
        setup_s = time.perf_counter() - t_setup
        wh.execute("CHECKPOINT")
        t0, c0 = time.perf_counter(), time.process_time()
        if label.startswith("hash_prefilter"):
            loader = RawLoader(open_log("memory://"), wh, WarehouseConfig())
            for table in tables:
                loader.insert_table(table)
        else:
            sql = {"not_exists_full_table": "INSERT INTO raw_events SELECT * FROM staged s WHERE NOT EXISTS "
                                            "(SELECT 1 FROM raw_events r WHERE r.event_id = s.event_id)",
                   "no_check": "INSERT INTO raw_events SELECT * FROM staged",
                   "art_unique_index_or_ignore": "INSERT OR IGNORE INTO raw_events SELECT * FROM staged"}[label]
            cur = wh.cursor()
            for table in tables:
                cur.register("staged", table)
                cur.execute(sql)
                cur.unregister("staged")
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        out[label] = {"rows_per_s": round(len(items) / elapsed), "rows_per_cpu_s": round(len(items) / cpu),
                      "seconds": round(elapsed, 3), "setup_seconds": round(setup_s, 2)}
        wh.close()
        print(f"  dedupe {label:30s} {out[label]['rows_per_s']:>8} rows/s "
              f"{out[label]['rows_per_cpu_s']:>8} rows/CPU-s", flush=True)
    return out


def bench_decoders(items: list[AppendItem], batch: int = 20_000) -> dict[str, Any]:
    """CPU cost of turning payloads into a raw_events Arrow table: polars (loader) vs msgspec."""
    messages = messages_of(items)
    now = datetime.now(UTC).replace(tzinfo=None)
    out: dict[str, Any] = {}
    for label, fn in (("polars_ndjson (loader fast path)", fast_table),
                      ("msgspec per message (fallback path)", lambda m, t: slow_table(m, t)[0])):
        c0 = time.process_time()
        for i in range(0, len(messages), batch):
            fn(messages[i:i + batch], now)
        out[label] = {"rows_per_cpu_s": round(len(messages) / (time.process_time() - c0))}
        print(f"  decode {label:36s} {out[label]['rows_per_cpu_s']:>8} rows/CPU-s", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (seconds, not minutes)")
    parser.add_argument("--with-art", action="store_true", help="also time a DuckDB ART unique index (slow)")
    args = parser.parse_args()
    append_rows, loader_rows, prefill = (20_000, 50_000, 200_000) if args.quick else (100_000, 500_000, 2_000_000)
    items = make_events(loader_rows)
    payload_bytes = sum(len(i.payload) for i in items) / len(items)
    print(f"{len(items)} events, mean payload {payload_bytes:.0f} bytes", flush=True)
    result: dict[str, Any] = {"quick": args.quick, "mean_payload_bytes": round(payload_bytes)}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        result["append"] = []
        for batch in (100, 1000):
            for threads in (1, 8):
                row = bench_append(items[:append_rows], batch, threads, tmp)
                result["append"].append(row)
                print(f"  append batch={batch:<5} threads={threads}  {row['rows_per_s']:>8} rows/s  "
                      f"{row['rows_per_cpu_s']:>8} rows/CPU-s  "
                      f"({row['append_calls']} calls, {row['commits']} commits)", flush=True)
        result["loader"] = bench_loader(items, tmp)
        print(f"  loader {result['loader']['rows_per_s']} rows/s, {result['loader']['rows_per_cpu_s']} rows/CPU-s"
              f"  phases {result['loader']['phase_seconds']}", flush=True)
        result["ceiling_insert_arrow"] = bench_ceiling(items, tmp)
        ceiling = result["ceiling_insert_arrow"]
        print(f"  ceiling INSERT … SELECT * FROM arrow {ceiling['rows_per_s']} rows/s, "
              f"{ceiling['rows_per_cpu_s']} rows/CPU-s", flush=True)
        result["decode"] = bench_decoders(items[:100_000])
        result["dedupe"] = bench_dedupe(items[:100_000], prefill, tmp, args.with_art)
    print(write_result("log", result))


if __name__ == "__main__":
    main()
