from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hexlake.config import Settings
from hexlake.runtime import Runtime
from hexlake.warehouse import get_warehouse
from hexlake.warehouse.schema import RAW_EVENTS_COLUMNS
from tests.transform.events import generate, to_rows, unique

INSERT = f"INSERT INTO raw_events VALUES ({', '.join('?' * len(RAW_EVENTS_COLUMNS))})"


def insert(runtime: Runtime, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        get_warehouse(runtime).cursor().executemany(INSERT, rows)


def append_to_log(runtime: Runtime, events: list[dict[str, Any]], delay: timedelta) -> None:
    """Append events to the EventLog as the gate would (the envelope, encoded)."""
    from hexlake.gate.envelope import Event, encode_event
    from hexlake.log import AppendItem, get_log

    items = []
    for e in events:
        env = Event(
            event_id=e["event_id"], event_type=e["event_type"], schema_version=1, source=e["source"],
            ts=e["ts"], received_at=e["ts"] + delay, user_key=e["user_key"],
            anonymous_key=e["anonymous_key"], session_id=e["session_id"], properties=e["properties"],
            lat=e["lat"], lng=e["lng"], h3_r6=e["h3_r6"], h3_r9=e["h3_r9"])
        items.append(AppendItem(key=env.partition_key, event_id=env.event_id, payload=encode_event(env)))
    get_log(runtime).append(items)


def load_log(runtime: Runtime) -> int:
    """Drain the log into raw_events with the real raw loader; rows inserted."""
    from hexlake.log import get_log
    from hexlake.warehouse import make_raw_loader

    return make_raw_loader(get_log(runtime), get_warehouse(runtime)).run_once()


def now_minute() -> datetime:
    return datetime.utcnow().replace(second=0, microsecond=0)


class Built:
    def __init__(self, runtime: Runtime, events: list[dict[str, Any]], t0: datetime, reports: list) -> None:
        self.runtime, self.events, self.t0, self.reports = runtime, events, t0, reports

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return get_warehouse(self.runtime).cursor().execute(sql).fetchall()


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """One data dir built like production would see it, shared by the exactness tests.

    Run 1 (a day ago) sees batch A: shuffled, with a whole batch retried and single duplicates.
    Then batch B arrives through the real EventLog and raw loader: the last day's events in
    reverse order plus events 1-2.5 days old that were held back (late, inside the 3-day
    lookback), followed by a replay of the whole log; and some of B is also written to raw a
    second time (a duplicate that slipped past the loader). SQLMesh runs beside the open
    ``Warehouse`` in the same process, as in the server.
    Run 2 (now) must make every mart equal to the truth of the unique events.
    """
    from hexlake.transform import operations

    data = Path(tmp_path_factory.mktemp("exact")) / "data"
    runtime = Runtime(Settings(data_dir=data))
    t0 = now_minute()
    t1 = t0 - timedelta(days=1)
    events = generate(t0)
    rnd = random.Random(3)
    late = [e for i, e in enumerate(events)
            if t0 - timedelta(days=2.5) <= e["ts"] <= t1 and i % 4 == 0]
    late_ids = {e["event_id"] for e in late}
    batch_a = [e for e in events if e["ts"] <= t1 and e["event_id"] not in late_ids]
    batch_b = [e for e in events if e["ts"] > t1][::-1] + late
    shuffled = batch_a[:]
    rnd.shuffle(shuffled)
    insert(runtime, to_rows(shuffled))
    insert(runtime, to_rows(batch_a[:60], received_delay=timedelta(seconds=30), offset0=10_000))
    insert(runtime, to_rows(batch_a[100:103], received_delay=timedelta(minutes=2), offset0=20_000))
    reports = [operations.run(runtime, execution_time=t1)]
    # Batch B and then a replay of the whole log go through the real EventLog and raw loader.
    append_to_log(runtime, batch_b, timedelta(hours=1))
    append_to_log(runtime, batch_a + batch_b, timedelta(hours=2))
    load_log(runtime)
    insert(runtime, to_rows(batch_b[:40], received_delay=timedelta(hours=3), offset0=40_000))
    reports.append(operations.run(runtime, execution_time=t0))
    yield Built(runtime, unique(events), t0, reports)
    runtime.close()
