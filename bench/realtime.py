"""Realtime benchmark: ingest → counter visibility, consumer throughput, online feature reads.

    python -m bench.realtime [--quick]

1. Online feature reads in-process (``SqliteOnlineStore``), batch 1 and 100, p50/p99, against
   Feast 0.67's SQLite online store numbers quoted in issue 5 (p99 0.6 ms / 18 ms).
2. The same reads over HTTP (a real ``hexlake serve`` with read-key auth, keep-alive client),
   against Feast's HTTP feature server (p99 13 ms / 43 ms).
3. Consumer throughput ceiling: each consumer alone draining a pre-filled SQLite log, events/s of
   wall time and per CPU-second (≈ per core: a consumer is one thread).
4. Under steady ingest (target 5,000 events/s over HTTP into the same server, consumers running in
   it), the time from "POST accepted" to "visible in a realtime counter", p50/p99.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench._common import free_port, machine_info, percentiles, start_server, write_result
from hexlake.config import Settings
from hexlake.features import SqliteOnlineStore, user_entity
from hexlake.gate.envelope import Event, encode_event
from hexlake.log import open_log
from hexlake.log.protocol import AppendItem
from hexlake.privacy.hashing import Hasher
from hexlake.privacy.secret import load_secret

FEAST = {"inproc_p99_ms": {"1": 0.6, "100": 18.0}, "http_p99_ms": {"1": 13.0, "100": 43.0}}
TARGET = {"inproc_p99_ms": {"1": 0.3, "100": 2.0}, "http_p99_ms": {"1": 3.0, "100": 10.0},
          "visibility_p99_s": 1.0}


def feature_row(i: int) -> dict[str, Any]:
    return {"user_key": f"{i:064x}", "window_start": "2026-01-01T00:00:00Z", "window_end": "2026-01-01T00:10:00Z",
            "final": False, "events_total": 12, "event_counts": {"location_ping": 8, "place_interaction": 4},
            "distinct_places": 3, "session_count": 1, "session_seconds_total": 420.0,
            "session_seconds_max": 420.0, "last_h3_r9": "89283082803ffff", "distance_m": 1234.5}


def fill_online(path: Path, hasher: Hasher, users: int) -> list[str]:
    store = SqliteOnlineStore(path)
    ids = [f"user-{i}" for i in range(users)]
    for i in range(0, users, 5000):
        store.put_many([(user_entity(hasher.user_key(u)), feature_row(j)) for j, u in
                        enumerate(ids[i:i + 5000], start=i)], ttl_s=86_400)
    store.close()
    return ids


def bench_inproc(path: Path, hasher: Hasher, ids: list[str], n: int) -> dict[str, Any]:
    store = SqliteOnlineStore(path)
    rng = random.Random(1)
    out: dict[str, Any] = {}
    for size, reps in (("1", n), ("100", max(n // 10, 200))):
        samples, cpu = [], []
        for _ in range(reps):
            batch = rng.sample(ids, int(size))
            t, c = time.perf_counter(), time.thread_time()
            keys = [user_entity(hasher.user_key(u)) for u in batch]  # hashing is part of the read
            got = store.get(keys[0]) if size == "1" else store.get_many(keys)
            cpu.append((time.thread_time() - c) * 1000)
            samples.append((time.perf_counter() - t) * 1000)
            assert got
        out[size] = {k: round(v, 4) for k, v in percentiles(samples).items()}
        # CPU time of the calling thread: what the read costs without being preempted by other load
        out[size]["cpu"] = {k: round(v, 4) for k, v in percentiles(cpu).items()}
    store.close()
    return out






def bench_http(url: str, key: str, ids: list[str], n: int) -> dict[str, Any]:
    rng = random.Random(2)
    out: dict[str, Any] = {}
    headers = {"authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers) as client:
        for _ in range(50):  # warm up
            client.get(f"/v1/features/users/{ids[0]}")
        for size, reps in (("1", n), ("100", max(n // 5, 200))):
            samples = []
            for _ in range(reps):
                batch = rng.sample(ids, int(size))
                t = time.perf_counter()
                if size == "1":
                    r = client.get(f"/v1/features/users/{batch[0]}")
                else:
                    r = client.post("/v1/features/users:batch", json={"user_ids": batch})
                samples.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200, r.text
            out[size] = {k: round(v, 3) for k, v in percentiles(samples).items()}
    return out


# --- consumer throughput ----------------------------------------------------------------------------
def synthetic_events(n: int, users: int = 2000) -> list[Event]:
    rng = random.Random(5)
    base = datetime.now(UTC).timestamp() - 3600
    evs = []
    for i in range(n):
        ts = base + i * (3000 / n) + rng.uniform(0, 20)
        lat, lng = 37.70 + rng.uniform(0, 0.15), -122.50 + rng.uniform(0, 0.15)
        import h3

        evs.append(Event(
            event_id=f"{i:012d}", event_type=rng.choice(["location_ping", "place_interaction", "page_view"]),
            schema_version=1, source="bench", ts=datetime.fromtimestamp(ts, UTC),
            received_at=datetime.fromtimestamp(ts, UTC), user_key=f"u{rng.randrange(users):06d}",
            session_id=f"s{i // 500}", properties={"place_id": f"p{rng.randrange(500)}"}, lat=lat, lng=lng,
            h3_r6=h3.latlng_to_cell(lat, lng, 6), h3_r9=h3.latlng_to_cell(lat, lng, 9)))
    return evs


def bench_consumers(tmp: Path, n: int) -> dict[str, Any]:
    import pyarrow.pandas_compat  # noqa: F401 - one-time import the Arrow upsert triggers; not throughput

    from hexlake.runtime import Runtime
    from hexlake.setup import initialise
    from hexlake.stream import runner
    from hexlake.stream.geofence_store import GeofenceStore
    from hexlake.stream.state import stream_db_path

    settings = Settings(data_dir=tmp / "consumers")
    initialise(settings)
    evs = synthetic_events(n)
    log = open_log(settings.resolved_log_url())
    for i in range(0, n, 2000):
        log.append([AppendItem(e.partition_key, e.event_id, encode_event(e)) for e in evs[i:i + 2000]])
    log.close()
    fences = GeofenceStore(stream_db_path(settings))
    rng = random.Random(9)
    for i in range(50):  # 50 geofences in the same area
        fences.create({"name": f"f{i}", "lat": 37.70 + rng.uniform(0, 0.15), "lng": -122.50 + rng.uniform(0, 0.15),
                       "radius_m": 300})
    runtime = Runtime(settings)
    results: dict[str, Any] = {}
    for which in ("counters", "features", "geofences"):
        consumer = runner.build_consumers(runtime, [which])[0]
        if which == "geofences":  # measure the operator, not the gate: count derived events instead
            derived: list[Any] = []

            def collect(_id: Any, items: list[Any], into: list[Any] = derived) -> None:
                into.extend(items)

            consumer.sinks["derived"] = collect
        wall, cpu = time.perf_counter(), time.process_time()
        consumer.run(threading.Event(), until_idle=True)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        results[which] = {"events": n, "wall_s": round(wall, 3), "events_per_s": round(n / wall),
                          "events_per_cpu_s": round(n / cpu)}
        if which == "geofences":
            results[which]["derived_events"] = len(derived)
    runtime.close()
    return results


# --- ingest → visible in a counter ------------------------------------------------------------------
def bench_visibility(url: str, write_key: str, stream_db: Path, rate: int, seconds: float,
                     senders: int = 4, batch: int = 250) -> dict[str, Any]:
    """``senders`` clients POST ``batch``-event requests on a fixed schedule totalling ``rate`` events/s.

    Each request carries one probe event of a unique type; a poller reads the counter store's file
    (read-only) and records when the probe's events-per-minute counter appears.
    """
    interval = batch * senders / rate
    pending: dict[str, float] = {}
    seen: list[float] = []
    lock = threading.Lock()
    sending_done = threading.Event()
    sent = [0] * senders
    behind = [0] * senders

    def poll() -> None:
        conn = sqlite3.connect(f"file:{stream_db}?mode=ro", uri=True, timeout=5)
        give_up = None
        while True:
            with lock:
                probes = dict(pending)
            if sending_done.is_set():
                give_up = give_up or time.perf_counter() + 30
                if not probes or time.perf_counter() > give_up:
                    return
            for ptype, t_acc in probes.items():
                try:
                    row = conn.execute("SELECT 1 FROM counters WHERE k LIKE ? LIMIT 1",
                                       (f"epm|%|{ptype}|%",)).fetchone()
                except sqlite3.OperationalError:
                    row = None  # table not created yet
                if row:
                    seen.append(time.perf_counter() - t_acc)
                    with lock:
                        pending.pop(ptype, None)
            time.sleep(0.005)

    def send(n: int, start: float) -> None:
        rng = random.Random(n)
        headers = {"authorization": f"Bearer {write_key}", "content-type": "application/json"}
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            i = 0
            while time.perf_counter() - start < seconds:
                due = start + (i + n / senders) * interval
                now = time.perf_counter()
                if now < due:
                    time.sleep(due - now)
                elif now - due > interval:
                    behind[n] += 1
                ptype = f"probe_{n}_{i}"
                ts = datetime.now(UTC).isoformat()
                items = [{"event_type": "location_ping", "user_id": f"user-{rng.randrange(5000)}",
                          "timestamp": ts, "properties": {"location": {
                              "lat": 37.7 + rng.uniform(0, 0.1), "lng": -122.5 + rng.uniform(0, 0.1)}}}
                         for _ in range(batch - 1)]
                items.append({"event_type": ptype, "user_id": "probe", "timestamp": ts})
                r = client.post("/v1/events", content=orjson.dumps({"batch": items}))
                t_acc = time.perf_counter()
                assert r.status_code == 200, r.text
                with lock:
                    pending[ptype] = t_acc
                sent[n] += batch
                i += 1

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    start = time.perf_counter()
    threads = [threading.Thread(target=send, args=(n, start)) for n in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    sending_done.set()
    poller.join(40)
    lat_ms = [v * 1000 for v in seen]
    return {"target_rate": rate, "achieved_rate": round(sum(sent) / elapsed), "events_sent": sum(sent),
            "senders": senders, "batch": batch, "requests_behind_schedule": sum(behind),
            "probes_seen": len(seen), "probes_lost": len(pending),
            "visible_ms": {k: round(v, 1) for k, v in percentiles(lat_ms).items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    args = parser.parse_args()
    quick = args.quick
    from hexlake.setup import initialise

    result: dict[str, Any] = {"quick": quick, "feast": FEAST, "targets": TARGET}
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        settings = Settings(data_dir=tmp / "server")
        keys = initialise(settings)
        hasher = Hasher(load_secret(settings.paths.secret))
        users = 10_000 if quick else 100_000
        ids = fill_online(settings.paths.online_db, hasher, users)
        result["online_users"] = users
        result["inproc_read_ms"] = bench_inproc(settings.paths.online_db, hasher, ids, 2000 if quick else 20_000)
        print("in-process reads (ms):", result["inproc_read_ms"], flush=True)
        n = 5_000 if quick else 50_000
        result["consumer_throughput"] = bench_consumers(tmp, n)
        print("consumers:", result["consumer_throughput"], flush=True)

        port = free_port()
        # the per-minute SQLMesh scheduler is a separate workload: keep its spikes out of these numbers
        base_env = {"HEXLAKE_STREAM__IDLE_SLEEP_S": "0.02", "HEXLAKE_TRANSFORM__SCHEDULER_ENABLED": "false"}
        server = start_server(settings.data_dir, port, base_env)
        try:
            url = f"http://127.0.0.1:{port}"
            result["http_read_ms"] = bench_http(url, keys["read_key"], ids, 500 if quick else 5000)
            print("http reads (ms):", result["http_read_ms"], flush=True)
            secs = 5 if quick else 20
            stream_db = settings.paths.root / "stream.sqlite"
            result["ingest_to_counter"] = {
                f"{rate}/s": bench_visibility(url, keys["write_key"], stream_db, rate, secs, senders, batch)
                for rate, senders, batch in ((200, 1, 20), (1000, 2, 100), (5000, 4, 250))}
            print("ingest→counter (all consumers in the server):", result["ingest_to_counter"], flush=True)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
        # the same 5,000/s with only the counters consumer in the server: what GIL sharing costs
        server = start_server(settings.data_dir, port, {**base_env, "HEXLAKE_STREAM__CONSUMERS": '["counters"]'})
        try:
            result["ingest_to_counter_counters_only"] = bench_visibility(
                url, keys["write_key"], stream_db, 5000, secs, 4, 250)
            print("ingest→counter (counters only):", result["ingest_to_counter_counters_only"], flush=True)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
    result["machine_end"] = {"load_avg_at_end": os.getloadavg()}
    result["machine_start"] = machine_info()
    path = write_result("realtime" + ("_quick" if quick else ""), result)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
