"""Restatement benchmark: 1,000 late events spread over 30 past days inside N events, restated by
a normal run, against a full rebuild of every model, in the same run and data dir.

    .venv/bin/python -m bench.restate [--quick] [--events N]

1. N events (1M; 50k with --quick) over the 90 days before a fixed execution time, straight into
   ``raw_events``; cold build (``transform run``).
2. 1,000 late events with event times 4..33 days back (outside the 3-day lookback) are loaded
   and their days recorded as the raw loader does (``warehouse.intervals.record``).
3. ``transform run``: restates exactly those days in each model, plus its normal window.
4. Full rebuild: ``transform restate`` over every day since the first event, all models.
5. Every mart's row count and content hash after 3 must equal the ones after 4 (exactness).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bench._common import write_result
from bench.transform import load, make_events
from hexlake.config import Settings
from hexlake.runtime import Runtime
from hexlake.transform import operations
from hexlake.transform.marts import MARTS
from hexlake.warehouse import get_warehouse, intervals


def late_events(n: int, now: datetime, seed: int) -> pa.Table:
    """``n`` events whose times fall on the 30 days 4..33 days before ``now`` (one 30-day spread)."""
    table = make_events(n, now - timedelta(days=33), now - timedelta(days=4), seed=seed, id0=10**9)
    arrived = pa.array(np.full(n, np.datetime64(now - timedelta(minutes=1)), dtype="datetime64[us]"))
    for name in ("received_at", "loaded_at"):
        table = table.set_column(table.schema.get_field_index(name), name, arrived)
    return table.set_column(table.schema.get_field_index("load_date"), "load_date",
                            pc.cast(arrived, pa.date32()))


def fingerprints(runtime: Runtime) -> dict[str, Any]:
    """Per mart: (rows, order-independent hash of every row)."""
    cur = get_warehouse(runtime).cursor()
    return {m: cur.execute(f"SELECT COUNT(*), bit_xor(hash(t)) FROM marts.{m} AS t").fetchone() for m in MARTS}


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--events", type=int, default=None, help="Events in the warehouse (default 1M).")
    ap.add_argument("--late", type=int, default=1000, help="Late events spread over 30 past days.")
    args = ap.parse_args()
    n = args.events or (50_000 if args.quick else 1_000_000)
    tmp = Path(tempfile.mkdtemp(prefix="hexlake-bench-restate-"))
    runtime = Runtime(Settings(data_dir=tmp / "data"))
    now = datetime.utcnow().replace(second=0, microsecond=0)
    try:
        load(runtime, make_events(n, now - timedelta(days=90), now - timedelta(minutes=5), seed=1))
        cold_s, _ = timed(operations.run, runtime, execution_time=now, trigger="bench")
        late = late_events(args.late, now, seed=5)
        load(runtime, late)
        intervals.record(get_warehouse(runtime), late)  # what the raw loader does after each batch
        restate_s, report = timed(operations.run, runtime, execution_time=now, trigger="bench")
        after_restate = fingerprints(runtime)
        first = (now - timedelta(days=91)).date().isoformat()
        full_s, full = timed(operations.restate_range, runtime, from_day=first,
                             to_day=now.date().isoformat(), execution_time=now)
        after_full = fingerprints(runtime)
        differing = sorted(m for m in MARTS if after_restate[m] != after_full[m])
        result = {
            "events": n, "late_events": args.late, "late_days": len(report["restated"]["days"]),
            "cold_build_s": round(cold_s, 2), "restate_run_s": round(restate_s, 2),
            "full_rebuild_s": round(full_s, 2), "restate_vs_full_ratio": round(restate_s / full_s, 3),
            "restate_evaluations": len(report["evaluations"]), "full_evaluations": len(full["evaluations"]),
            "marts_equal_full_rebuild": not differing, "differing_marts": differing, "quick": args.quick,
        }
        print(result)
        if args.events is None:  # a custom size is a check, not a result
            write_result("restate" + ("_quick" if args.quick else ""), result)
        if differing:
            raise SystemExit(f"marts differ from a full rebuild after restating: {differing}")
    finally:
        runtime.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
