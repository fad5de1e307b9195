"""A failing audit stops the run with a clear message and leaves downstream marts unchanged."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hexlake.config import Settings
from hexlake.errors import TransformError
from hexlake.runtime import Runtime
from hexlake.transform import operations
from hexlake.warehouse import get_warehouse
from tests.transform.conftest import insert, now_minute
from tests.transform.events import ev, to_rows


def test_failing_audit_stops_run_and_keeps_previous_mart_data(settings: Settings) -> None:
    runtime = Runtime(settings)
    t0 = now_minute()
    good = [ev(f"g{i}", "place_interaction", t0 - timedelta(hours=2, minutes=i), f"u{i}",
               cell="891f1d4a93bffff", props={"place_id": "p1", "interaction_type": "post"})
            for i in range(6)]
    insert(runtime, to_rows(good))
    operations.run(runtime, execution_time=t0)
    cur = get_warehouse(runtime).cursor()
    before = {m: cur.execute(f"SELECT * FROM marts.{m} ORDER BY ALL").fetchall()
              for m in ("daily_engagement", "place_popularity")}
    assert before["place_popularity"] and before["daily_engagement"]

    bad = [ev("bad1", "place_interaction", t0 - timedelta(minutes=30), "u9", cell="891f1d4a93bffff",
              props={"place_id": "p1", "interaction_type": "teleport"}),
           ev("ok2", "place_interaction", t0 - timedelta(minutes=20), "u8", cell="891f1d4a93bffff",
              props={"place_id": "p1", "interaction_type": "post"})]
    insert(runtime, to_rows(bad, offset0=100))
    with pytest.raises(TransformError) as info:
        operations.run(runtime, execution_time=t0 + timedelta(minutes=1))
    message = info.value.message
    assert "staging.stg_place_interactions" in message and "accepted_values" in message
    assert "previous data" in message
    after = {m: cur.execute(f"SELECT * FROM marts.{m} ORDER BY ALL").fetchall()
             for m in ("daily_engagement", "place_popularity")}
    assert after == before
    failed = operations.history(runtime, status="failed")
    assert failed and failed[0]["model"] == "staging.stg_place_interactions"
    assert "accepted_values" in failed[0]["error"]
    runtime.close()
