"""Privacy lifecycle: erase one person from a data dir holding N events with every layer populated
(log, raw, staging, marts built, online store and stream state, quarantine), and export a person
with 10k events.

Targets (issue 15): erase ≤ 5 s p50 at 1M events; export of 10k events ≤ 2 s.

Events are sent in event-time order (a live app). Each erasure is of a fresh, ordinary user
(N / users events spread over the last 10 days, so their days reach past the transform's
lookback). Measured beside it, in the same run and data dir:
a plain DuckDB ``DELETE`` of the same person's ``raw_events`` rows (rolled back), the cold
transform build (a from-scratch rebuild), the transform run that then recomputes the queued days,
and one erasure with ``wait=True`` (recomputing the marts before returning, the former behaviour).

    .venv/bin/python -m bench.privacy                   # 1M events, 2,000 users, 5 erasures
    .venv/bin/python -m bench.privacy --events 50000 --users 100   # smoke run (~500 events a user too)
    .venv/bin/python -m bench.privacy --keep /tmp/dd    # build once into /tmp/dd, reuse it next time

Writes bench/results/privacy.json at full size (or with ``--write``).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
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
DAYS = 10  # more than the lookback (3): erased days are restated both inside and outside it


def events(n: int, users: int, heavy: int, seed: int = 11) -> list[dict[str, Any]]:
    """Per user an identify (email), then pings, place interactions, tracks (some naming another
    user), logins; ``heavy`` of them belong to HEAVY; one in 1,000 is refused (quarantine)."""
    rng = random.Random(seed)
    now = datetime.now(UTC) - timedelta(hours=1)
    start = now - timedelta(days=DAYS)
    out: list[dict[str, Any]] = []
    for u in [HEAVY, *(f"user-{i}" for i in range(users))]:
        out.append({"event_id": f"id-{u}", "event_type": "identify", "user_id": u, "timestamp": start.isoformat(),
                    "properties": {"email": f"{u}@example.org", "plan": "pro"}})
    for i in range(n - len(out)):
        user = HEAVY if i < heavy else f"user-{rng.randrange(users)}"
        t = (now - timedelta(seconds=rng.randrange(DAYS * 86_400))).isoformat()
        kind = i % 20
        if kind < 9:
            out.append({"event_id": f"e{i}", "event_type": "location_ping", "user_id": user, "timestamp": t,
                        "location": {"lat": 48.80 + rng.random() / 10, "lng": 2.30 + rng.random() / 10,
                                     "accuracy": 10}})
        elif kind < 17:
            out.append({"event_id": f"e{i}", "event_type": "place_interaction", "user_id": user, "timestamp": t,
                        "properties": {"interaction_type": "check_in", "place_id": f"p{rng.randrange(500)}"}})
        elif kind < 19:
            out.append({"event_id": f"e{i}", "event_type": "track", "user_id": user, "timestamp": t,
                        "properties": {"event": "Followed", "followed_user_id": f"user-{rng.randrange(users)}"}})
        else:
            out.append({"event_id": f"e{i}", "event_type": "login", "user_id": user, "timestamp": t,
                        "properties": {"method": "password"}})
        if i % 1000 == 999:  # refused at the gate: quarantined with its raw payload
            out.append({"event_id": f"bad{i}", "event_type": "location_ping", "user_id": user, "timestamp": t,
                        "properties": {"speed_mps": "fast"}})
    # Sent in event-time order, as a live app sends them: the stream consumers keep few late events
    # (an import of old history would make each consumer's late_events table hold all of it).
    return sorted(out, key=lambda e: e["timestamp"])


def populate(runtime: Runtime, items: list[dict[str, Any]]) -> dict[str, float]:
    """Every layer: log, raw, stream state and online store, staging and marts (cold build)."""
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
    timings["transform_cold_build_s"] = time.perf_counter() - t0
    return timings


def plain_delete_s(runtime: Runtime, user_id: str) -> tuple[float, int]:
    """Baseline: a plain DuckDB DELETE of the person's raw_events rows by user_key, rolled back."""
    from hexlake.privacy.erase import subject_of
    from hexlake.warehouse import get_warehouse

    cur = get_warehouse(runtime).cursor()
    key = subject_of(runtime, user_id).user_key
    cur.execute("BEGIN")
    t0 = time.perf_counter()
    n = len(cur.execute("DELETE FROM main.raw_events WHERE user_key = ? RETURNING 1", [key]).fetchall())
    took = time.perf_counter() - t0
    cur.execute("ROLLBACK")
    return took, n


