"""Python SDKs → a local hexlake server: hexlake's SDK vs segment-analytics-python, same run.

    python -m bench.sdk [--quick]

* throughput: events/s from one Python process, from the first ``track()`` until the server
  acknowledged the last event — hexlake's ``Client`` (→ ``POST /v1/events``) vs the official
  ``segment-analytics-python`` (→ hexlake's ``POST /v1/batch``), each with its default batching;
* app-thread overhead: µs per ``track()`` call in the caller's thread while the SDK's worker is
  delivering (the target for hexlake's SDK is < 20 µs), for both libraries;
* exactness: every event of both runs is counted in the server's log (no loss, no duplicate).

The server runs in a subprocess without background services (the collector alone).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench._common import free_port, percentiles, start_server, write_result
from hexlake.config import Settings


def run_hexlake(url: str, key: str, n: int) -> dict[str, Any]:
    from hexlake.client import Client

    client = Client(key, url)
    ids: list[str | None] = []
    t0 = time.perf_counter()
    for i in range(n):
        ids.append(client.track("track", {"event": "Viewed", "value": i}, user_id=f"user-{i % 1000}"))
    app_s = time.perf_counter() - t0
    assert client.flush(timeout=600), "hexlake client did not drain"
    total_s = time.perf_counter() - t0
    stats = client.stats
    client.shutdown()
    return {"events": n, "seconds": total_s, "events_per_s": n / total_s, "app_thread_us_per_track":
            app_s / n * 1e6, "stats": stats, "ids": ids}


def run_segment(url: str, key: str, n: int) -> dict[str, Any]:
    from segment.analytics import Client as SegmentClient

    errors: list[Any] = []
    # Queue sized for the run so the library does not drop (its default holds 10,000).
    client = SegmentClient(write_key=key, host=url, max_queue_size=n + 1, on_error=lambda e, b: errors.append(e))
    ids: list[str] = []
    t0 = time.perf_counter()
    for i in range(n):
        ids.append(client.track(f"user-{i % 1000}", "Viewed", {"value": i})[1]["messageId"])
    app_s = time.perf_counter() - t0
    client.flush()
    client.join()
    total_s = time.perf_counter() - t0
    return {"events": n, "seconds": total_s, "events_per_s": n / total_s,
            "app_thread_us_per_track": app_s / n * 1e6, "errors": len(errors), "ids": ids}


def track_overhead(url: str, key: str, n: int) -> dict[str, Any]:
    """Per-call latency of hexlake's ``track()`` (worker delivering meanwhile), nearest-rank."""
    from hexlake.client import Client

    client = Client(key, url)
    samples: list[float] = []
    props = {"event": "Viewed", "value": 1}
    clock = time.perf_counter_ns
    for i in range(n):
        t = clock()
        client.track("track", props, user_id="user-1")
        samples.append((clock() - t) / 1000)
        if i % 1000 == 999:
            time.sleep(0.002)  # an app does other work between calls
    client.flush(timeout=600)
    client.shutdown()
    return {"calls": n, "us": percentiles(samples, (50, 90, 99, 99.9)), "mean_us": sum(samples) / n}


def log_counts(data_dir: Path, ids: set[str]) -> dict[str, int]:
    from hexlake.gate.envelope import decode_event
    from hexlake.log import open_log

    log = open_log(f"sqlite:///{data_dir / 'log.sqlite'}")
    group = f"bench-verify-{time.monotonic_ns()}"  # a fresh group reads the whole log again
    log.create_group(group, from_start=True)
    seen: Counter[str] = Counter()
    while batch := log.read(group, "v", 10_000, visibility_timeout_s=600):
        seen.update(e for m in batch if (e := decode_event(m.payload).event_id) in ids)
        log.ack(group, [m.offset for m in batch])
    log.close()
    return {"expected": len(ids), "found": len(seen), "max_copies": max(seen.values(), default=0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--events", type=int, default=None, help="events per library")
    args = parser.parse_args()
    n = args.events or (5_000 if args.quick else 50_000)
    from hexlake.setup import initialise

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        key = initialise(Settings(data_dir=data_dir))["write_key"]
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(data_dir, port, background=False)
        try:
            run_hexlake(url, key, min(n, 2000))  # warm-up: connections, JIT-free caches, server paths
            hexlake = run_hexlake(url, key, n)
            segment = run_segment(url, key, n)
            overhead = track_overhead(url, key, n)
        finally:
            server.terminate()
            server.wait(timeout=60)
        hexlake_ids, segment_ids = set(hexlake.pop("ids")), set(segment.pop("ids"))
        exact = {"hexlake": log_counts(data_dir, hexlake_ids), "segment": log_counts(data_dir, segment_ids)}
    result = {
        "quick": args.quick, "events_per_library": n,
        "hexlake_sdk": hexlake, "segment_analytics_python": segment,
        "speedup_vs_segment": hexlake["events_per_s"] / segment["events_per_s"],
        "track_overhead": overhead, "target_us": 20, "exactly_once": exact,
        "load_avg_at_end": os.getloadavg(),
    }
    path = write_result("sdk", result)
    print(f"hexlake SDK      : {hexlake['events_per_s']:>9,.0f} events/s "
          f"(app thread {hexlake['app_thread_us_per_track']:.1f} µs/track)")
    print(f"segment-analytics: {segment['events_per_s']:>9,.0f} events/s "
          f"(app thread {segment['app_thread_us_per_track']:.1f} µs/track)")
    print(f"track() overhead : mean {overhead['mean_us']:.1f} µs, p50 {overhead['us']['p50']:.1f} µs, "
          f"p99 {overhead['us']['p99']:.1f} µs (target < 20 µs)")
    print(f"exactly once     : {exact}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
