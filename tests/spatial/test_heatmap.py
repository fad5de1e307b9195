"""Heatmaps: hexagons with counts and distinct users, k-suppressed, from the mart or raw events."""

from __future__ import annotations

from datetime import timedelta

import h3
import pytest
from fastapi.testclient import TestClient

from hexlake.runtime import Runtime
from hexlake.spatial import warehouse as wh
from hexlake.spatial.heatmap import heatmap

from .conftest import NOW, insert_events

BUSY = (48.8566, 2.3522)  # 6 users here
QUIET = (48.8600, 2.3400)  # 2 users here (under k = 5), same r5 parent


def seed(rt: Runtime) -> None:
    events = [{"lat": BUSY[0], "lng": BUSY[1], "user_key": f"u{i % 6}", "ts": NOW - timedelta(hours=1)}
              for i in range(12)]
    events += [{"lat": QUIET[0], "lng": QUIET[1], "user_key": f"q{i % 2}", "ts": NOW - timedelta(hours=1)}
               for i in range(9)]
    events += [{"lat": BUSY[0], "lng": BUSY[1], "user_key": "old", "ts": NOW - timedelta(days=3)}]
    events += [{"lat": BUSY[0], "lng": BUSY[1], "user_key": f"u{i}", "ts": NOW - timedelta(hours=1),
                "event_type": "place_interaction"} for i in range(3)]
    insert_events(rt, events)


def props(fc: dict) -> dict[str, dict]:
    return {f["id"]: f["properties"] for f in fc["features"]}


def test_heatmap_from_raw_counts_and_suppresses_small_cells(runtime: Runtime) -> None:
    seed(runtime)
    fc = heatmap(runtime, res=9, now=NOW)
    busy = h3.latlng_to_cell(*BUSY, 9)
    assert fc["type"] == "FeatureCollection" and fc["properties"]["source"] == "raw_events"
    assert props(fc) == {busy: {"cell": busy, "events": 15, "distinct_users": 6}}
    ring = fc["features"][0]["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == 7
    assert ring[0] == [h3.cell_to_boundary(busy)[0][1], h3.cell_to_boundary(busy)[0][0]]


def test_event_type_and_window_filter(runtime: Runtime) -> None:
    seed(runtime)
    assert heatmap(runtime, res=9, now=NOW, event_type="place_interaction")["features"] == []  # 3 users < 5
    wide = heatmap(runtime, res=9, now=NOW, start=NOW - timedelta(days=5))
    assert next(iter(props(wide).values()))["distinct_users"] == 7


def test_coarser_resolution_merges_children(runtime: Runtime) -> None:
    seed(runtime)
    fc = heatmap(runtime, res=5, now=NOW)
    parent = h3.latlng_to_cell(*BUSY, 5)
    assert h3.cell_to_parent(h3.latlng_to_cell(*QUIET, 9), 5) == parent
    assert props(fc) == {parent: {"cell": parent, "events": 24, "distinct_users": 8}}


def test_heatmap_reads_the_mart_when_it_exists(runtime: Runtime) -> None:
    reader = wh.reader(runtime)
    cur = reader.cursor()  # type: ignore[attr-defined]
    cur.execute("CREATE TABLE heatmap_hourly (hour TIMESTAMP, h3_r9 VARCHAR, event_type VARCHAR, "
                "events BIGINT, distinct_users BIGINT)")
    busy, quiet = h3.latlng_to_cell(*BUSY, 9), h3.latlng_to_cell(*QUIET, 9)
    hour = (NOW - timedelta(hours=2)).replace(tzinfo=None)
    cur.execute("INSERT INTO heatmap_hourly VALUES (?, ?, 'location_ping', 40, 9), (?, ?, 'location_ping', 10, 4),"
                " (?, ?, 'location_ping', 5, 6), (?, ?, 'location_ping', 3, 2)",
                [hour, busy, hour + timedelta(hours=1), busy, hour, quiet, hour, h3.latlng_to_cell(10, 10, 9)])
    fc = heatmap(runtime, res=9, now=NOW)
    assert fc["properties"]["source"] == "heatmap_hourly"
    assert props(fc) == {busy: {"cell": busy, "events": 50, "distinct_users": 9},
                         quiet: {"cell": quiet, "events": 5, "distinct_users": 6}}
    parent = h3.cell_to_parent(busy, 5)
    coarse = heatmap(runtime, res=5, now=NOW)  # users: the largest hourly child count (a lower bound)
    assert props(coarse) == {parent: {"cell": parent, "events": 55, "distinct_users": 9}}


@pytest.mark.parametrize(("params", "field"), [
    ({"res": 16}, "res"), ({"res": -1}, "res"), ({"res": 13}, "res"),
    ({"from": "2026-06-02T00:00:00", "to": "2026-06-01T00:00:00"}, "from"),
    ({"event_type": "x'; DROP TABLE raw_events; --"}, "event_type"),
])
def test_bad_heatmap_input_is_a_400(client: TestClient, params: dict, field: str) -> None:
    r = client.get("/v1/heatmap", params=params)
    assert r.status_code == 400
    assert r.json()["error"]["field"] == field


def test_heatmap_api_returns_geojson(client: TestClient, runtime: Runtime) -> None:
    seed(runtime)
    r = client.get("/v1/heatmap", params={"res": 9, "from": (NOW - timedelta(hours=3)).isoformat(),
                                          "to": NOW.isoformat()})
    assert r.status_code == 200
    assert [f["properties"]["events"] for f in r.json()["features"]] == [15]
