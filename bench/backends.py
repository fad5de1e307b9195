"""Scale-out backends benchmark: EventLog throughput per engine, and marts on DuckDB vs PostgreSQL.

(a) Per log backend (SQLite, PostgreSQL, Redis Streams, NATS JetStream): append messages/s (1,000-message batches,
    1 thread and 4 threads) and consume messages/s (read 5,000 + ack, one consumer) through
    hexlake's EventLog, next to the engine's own ceiling measured in the same run:
    SQLite ``executemany`` in one transaction per batch; PostgreSQL plain ``COPY`` of the same rows
    per batch (one commit each) and a plain range ``SELECT``; Redis pipelined ``XADD`` and
    ``XREADGROUP`` + pipelined ``XACK``; NATS concurrent ``publish`` + gather per batch and a durable
    pull consumer (``fetch`` 5,000 + ``ack``). hexlake's figure is also given as a ratio of the ceiling.
(b) Marts build time: the same raw events, the same SQLMesh models, on DuckDB and on PostgreSQL
    (cold build: plan + first run).

Run: ``.venv/bin/python -m bench.backends [--quick]`` (needs PostgreSQL, Redis and NATS JetStream on localhost;
``--logs nats --log-messages 2000 --skip-marts`` for a small run of one backend). Only the run with
neither ``--logs``, ``--log-messages`` nor ``--skip-marts`` writes ``bench/results/backends.json``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("SQLMESH__DISABLE_ANONYMIZED_ANALYTICS", "1")

import psycopg
import redis

from bench._common import write_result
from bench.log import make_events
from hexlake.log import AppendItem, LogConfig, open_log

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379/0"
NATS = "nats://127.0.0.1:4222"
BATCH = 1000


@contextmanager
def pg_database() -> Iterator[str]:
    name = f"hexlake_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def redis_prefix() -> Iterator[str]:
    prefix = f"hexlake_bench_{uuid.uuid4().hex[:8]}"
    try:
        yield prefix
    finally:
        client = redis.Redis.from_url(REDIS)
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.delete(key)
        client.close()


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def batches(items: list[AppendItem]) -> list[list[AppendItem]]:
    return [items[i:i + BATCH] for i in range(0, len(items), BATCH)]


# -- hexlake's EventLog ---------------------------------------------------------------------------

def hexlake_log(url: str, items: list[AppendItem]) -> dict[str, float]:
    config = LogConfig(visibility_timeout_s=600)
    log = open_log(url, config)
    n = len(items)
    log.create_group("bench", from_start=False)
    append_1 = n / timed(lambda: [log.append(b) for b in batches(items)])

    def four_threads() -> None:
        shares = [batches(items)[t::4] for t in range(4)]
        pool = [threading.Thread(target=lambda s=s: [log.append(b) for b in s]) for s in shares]
        for t in pool:
            t.start()
        for t in pool:
            t.join()

    append_4 = n / timed(four_threads)
    log.close()
    log = open_log(url, config)  # a consumer is another process: nothing of the appends is cached

    def consume() -> None:
        while msgs := log.read("bench", "c1", 5000):
            log.ack("bench", [m.offset for m in msgs])

    consumed = 2 * n / timed(consume)
    log.close()
    return {"append_1_thread": append_1, "append_4_threads": append_4, "consume": consumed}


# -- engine ceilings ------------------------------------------------------------------------------

def sqlite_ceiling(path: Path, items: list[AppendItem]) -> dict[str, float]:
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE m (off INTEGER PRIMARY KEY, key TEXT, event_id TEXT, payload BLOB)")

    def append() -> None:
        for b in batches(items):
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO m(key, event_id, payload) VALUES (?, ?, ?)",
                             [(i.key, i.event_id, i.payload) for i in b])
            conn.execute("COMMIT")

    def consume() -> None:
        lo = 0
        while rows := conn.execute("SELECT off, payload FROM m WHERE off > ? ORDER BY off LIMIT 5000",
                                   (lo,)).fetchall():
            lo = rows[-1][0]

    out = {"append": len(items) / timed(append), "consume": len(items) / timed(consume)}
    conn.close()
    return out


def pg_ceiling(url: str, items: list[AppendItem]) -> dict[str, float]:
    conn = psycopg.connect(url)
    conn.execute("CREATE TABLE m (off bigserial PRIMARY KEY, key text, event_id text, payload bytea)")
    conn.commit()

    def append() -> None:
        for b in batches(items):
            with conn.cursor().copy("COPY m (key, event_id, payload) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["text", "text", "bytea"])
                for i in b:
                    copy.write_row((i.key, i.event_id, i.payload))
            conn.commit()

    def consume() -> None:
        lo = 0
        while rows := conn.execute("SELECT off, payload FROM m WHERE off > %s ORDER BY off LIMIT 5000",
                                   (lo,)).fetchall():
            lo = rows[-1][0]
        conn.rollback()

    out = {"append": len(items) / timed(append), "consume": len(items) / timed(consume)}
    conn.execute("ALTER TABLE m ADD COLUMN status text NOT NULL DEFAULT 'pending'")
    conn.execute("CREATE INDEX m_pending ON m (off) WHERE status = 'pending'")
    conn.commit()

    def queue() -> None:  # the seed's pattern: claim with SKIP LOCKED and mark done, one statement
        while conn.execute("UPDATE m SET status = 'processed' WHERE off IN (SELECT off FROM m WHERE "
                           "status = 'pending' ORDER BY off LIMIT 5000 FOR UPDATE SKIP LOCKED) "
                           "RETURNING off, payload").fetchall():
            conn.commit()
        conn.commit()

    out["consume_skip_locked_queue"] = len(items) / timed(queue)
    conn.close()
    return out


def redis_ceiling(prefix: str, items: list[AppendItem]) -> dict[str, float]:
    client: Any = redis.Redis.from_url(REDIS)  # raw replies (bytes), as the bench reads them
    stream = f"{prefix}:ceiling"
    client.xgroup_create(stream, "g", id="0", mkstream=True)

    def append() -> None:
        for b in batches(items):
            pipe = client.pipeline(transaction=False)
            for i in b:
                pipe.xadd(stream, {"k": i.key, "e": i.event_id, "p": i.payload})
            pipe.execute()

    def consume() -> None:
        while res := client.xreadgroup("g", "c", {stream: ">"}, count=5000):
            ids = [entry_id for entry_id, _ in res[0][1]]
            if not ids:
                break
            client.xack(stream, "g", *ids)

    out = {"append": len(items) / timed(append), "consume": len(items) / timed(consume)}
    client.close()
    return out


def nats_ceiling(items: list[AppendItem]) -> dict[str, float]:
    """A plain nats-py loop on its own stream: concurrent publishes + gather per batch; a durable
    pull consumer fetching 5,000 at a time and acking each message."""
    import asyncio

    import nats
    from nats.js.api import ConsumerConfig

    stream = f"BENCH_CEILING_{uuid.uuid4().hex[:8]}"

    async def run() -> dict[str, float]:
        nc = await nats.connect(NATS)
        js = nc.jetstream()
        await js.add_stream(name=stream, subjects=[f"{stream}.*"])
        try:
            t0 = time.perf_counter()
            for b in batches(items):
                await asyncio.gather(*(js.publish(f"{stream}.0", i.payload) for i in b))
            append = len(items) / (time.perf_counter() - t0)
            # max_ack_pending above the fetch size: at the default (1,000) a fetch of 5,000 gets
            # 1,000 and then waits out its whole timeout for the rest
            sub = await js.pull_subscribe(f"{stream}.*", durable="c", stream=stream,
                                          config=ConsumerConfig(max_ack_pending=-1, ack_wait=600))
            t0, got = time.perf_counter(), 0
            while got < len(items):
                msgs = await sub.fetch(min(5000, len(items) - got), timeout=5)
                await asyncio.gather(*(m.ack() for m in msgs))
                got += len(msgs)
            return {"append": append, "consume": len(items) / (time.perf_counter() - t0)}
        finally:
            await js.delete_stream(stream)
            await nc.close()

    return asyncio.run(run())


def bench_logs(n: int, tmp: Path, only: set[str] | None = None) -> dict[str, Any]:
    items = make_events(n)
    results: dict[str, Any] = {}
    wanted = only or {"sqlite", "postgresql", "redis", "nats"}
    if "sqlite" in wanted:
        sqlite_hx = hexlake_log(f"sqlite:///{tmp / 'log.sqlite'}", items)
        results["sqlite"] = {"hexlake": sqlite_hx, "ceiling": sqlite_ceiling(tmp / "ceiling.sqlite", items)}
    if "postgresql" in wanted:
        with pg_database() as url:
            results["postgresql"] = {"hexlake": hexlake_log(url, items), "ceiling": pg_ceiling(url, items)}
    if "redis" in wanted:
        with redis_prefix() as prefix:
            results["redis"] = {"hexlake": hexlake_log(f"{REDIS}#{prefix}", items),
                                "ceiling": redis_ceiling(prefix, items)}
    if "nats" in wanted:
        from hexlake.log.backends.nats import NatsEventLog

        url = f"{NATS}/BENCH_{uuid.uuid4().hex[:8]}"
        try:
            results["nats"] = {"hexlake": hexlake_log(url, items), "ceiling": nats_ceiling(items)}
        finally:
            dropper = NatsEventLog(url)
            dropper.drop()
            dropper.close()
    for r in results.values():
        hx, ceil = r["hexlake"], r["ceiling"]
        r["ratio"] = {"append_1_thread": hx["append_1_thread"] / ceil["append"],
                      "append_4_threads": hx["append_4_threads"] / ceil["append"],
                      "consume": hx["consume"] / ceil["consume"]}
        if "consume_skip_locked_queue" in ceil:
            r["ratio"]["consume_vs_skip_locked_queue"] = hx["consume"] / ceil["consume_skip_locked_queue"]
    return results


# -- marts: DuckDB vs PostgreSQL ------------------------------------------------------------------

def bench_marts(n: int, tmp: Path) -> dict[str, Any]:
    from bench.transform import load
    from bench.transform import make_events as make_raw
    from hexlake.config import Settings
    from hexlake.runtime import Runtime
    from hexlake.transform.engine import TransformEngine
    from hexlake.warehouse import get_warehouse

    now = datetime.utcnow().replace(second=0, microsecond=0)
    table = make_raw(n, now - timedelta(days=30), now - timedelta(minutes=5), seed=11)
    out: dict[str, Any] = {"events": n}
    duck = Runtime(Settings(data_dir=tmp / "duck"))
    get_warehouse(duck).ensure_raw_tables()
    load(duck, table)
    csv = tmp / "raw.csv"
    get_warehouse(duck).execute(f"COPY raw_events TO '{csv}' (HEADER false)")
    out["duckdb_build_s"] = _build(TransformEngine(duck.settings), now)
    duck.close()
    with pg_database() as url:
        pg = Runtime(Settings(data_dir=tmp / "pg", warehouse_url=url))
        get_warehouse(pg).ensure_raw_tables()
        t0 = time.perf_counter()
        with psycopg.connect(url) as conn, conn.cursor().copy("COPY raw_events FROM STDIN (FORMAT csv)") as copy, \
                csv.open("rb") as f:
            while block := f.read(1 << 20):
                copy.write(block)
        out["postgres_load_s"] = time.perf_counter() - t0
        out["postgres_build_s"] = _build(TransformEngine(pg.settings), now)
        pg.close()
    out["postgres_over_duckdb"] = out["postgres_build_s"] / out["duckdb_build_s"]
    return out


def _build(engine: Any, now: datetime) -> float:
    t0 = time.perf_counter()
    report = engine.run(execution_time=now)
    engine.close()
    assert report.ok, report.error
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small smoke run (about a minute)")
    parser.add_argument("--skip-marts", action="store_true", help="only the log backends")
    parser.add_argument("--logs", help="comma-separated log backends (default: sqlite,postgresql,redis,nats)")
    parser.add_argument("--log-messages", type=int, help="messages per log backend (default 200,000)")
    args = parser.parse_args()
    n_log = args.log_messages or (20_000 if args.quick else 200_000)
    only = set(args.logs.split(",")) if args.logs else None
    n_marts = 50_000 if args.quick else 1_000_000
    tmp = Path(tempfile.mkdtemp(prefix="hexlake-bench-backends-"))
    load_before = os.getloadavg()
    started = time.perf_counter()
    try:
        data: dict[str, Any] = {"quick": args.quick, "log_messages": n_log, "logs": bench_logs(n_log, tmp, only)}
        print_logs(data["logs"])
        if not args.skip_marts:
            data["marts"] = bench_marts(n_marts, tmp)
            print(f"marts on {n_marts:,} events: {data['marts']}")
        data["load_avg_at_end"] = os.getloadavg()
        data["load_avg_at_start_of_run"] = load_before
        data["elapsed_s"] = round(time.perf_counter() - started, 1)
        partial = bool(args.logs or args.log_messages or args.skip_marts)  # never overwrite the full record
        path = write_result("backends_partial" if partial else "backends_quick" if args.quick else "backends", data)
        print(f"wrote {path} after {data['elapsed_s']} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def print_logs(logs: dict[str, Any]) -> None:
    for name, r in logs.items():
        hx, ceil, ratio = r["hexlake"], r["ceiling"], r["ratio"]
        print(f"{name:10} append 1t {hx['append_1_thread']:>9,.0f}/s  4t {hx['append_4_threads']:>9,.0f}/s"
              f"  (ceiling {ceil['append']:>9,.0f}/s, ratio {ratio['append_1_thread']:.2f}"
              f"/{ratio['append_4_threads']:.2f})  consume {hx['consume']:>9,.0f}/s"
              f" (ceiling {ceil['consume']:>9,.0f}/s, ratio {ratio['consume']:.2f})")
        if "consume_skip_locked_queue" in ceil:
            print(f"{'':10} plain SKIP LOCKED queue consume {ceil['consume_skip_locked_queue']:,.0f}/s "
                  f"(ratio {ratio['consume_vs_skip_locked_queue']:.2f})")


if __name__ == "__main__":
    main()
