"""What a transform run costs in SQLMesh calls: a run after the first plans nothing and re-reads no
snapshot from SQLMesh's state; a changed model still plans; late data is still restated; the
threaded evaluation forks nothing. Behaviour, not timing (bench/transform.py measures the time)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from hexlake.config import Settings
from hexlake.runtime import Runtime
from hexlake.transform import operations
from hexlake.transform.engine import CONCURRENT_TASKS, TransformEngine
from hexlake.warehouse import get_warehouse
from tests.transform.conftest import append_to_log, insert, load_log, now_minute
from tests.transform.events import ev, generate, to_rows, unique

_forks: list[int] = []
_watching = threading.Event()
os.register_at_fork(before=lambda: _forks.append(1) if _watching.is_set() else None)


class Calls:
    """Counts SQLMesh plans and snapshot reads from the state database (past the in-memory cache)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, engine: TransformEngine) -> None:
        self.plans = 0
        self.state_snapshot_reads = 0
        ctx = engine.context
        plan, backing = ctx.plan, ctx.state_sync.state_sync  # type: ignore[attr-defined]
        read = backing.get_snapshots

        def counted_plan(*a: Any, **kw: Any) -> Any:
            self.plans += 1
            return plan(*a, **kw)

        def counted_read(*a: Any, **kw: Any) -> Any:
            self.state_snapshot_reads += 1
            return read(*a, **kw)

        monkeypatch.setattr(ctx, "plan", counted_plan)
        monkeypatch.setattr(backing, "get_snapshots", counted_read)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = Runtime(settings)
    yield rt
    rt.close()


def _count(rt: Runtime, sql: str) -> int:
    row = get_warehouse(rt).cursor().execute(sql).fetchone()
    return int(row[0]) if row else 0


def test_runs_after_the_first_plan_nothing_and_read_no_snapshot_from_state(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    t0 = now_minute()
    events = generate(t0)
    old = [e for e in events if e["ts"] <= t0 - timedelta(hours=6)]
    recent = [e for e in events if e["ts"] > t0 - timedelta(hours=6)]
    insert(runtime, to_rows(old))
    first = operations.run(runtime, execution_time=t0 - timedelta(hours=6))
    assert first["ok"]

    calls = Calls(monkeypatch, operations.engine(runtime))
    insert(runtime, to_rows(recent, offset0=50_000))
    second = operations.run(runtime, execution_time=t0)
    third = operations.run(runtime, execution_time=t0 + timedelta(minutes=1))  # no new data
    assert second["ok"] and third["ok"] and not second["applied_plan"]
    assert calls.plans == 0
    assert calls.state_snapshot_reads == 0
    # the reused snapshots did the work: every unique event is staged, each once
    assert _count(runtime, "SELECT COUNT(*) FROM staging.stg_events") == len(unique(events))
    assert _count(runtime, "SELECT COUNT(DISTINCT event_id) FROM staging.stg_events") == len(unique(events))


def test_a_changed_model_still_plans_and_the_next_run_does_not(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    t0 = now_minute()
    rt = Runtime(settings)
    insert(rt, to_rows(generate(t0)))
    operations.run(rt, execution_time=t0)
    suppressed_at_5 = _count(rt, "SELECT COUNT(*) FROM marts.heatmap_hourly")
    rt.close()

    # a variable is part of the models' fingerprints: k 5 -> 1 changes heatmap_hourly
    changed = Runtime(settings.model_copy(
        update={"transform": settings.transform.model_copy(update={"heatmap_k": 1})}))
    try:
        calls = Calls(monkeypatch, operations.engine(changed))
        report = operations.run(changed, execution_time=t0 + timedelta(minutes=1))
        assert report["ok"] and calls.plans == 1
        assert _count(changed, "SELECT COUNT(*) FROM marts.heatmap_hourly") > suppressed_at_5
        reads_after_plan = calls.state_snapshot_reads
        operations.run(changed, execution_time=t0 + timedelta(minutes=2))
        assert calls.plans == 1  # no second plan
        assert calls.state_snapshot_reads == reads_after_plan  # the new snapshots were kept warm
    finally:
        changed.close()


def test_late_data_is_restated_by_a_warm_run_and_nothing_forks(runtime: Runtime) -> None:
    t0 = now_minute()
    insert(runtime, to_rows(generate(t0)))
    operations.run(runtime, execution_time=t0)
    operations.run(runtime, execution_time=t0 + timedelta(minutes=1))  # warm from here on
    day = (t0 - timedelta(days=20)).replace(hour=9)
    late = [ev(f"late-{i}", "track", day + timedelta(minutes=i), "user-late", session="s-late")
            for i in range(3)]
    tracks = ("SELECT COALESCE(SUM(event_count), 0) FROM marts.event_aggregations WHERE period_type = 'day' "
              f"AND CAST(period_start AS DATE) = '{day.date()}' AND event_type = 'track'")
    before = _count(runtime, tracks)
    append_to_log(runtime, late, timedelta(days=20))
    assert load_log(runtime) == 3
    _watching.set()
    try:
        report = operations.run(runtime, execution_time=t0 + timedelta(minutes=2))
    finally:
        _watching.clear()
    assert CONCURRENT_TASKS > 1  # models were evaluated on threads ...
    assert _forks == []  # ... and no process was forked
    assert report["restated"]["days"] == [day.date().isoformat()]
    assert _count(runtime, "SELECT COUNT(*) FROM staging.stg_events WHERE user_key = 'user-late'") == 3
    assert _count(runtime, tracks) == before + 3
