"""The models read ``raw_events_all``: a day moved to the cold tier and then restated (or rebuilt)
keeps its events, so every mart is unchanged across a tier move followed by a restatement."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from hexlake.config import Settings
from hexlake.lake import tiers
from hexlake.runtime import Runtime
from hexlake.transform import operations
from hexlake.warehouse import get_warehouse
from tests.transform import events as truth
from tests.transform.conftest import insert, now_minute


def one(runtime: Runtime, sql: str) -> Any:
    return get_warehouse(runtime).cursor().execute(sql).fetchone()[0]


def marts(runtime: Runtime) -> list[str]:
    rows = get_warehouse(runtime).cursor().execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' ORDER BY 1").fetchall()
    return [r[0] for r in rows]


@pytest.fixture
def built(tmp_path: Path) -> Iterator[tuple[Runtime, Any]]:
    t0 = now_minute()
    runtime = Runtime(Settings(data_dir=tmp_path / "data"))
    insert(runtime, truth.to_rows(truth.generate(t0)))  # 20 days of events
    operations.run(runtime, execution_time=t0)
    yield runtime, t0
    runtime.close()


def test_marts_unchanged_after_moving_days_to_cold_and_restating_them(built: tuple[Runtime, Any]) -> None:
    runtime, t0 = built
    names = marts(runtime)
    assert len(names) >= 5
    for name in names:
        get_warehouse(runtime).execute(f"CREATE TABLE before_{name} AS SELECT * FROM marts.{name}")
    first = one(runtime, "SELECT CAST(min(ts) AS DATE) FROM raw_events")
    cutoff = (t0 - timedelta(days=5)).date()
    report = tiers.move(get_warehouse(runtime), tiers.lake_catalog(runtime), cutoff)
    assert report.rows > 0 and one(runtime, f"SELECT count(*) FROM raw_events WHERE ts < DATE '{cutoff}'") == 0

    out = operations.restate_range(runtime, from_day=first.isoformat(), to_day=cutoff.isoformat(),
                                   execution_time=t0)

    assert out["ok"] and "marts.event_aggregations" in out["restated"]["models"]
    for name in names:
        a, b = f"SELECT * FROM marts.{name}", f"SELECT * FROM before_{name}"
        assert one(runtime, f"SELECT count(*) FROM (({a}) EXCEPT ALL ({b}))") == 0, name
        assert one(runtime, f"SELECT count(*) FROM (({b}) EXCEPT ALL ({a}))") == 0, name
    # the restatement really recomputed the cold days (from the lake's files)
    assert one(runtime, f"SELECT count(*) FROM staging.stg_events WHERE ts < DATE '{cutoff}'") == report.rows
