from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hexlake.gate.envelope import Event, encode_event
from hexlake.log import AppendItem, EventLog, LogConfig, open_log
from hexlake.warehouse.backends.duckdb import DuckDBWarehouse

from ..log.conftest import FakeClock

LOG_CONFIG = LogConfig(visibility_timeout_s=30.0, max_attempts=2, backoff_base_s=1.0,
                       backoff_max_s=4.0, group_commit_ms=0.0)


def make_event(i: int, **changes: object) -> Event:
    ts = datetime(2024, 5, 1, 12, tzinfo=UTC) + timedelta(minutes=i)
    fields: dict[str, object] = dict(
        event_id=f"evt-{i}", event_type="place_interaction", schema_version=1, source="ios", ts=ts,
        received_at=ts + timedelta(seconds=2), user_key=f"{i % 3:064x}", session_id=f"s{i}",
        properties={"place_id": f"p{i}", "n": i, "tags": ["a"]}, context={"app": {"version": "1.2"}},
        lat=52.52, lng=13.405, accuracy_m=8.5, h3_r6="861f1d48fffffff", h3_r9="891f1d4810bffff",
        h3_r12="8c1f1d4810b01ff", consent={"precise_location": True}, retention="interaction")
    fields.update(changes)
    return Event(**fields)  # type: ignore[arg-type]


def as_items(events: list[Event]) -> list[AppendItem]:
    return [AppendItem(key=e.partition_key, event_id=e.event_id, payload=encode_event(e)) for e in events]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "sqlite"])
def log(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[EventLog]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'log.sqlite'}"
    opened = open_log(url, LOG_CONFIG, clock=clock)
    yield opened
    opened.close()


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[DuckDBWarehouse]:
    """The embedded engine itself (the raw loader's Arrow path needs DuckDB's ``register``)."""
    wh = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    wh.ensure_raw_tables()
    yield wh
    wh.close()
