"""``ops.load_touches``: what loads recorded survives a restatement that ran meanwhile."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pyarrow as pa

from hexlake.warehouse import intervals, open_warehouse


def batch(*rows: tuple[datetime, str]) -> pa.Table:
    return pa.table({"ts": pa.array([r[0] for r in rows], pa.timestamp("us")),
                     "event_type": [r[1] for r in rows]})


def test_a_day_touched_while_it_was_being_restated_stays_pending(tmp_path: Path) -> None:
    wh = open_warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}")
    try:
        intervals.record(wh, batch((datetime(2025, 1, 2, 3), "track"), (datetime(2025, 1, 2, 4), "login"),
                                   (datetime(2024, 7, 1), "page")))
        read = intervals.touched(wh.cursor())
        assert [(d.day, d.events, d.user_events) for d in read] == [
            (date(2024, 7, 1), 1, 0), (date(2025, 1, 2), 2, 1)]
        intervals.record(wh, batch((datetime(2025, 1, 2, 9), "track")))  # arrives during the run
        intervals.clear(wh.cursor(), read)
        assert [(d.day, d.events) for d in intervals.touched(wh.cursor())] == [(date(2025, 1, 2), 1)]
    finally:
        wh.close()


def test_days_of_ignores_rows_without_time() -> None:
    assert intervals.days_of(batch()) == []
    table = pa.table({"ts": pa.array([None, datetime(2025, 5, 5)], pa.timestamp("us")),
                      "event_type": ["x", "signup"]})
    assert intervals.days_of(table) == [(date(2025, 5, 5), 1, 1)]
