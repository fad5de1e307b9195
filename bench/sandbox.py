"""Query sandbox overhead: a typical mart query through ``QuerySandbox.run`` vs a bare DuckDB cursor.

The sandbox adds: SQLGlot parse + allowlist walk + SQL re-generation (cached by query text; the
first-time cost is reported too), the table/column checks
against the (cached) catalogue, a concurrency slot, a fresh DuckDB connection per query, the
watchdog timer, fetching through Arrow with the row cap, and queueing the audit record (written by
a background thread, off the request path). Both paths run on the same hardened database, the
runs interleaved so both see the same machine load. Target: ≤ 1 ms added at p50.

Run: ``.venv/bin/python -m bench.sandbox [--quick] [--runs N]`` → ``bench/results/sandbox.json``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._common import percentiles, write_result
from hexlake.config import Settings
from hexlake.ops.audit import get_audit_log
from hexlake.runtime import Runtime
from hexlake.warehouse import get_warehouse
from hexlake.warehouse.query import get_sandbox
from hexlake.warehouse.readonly import _parse, _parse_cached, parse_query
from hexlake.warehouse.sandbox import Caller, authorise

QUERY = ("SELECT date, sum(active_users) AS users, sum(events) AS events FROM marts.daily_engagement "
         "WHERE date >= DATE '2024-05-01' AND h3_cell_res6 LIKE '86%' GROUP BY date ORDER BY date")
READER = Caller(key_id="bench", kind="read")


def build(tmp: Path, rows: int) -> Runtime:
    runtime = Runtime(Settings(data_dir=tmp / "data"))
    wh = get_warehouse(runtime)
    wh.execute("CREATE SCHEMA marts")
    wh.execute(
        "CREATE TABLE marts.daily_engagement AS SELECT DATE '2024-05-01' + (i % 60)::INT AS date, "
        "'86' || lpad((i % 500)::VARCHAR, 13, '0') AS h3_cell_res6, (i * 7) % 300 AS active_users, "
        f"(i * 13) % 5000 AS events FROM range({rows}) t(i)")
    return runtime


def timed(fn: Callable[[], Any], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def interleaved(bare: Callable[[], Any], sandboxed: Callable[[], Any], runs: int) -> tuple[list[float], list[float]]:
    """Alternate the two paths run by run, so load changes hit both alike."""
    a: list[float] = []
    b: list[float] = []
    for _ in range(runs):
        a += timed(bare, 1)
        b += timed(sandboxed, 1)
    return a, b


def run(runs: int, rows: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        runtime = build(Path(tmp), rows)
        try:
            sandbox = get_sandbox(runtime)
            cursor: Any = get_warehouse(runtime).cursor()  # DuckDB: .cursor() of it opens a fresh one

            def bare() -> Any:
                return cursor.execute(QUERY).fetchall()

            def sandboxed() -> Any:
                return sandbox.run(QUERY, READER, limit=1000)

            def sandboxed_cold() -> Any:  # a query never seen before: no parse cache
                _parse_cached.cache_clear()
                return sandbox.run(QUERY, READER, limit=1000)

            assert len(bare()) == len(sandboxed().rows) == 60
            for _ in range(max(20, runs // 20)):  # warm both paths (catalogue, plans, allocator)
                bare()
                sandboxed()
            bare_ms, sandbox_ms = interleaved(bare, sandboxed, runs)
            bare_cold_ms, cold_ms = interleaved(bare, sandboxed_cold, runs)
            parse_ms = timed(lambda: _parse(QUERY, "duckdb"), runs)
            catalogue = sandbox.catalogue.tables()
            parsed = parse_query(QUERY)
            check_ms = timed(lambda: authorise(parsed, READER, catalogue, "main"), runs)
            fresh_ms = timed(lambda: cursor.cursor().close(), runs)
            started = time.perf_counter()
            get_audit_log(runtime).flush()
            flush_s = time.perf_counter() - started
        finally:
            runtime.close()
    bare_p, sandbox_p = percentiles(bare_ms), percentiles(sandbox_ms)
    added = {k: round(sandbox_p[k] - bare_p[k], 3) for k in bare_p}
    cold_added = {k: round(v - percentiles(bare_cold_ms)[k], 3) for k, v in percentiles(cold_ms).items()}
    return {
        "query": QUERY, "mart_rows": rows, "runs": runs,
        "bare_ms": _round(bare_p), "sandbox_ms": _round(sandbox_p), "added_ms": added,
        "added_ms_first_time_query": cold_added,
        "parts_p50_ms": {"parse_check_regenerate": _round(percentiles(parse_ms))["p50"],
                         "authorise": _round(percentiles(check_ms))["p50"],
                         "fresh_connection": _round(percentiles(fresh_ms))["p50"]},
        "audit_backlog_flush_s_after_run": round(flush_s, 3),
        "target": "added p50 <= 1 ms", "target_met": added["p50"] <= 1.0,
    }


def _round(p: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in p.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="50 runs on a small mart (a smoke test).")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=30_000, help="Rows in the mart.")
    args = parser.parse_args()
    runs, rows = (50, 3_000) if args.quick else (args.runs, args.rows)
    result = run(runs, rows)
    path = write_result("sandbox_quick" if args.quick else "sandbox", result)
    print(f"bare p50 {result['bare_ms']['p50']} ms, sandbox p50 {result['sandbox_ms']['p50']} ms, "
          f"added p50 {result['added_ms']['p50']} ms (target <= 1 ms; "
          f"{result['added_ms_first_time_query']['p50']} ms for a query never seen before) -> {path}")


if __name__ == "__main__":
    main()