def layer_counts(runtime: Runtime) -> dict[str, int]:
    """What the data dir holds, to show every layer is populated."""
    from hexlake.warehouse import get_warehouse

    cur = get_warehouse(runtime).cursor()
    counts = {t: int(cur.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
              for t in ("main.raw_events", "staging.stg_events", "marts.event_aggregations",
                        "marts.marts_core_user_activity_daily", "features.user_features")}
    sizes = {p.name: p.stat().st_size for p in runtime.paths.root.rglob("*.sqlite") if p.is_file()}
    return {**counts, **{f"bytes {k}": v for k, v in sorted(sizes.items())}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--users", type=int, default=2_000)
    ap.add_argument("--erasures", type=int, default=5, help="fresh users erased (p50 over them)")
    ap.add_argument("--export-events", type=int, default=10_000, help="events of the exported person")
    ap.add_argument("--keep", type=Path, help="data dir to build once and reuse (later runs erase other users)")
    ap.add_argument("--write", action="store_true", help="write bench/results/privacy.json below full size")
    args = ap.parse_args()
    os.environ.setdefault("SQLMESH__DISABLE_ANONYMIZED_ANALYTICS", "1")
    from hexlake.privacy.erase import erase
    from hexlake.privacy.export import export_zip

    tmp = Path(tempfile.mkdtemp(prefix="bench-privacy-"))
    data = args.keep or tmp / "data"
    reuse = (data / "secret.key").exists()
    settings = Settings(data_dir=data)
    if not reuse:
        initialise(settings)
    runtime = Runtime(settings)
    try:
        build: dict[str, float] = {}
        if not reuse:
            ops.get("sources_create")(runtime, name="bench")
            build = populate(runtime, events(args.events, args.users, args.export_events))
        held = layer_counts(runtime)
        done = runtime.paths.root / "bench-erased.txt"  # users erased by earlier runs on a kept dir
        first = int(done.read_text()) if done.exists() else 0
        users = [f"user-{first + i}" for i in range(args.erasures + 1)]
        done.write_text(str(first + len(users)))

        t0 = time.perf_counter()
        written = export_zip(runtime, HEAVY, tmp / "export.zip")
        export_s = time.perf_counter() - t0

        baseline = [plain_delete_s(runtime, u) for u in users[:-1]]
        reports = [erase(runtime, u) for u in users[:-1]]
        samples = [r.seconds for r in reports]
        t0 = time.perf_counter()
        run = ops.get("transform_run")(runtime)
        queued_run_s = time.perf_counter() - t0
        from hexlake.warehouse import get_warehouse, intervals

        left = len(intervals.touched(get_warehouse(runtime).cursor()))  # the run consumed the queued days
        waited = erase(runtime, users[-1], wait=True)
    finally:
        runtime.close()
        shutil.rmtree(tmp, ignore_errors=True)
    steps = {k: statistics.median(r.all_steps().get(k, 0.0) for r in reports) for k in reports[0].all_steps()}
    result = {
        "events": args.events, "users": args.users, "erasures": len(samples), "build": build, "held": held,
        "erase_s": percentiles(samples), "erase_s_median": statistics.median(samples),
        "erase_steps_median_s": {k: round(v, 3) for k, v in steps.items()},
        "erased_rows_median": statistics.median(sum(x.before for x in r.layers) for r in reports),
        "erasures_clean": all(r.clean for r in reports), "restated": reports[0].restated,
        "baseline_plain_delete_raw_s_median": statistics.median(b[0] for b in baseline),
        "baseline_plain_delete_raw_rows_median": statistics.median(b[1] for b in baseline),
        "queued_transform_run_s": queued_run_s, "queued_run_restated": run.get("restated"),
        "queued_days_left_after_the_run": left,
        "erase_wait_s": waited.seconds, "erase_wait_clean": waited.clean,
        "export_events": args.export_events, "export_s": export_s, "export_files": written,
    }
    print(f"erase p50 {result['erase_s_median']:.2f} s over {len(samples)} fresh users "
          f"({'clean' if result['erasures_clean'] else 'NOT CLEAN'}; steps {result['erase_steps_median_s']}); "
          f"plain DELETE of raw rows {result['baseline_plain_delete_raw_s_median']:.3f} s; "
          f"the queued restate ran in {queued_run_s:.1f} s; erase --wait {waited.seconds:.1f} s; "
          f"export of {args.export_events} events {export_s:.2f} s; build {build}")
    if args.events >= 1_000_000 or args.write:
        print("wrote", write_result("privacy", {**result, "machine": machine_info()}))


if __name__ == "__main__":
    main()
