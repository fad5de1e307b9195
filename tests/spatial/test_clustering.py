"""Hotspots (DBSCAN, haversine) and k-means regions from recent pings, k-anonymous."""

from __future__ import annotations

import time
from datetime import timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient

from hexlake.runtime import Runtime
from hexlake.spatial.clustering import centroid, hotspots, run_clustering
from hexlake.spatial.geo import haversine_pair
from hexlake.spatial.service import ClusteringService, create

from .conftest import NOW, insert_events

SQUARE = (40.7359, -73.9911)  # Union Square, NYC
PARK = (40.7829, -73.9654)    # Central Park


def blob(rng: np.random.Generator, centre: tuple[float, float], n: int, users: int, spread_m: float) -> list[dict]:
    d = spread_m / 111_000
    return [{"lat": centre[0] + rng.normal(0, d), "lng": centre[1] + rng.normal(0, d),
             "user_key": f"{centre}{i % users}", "ts": NOW - timedelta(minutes=10)} for i in range(n)]


def test_dbscan_finds_dense_places_with_k_users(runtime: Runtime, client: TestClient) -> None:
    rng = np.random.default_rng(0)
    events = blob(rng, SQUARE, 80, 20, 30) + blob(rng, PARK, 40, 3, 30)   # park: 3 users < k=5
    events += [{"lat": 40.70 + rng.uniform(0, 0.1), "lng": -74.02 + rng.uniform(0, 0.1), "user_key": f"n{i}",
                "ts": NOW - timedelta(minutes=10)} for i in range(30)]  # sparse noise
    events += [{**e, "ts": NOW - timedelta(days=1)} for e in blob(rng, (40.75, -73.98), 60, 20, 20)]  # too old
    insert_events(runtime, events)
    counts = run_clustering(runtime, now=NOW)
    assert counts["hotspots"] == 1
    spots = client.get("/v1/hotspots").json()["hotspots"]
    assert len(spots) == 1
    spot = spots[0]
    assert spot["members"] >= 75 and spot["distinct_users"] == 20
    assert haversine_pair(spot["lat"], spot["lng"], *SQUARE) < 20
    assert 30 < spot["radius_m"] < 300
    assert spot["city"] in ("New York City", "Manhattan")
    regions = client.get("/v1/regions").json()["regions"]
    assert regions and all(r["distinct_users"] >= 5 for r in regions)


def test_hotspot_centroid_across_the_antimeridian() -> None:
    lat, lng = centroid(np.array([0.0, 0.0]), np.array([179.999, -179.999]))
    assert lat == pytest.approx(0.0, abs=1e-9) and abs(lng) == pytest.approx(180.0, abs=1e-6)
    rng = np.random.default_rng(1)
    la = rng.normal(0, 0.0003, 60)
    lo = (180 + rng.normal(0, 0.0003, 60) + 180) % 360 - 180
    spots = hotspots(la, lo, [f"u{i % 10}" for i in range(60)], eps_m=100, min_samples=5, k=5, computed_at="t")
    assert len(spots) == 1 and spots[0].members == 60 and spots[0].radius_m < 200


def test_service_is_configurable_and_runs(runtime: Runtime) -> None:
    assert create(runtime) is None  # interval 0 in the test settings: off
    service = ClusteringService(runtime, interval_s=3600)
    service.start()
    deadline = time.monotonic() + 30
    while service.runs + service.errors == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert service.stop() is True  # the hour-long idle wait is interrupted at once
    assert (service.runs, service.errors, service.healthy) == (1, 0, True)


def test_repeated_coarsened_points_still_give_hotspots_and_regions(runtime: Runtime, client: TestClient) -> None:
    # Coarsened pings collapse onto a few H3 centres: k-means must not ask for more clusters than points.
    cells = [(48.8566, 2.3522), (48.8606, 2.3376)]  # Paris, two cells
    events = [{"lat": cells[i % 2][0], "lng": cells[i % 2][1], "user_key": f"u{i % 12}",
               "ts": NOW - timedelta(minutes=5)} for i in range(120)]
    insert_events(runtime, events)
    counts = run_clustering(runtime, now=NOW)
    assert counts["hotspots"] >= 1 and counts["regions"] >= 1
    regions = client.get("/v1/regions").json()["regions"]
    assert 1 <= len(regions) <= 2 and all(r["members"] > 0 for r in regions)
    assert client.get("/v1/hotspots").json()["count"] >= 1


def test_imported_location_history_is_clustered_when_it_arrives(runtime: Runtime, client: TestClient) -> None:
    # Takeout history happened years ago but arrived now: it feeds hotspots and regions.
    from datetime import datetime

    rng = np.random.default_rng(3)
    old = datetime(2017, 7, 14, 2, 40, tzinfo=NOW.tzinfo)
    events = [{**e, "ts": old, "received_at": NOW - timedelta(minutes=2), "event_type": "location_record"}
              for e in blob(rng, SQUARE, 60, 10, 30)]
    events += [{**e, "ts": old, "received_at": old} for e in blob(rng, PARK, 60, 10, 30)]  # old, arrived long ago
    insert_events(runtime, events)
    counts = run_clustering(runtime, now=NOW)
    assert counts["pings"] == 60 and counts["hotspots"] == 1
    (spot,) = client.get("/v1/hotspots").json()["hotspots"]
    assert haversine_pair(spot["lat"], spot["lng"], *SQUARE) < 30
