"""The monitors' queries give the same numbers on DuckDB and PostgreSQL warehouses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from hexlake.quality.checks import hourly_volumes, new_property_keys
from hexlake.warehouse import Warehouse, open_warehouse
from hexlake.warehouse.schema import RAW_EVENTS_COLUMNS

HOUR = datetime(2026, 11, 30, 11, 0)


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.services)])
def wh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else f"duckdb:///{tmp_path / 'w.duckdb'}"
    opened = open_warehouse(url)
    opened.ensure_raw_tables()
    yield opened
    opened.close()


def _rows(prefix: str, at: datetime, n: int, props: dict[str, object]) -> list[tuple[object, ...]]:
    rows = []
    for i in range(n):
        values: dict[str, object] = {c: None for c, _ in RAW_EVENTS_COLUMNS}
        values.update(event_id=f"{prefix}{i}", event_type="track", schema_version=1, source="app", ts=at,
                      received_at=at + timedelta(seconds=i), properties=json.dumps(props), context="{}",
                      consent="{}", log_offset=i, load_date=at.date(), loaded_at=at)
        rows.append(tuple(values[c] for c, _ in RAW_EVENTS_COLUMNS))
    return rows


def test_volumes_and_new_keys_on_every_engine(wh: Warehouse) -> None:
    columns = [c for c, _ in RAW_EVENTS_COLUMNS]
    wh.insert_rows("raw_events", columns, _rows("a", HOUR - timedelta(weeks=1), 7, {"event": "x"}))
    wh.insert_rows("raw_events", columns, _rows("b", HOUR, 30, {"event": "x", "coupon": "y"}))
    counts, baselines = hourly_volumes(wh.cursor(), HOUR, weeks=4)
    assert counts == {("track", "app"): 30.0} and baselines == {("track", "app"): [7.0]}
    assert new_property_keys(wh.cursor(), HOUR, HOUR + timedelta(hours=1), 7, wh.dialect) == {"track": {"coupon"}}
