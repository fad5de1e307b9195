"""The demo tour counts only after the loader has every event (not 10,000 of 24,970)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from hexlake.config import Settings
from hexlake.demo.run import loader_lag, wait_for_loader
from hexlake.serve.client import call_remote, find_server
from tests.helpers import Server, init

pytestmark = pytest.mark.slow


def _batch(n: int) -> list[dict]:
    return [{"event_id": f"demo-{n}-{i}", "event_type": "track", "user_id": f"u{i % 50}",
             "timestamp": "2026-11-20T10:00:00Z", "properties": {"event": "tap"}} for i in range(500)]


def test_tour_waits_until_raw_events_has_every_event(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = init(data)["write_key"]
    # A tiny loader batch and a slow-ish loop: the background loader holds leases while we count.
    with Server(data, HEXLAKE_WAREHOUSE__LOADER_BATCH="500") as server, httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
        for n in range(50):
            assert client.post("/v1/events", json=_batch(n)).json()["accepted"] == 500
        info = find_server(Settings(data_dir=data))
        assert info is not None
        assert wait_for_loader(info, timeout_s=120) == 0
        assert loader_lag(info) == 0
        rows = call_remote(info, "query", sql="SELECT count(*) AS n FROM raw_events")["rows"]
        assert rows == [[25_000]]
