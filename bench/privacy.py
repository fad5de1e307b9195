"""Privacy lifecycle: erase one person from a data dir holding N events with every layer populated
(log, raw, staging, marts, online store, stream state), and export a person with 10k events.

Targets (issue 15): erase ≤ 5 s p50 at 1M events; export of 10k events ≤ 2 s.

    .venv/bin/python -m bench.privacy               # 1M events, 2,000 users, 3 erasures
    .venv/bin/python -m bench.privacy --quick       # smoke run: 3,000 events, numbers not meaningful
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._common import machine_info, percentiles, write_result
from hexlake.config import Settings
from hexlake.runtime import Runtime
from hexlake.serve import operations as ops
from hexlake.setup import initialise

HEAVY = "heavy-user"


def events(n: int, users: int, heavy: int, seed: int = 11) -> list[dict[str, Any]]:
    """Pings and place interactions over the last 6 days; ``heavy`` of them belong to HEAVY."""
    rng = random.Random(seed)
    now = datetime.now(UTC) - timedelta(hours=1)
    out = []
    for i in range(n):
        user = HEAVY if i < heavy else f"user-{rng.randrange(users)}"
        t = now - timedelta(seconds=rng.randrange(6 * 86_400))
        lat, lng = 48.80 + rng.random() / 10, 2.30 + rng.random() / 10
        if i % 2:
            out.append({"event_id": f"e{i}", "event_type": "location_ping", "user_id": user, "timestamp": t.isoformat(),
                        "location": {"lat": lat, "lng": lng, "accuracy": 10}})
        else:
            out.append({"event_id": f"e{i}", "event_type": "place_interaction", "user_id": user,
                        "timestamp": t.isoformat(), "properties": {"interaction_type": "check_in",
                                                                   "place_id": f"p{rng.randrange(500)}"}})
    return out


def populate(runtime: Runtime, items: list[dict[str, Any]]) -> dict[str, float]:
    from hexlake.stream.runner import build_consumers

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    for i in range(0, len(items), 1000):
        ops.get("send")(runtime, items[i:i + 1000], source="bench")
    timings["ingest_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    while ops.get("load_once")(runtime).get("rows", 0):
        pass
    timings["load_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for consumer in build_consumers(runtime):
        while consumer.step():
            pass
        consumer.deliver_outbox()
    timings["stream_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ops.get("transform_run")(runtime)
    timings["transform_s"] = time.perf_counter() - t0
    return timings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3,000 events: a smoke run")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--users", type=int, default=2_000)
    ap.add_argument("--erasures", type=int, default=3)
    ap.add_argument("--export-events", type=int, default=10_000, help="events of the exported person")
    args = ap.parse_args()
    n, heavy = (3_000, 300) if args.quick else (args.events, args.export_events)
    from hexlake.privacy.erase import erase
    from hexlake.privacy.export import export_zip

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data")
        initialise(settings)
        runtime = Runtime(settings)
        ops.get("sources_create")(runtime, name="bench")
        try:
            build = populate(runtime, events(n, args.users, heavy))
            t0 = time.perf_counter()
            written = export_zip(runtime, HEAVY, Path(tmp) / "export.zip")
            export_s = time.perf_counter() - t0
            samples, clean = [], True
            for i in range(args.erasures):
                report = erase(runtime, f"user-{i}")
                samples.append(report.seconds)
                clean = clean and report.clean
        finally:
            runtime.close()
    result = {"events": n, "users": args.users, "build": build, "erase_s": percentiles(samples),
              "erase_s_median": statistics.median(samples), "erasures_clean": clean,
              "export_events": heavy, "export_s": export_s, "export_files": len(written),
              "quick": args.quick, "machine": machine_info()}
    print(f"erase p50 {result['erase_s_median']:.2f} s over {len(samples)} ({'clean' if clean else 'NOT CLEAN'}), "
          f"export of {heavy} events {export_s:.2f} s, data dir of {n} events built in "
          f"{sum(build.values()):.0f} s")
    if not args.quick:
        write_result("privacy", result)


if __name__ == "__main__":
    main()
