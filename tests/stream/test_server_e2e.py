"""End to end in a real server: events in → counters, online features, geofence events back in the log."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import Server, hexlake, init

CENTER = (37.7749, -122.4194)


def wait_for(fn: Any, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


@pytest.mark.slow
def test_events_flow_into_realtime_metrics_features_and_geofence_events(tmp_path: Path) -> None:
    data = tmp_path / "data"
    keys = init(data)
    read = {"authorization": f"Bearer {keys['read_key']}"}
    write = {"authorization": f"Bearer {keys['write_key']}"}
    fences_key = json.loads(hexlake(data, "keys", "create", "--kind", "write", "--source", "default",
                                    "--apis", "geofences", "--json").stdout)["key"]
    office = {"name": "office", "lat": CENTER[0], "lng": CENTER[1], "radius_m": 150}
    # the transform scheduler is not under test here; it would only compete for the two cores
    with Server(data, HEXLAKE_TRANSFORM__SCHEDULER_ENABLED="false") as srv:
        refused = httpx.post(f"{srv.url}/v1/geofences", headers=write, json=office)  # the app's key: events only
        assert refused.status_code == 403 and "--apis geofences" in refused.json()["error"]["message"]
        fence = httpx.post(f"{srv.url}/v1/geofences", headers={"authorization": f"Bearer {fences_key}"},
                           json=office).json()
        # All four pings in one 10-minute window (the online store holds a user's latest window), and
        # within the last 5 minutes (active-user metric), whatever the wall clock says.
        now = datetime.now(UTC)
        floor = now.replace(minute=now.minute - now.minute % 10, second=0, microsecond=0)
        t0 = max(floor, now - timedelta(minutes=4)) if now - floor >= timedelta(minutes=2) else (
            floor - timedelta(seconds=100))
        offsets = [0.01, 0.0, 0.0002, 0.01]  # degrees north: outside, inside, inside, outside (exit)
        events = [{
            "event_id": f"ping-{i}", "event_type": "location_ping", "user_id": "alice", "session_id": "s1",
            "timestamp": (t0 + timedelta(seconds=30 * i)).isoformat(),
            "properties": {"location": {"lat": CENTER[0] + off, "lng": CENTER[1], "accuracy": 5}},
            "consent": {"precise_location": True},
        } for i, off in enumerate(offsets)]
        r = httpx.post(f"{srv.url}/v1/events", headers=write, json={"batch": events})
        assert r.status_code == 200 and r.json()["accepted"] == 4, r.text

        feats = wait_for(lambda: httpx.get(f"{srv.url}/v1/features/users/alice", headers=read).json()
                         .get("features"))
        assert feats["event_counts"]["location_ping"] == 4 and feats["session_count"] == 1

        def derived() -> dict[str, int]:
            rows = httpx.get(f"{srv.url}/v1/realtime/metrics", headers=read).json()["events_per_minute"]
            return {r["event_type"]: r["count"] for r in rows if r["source"] == "hexlake-stream"}

        assert wait_for(lambda: derived() if len(derived()) == 2 else None) == {
            "geofence_enter": 1, "geofence_exit": 1}
        metrics = httpx.get(f"{srv.url}/v1/realtime/metrics", headers=read).json()
        assert metrics["active_users"]["5m"] == 1
        assert httpx.get(f"{srv.url}/v1/realtime/metrics").status_code == 401
        assert httpx.get(f"{srv.url}/v1/geofences", headers=read).json()["geofences"][0]["id"] == fence["id"]
        prom = httpx.get(f"{srv.url}/metrics").text
        assert 'hexlake_stream_events_total{group="stream-features"}' in prom
