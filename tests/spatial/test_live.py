"""Live map: recent events near a point as coarse k-anonymous cells, never user keys."""

from __future__ import annotations

from datetime import timedelta

import h3
from fastapi.testclient import TestClient

from hexlake.runtime import Runtime
from hexlake.spatial.live import bbox_sql, nearby_events

from .conftest import NOW, insert_events


def test_counts_recent_events_in_coarse_cells_with_k_users(runtime: Runtime) -> None:
    here = (51.5007, -0.1246)
    events = [{"lat": here[0] + i * 1e-5, "lng": here[1], "user_key": f"secret-user-{i % 4}",
               "ts": NOW - timedelta(minutes=5)} for i in range(8)]
    events += [{"lat": 51.51, "lng": -0.10, "user_key": "lonely", "ts": NOW - timedelta(minutes=5)}]
    events += [{"lat": here[0], "lng": here[1], "user_key": f"old{i}", "ts": NOW - timedelta(hours=2)}
               for i in range(5)]
    events += [{"lat": 51.6, "lng": -0.1246, "user_key": f"far{i}", "ts": NOW} for i in range(5)]
    insert_events(runtime, events)
    out = nearby_events(runtime, here[0], here[1], 3_000, 15, now=NOW)
    cell = h3.latlng_to_cell(*here, 9)
    assert [(c["cell"], c["events"], c["distinct_users"]) for c in out["cells"]] == [(cell, 8, 4)]
    assert "secret-user" not in str(out) and "lonely" not in str(out)
    lat, lng = h3.cell_to_latlng(cell)
    assert (out["cells"][0]["lat"], out["cells"][0]["lng"]) == (round(lat, 6), round(lng, 6))


def test_k_anonymity_drops_cells_with_few_users(runtime: Runtime) -> None:
    insert_events(runtime, [{"lat": 1.0, "lng": 1.0, "user_key": f"u{i % 2}", "ts": NOW} for i in range(10)])
    assert nearby_events(runtime, 1.0, 1.0, 1_000, 15, now=NOW)["cells"] == []


def test_bbox_handles_antimeridian_and_poles() -> None:
    assert "OR" in bbox_sql(0.0, 179.99, 5_000)
    assert "OR" in bbox_sql(0.0, -179.99, 5_000)
    assert "lng" not in bbox_sql(89.99, 0.0, 5_000)


def test_events_nearby_api_validates(client: TestClient) -> None:
    r = client.get("/v1/events/nearby", params={"lat": 0, "lng": 0, "minutes": 0})
    assert r.status_code == 400 and r.json()["error"]["field"] == "minutes"
    r = client.get("/v1/events/nearby", params={"lat": 0, "lng": 0, "radius_m": 0})
    assert r.status_code == 400 and r.json()["error"]["field"] == "radius_m"
    r = client.get("/v1/events/nearby", params={"lat": 0, "lng": 0})
    assert r.status_code == 200 and r.json()["cells"] == []
