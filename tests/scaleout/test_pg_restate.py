"""Late data on a PostgreSQL warehouse: the COPY loader records the days, the run restates them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from hexlake.config import Settings
from hexlake.runtime import Runtime
from hexlake.transform import operations

from ..transform.conftest import append_to_log, now_minute
from ..transform.events import ev

pytestmark = [pytest.mark.services, pytest.mark.slow]


def test_a_40_day_late_event_reaches_the_pg_marts(tmp_path: Path, pg_url: str) -> None:
    from hexlake.log import get_log
    from hexlake.warehouse import get_warehouse, make_raw_loader

    t0 = now_minute()
    runtime = Runtime(Settings(data_dir=tmp_path / "data", warehouse_url=pg_url))
    try:
        def load() -> None:
            make_raw_loader(get_log(runtime), get_warehouse(runtime), runtime.settings.warehouse).run_once()

        append_to_log(runtime, [ev("now-1", "track", t0 - timedelta(hours=1), "u1", session="s")],
                      timedelta(seconds=5))
        load()
        operations.run(runtime, execution_time=t0)
        late_ts = t0 - timedelta(days=40)
        append_to_log(runtime, [ev("late-1", "track", late_ts, "u2", session="s2")], timedelta(days=40))
        load()
        assert operations.pending(runtime, now=t0)["days"] == [late_ts.date().isoformat()]
        report = operations.run(runtime, execution_time=t0)
        assert report["restated"]["days"] == [late_ts.date().isoformat()]
        rows = get_warehouse(runtime).cursor().execute(
            "SELECT period_start, event_count FROM marts.event_aggregations WHERE period_type = 'day' "
            "ORDER BY period_start").fetchall()
        assert [(r[0].date(), r[1]) for r in rows] == [(late_ts.date(), 1), ((t0 - timedelta(hours=1)).date(), 1)]
        assert operations.pending(runtime, now=t0)["events"] == 0
    finally:
        runtime.close()
