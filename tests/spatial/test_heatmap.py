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


def test_k_is_counted_on_the_returned_cell_not_on_hourly_children(runtime: Runtime) -> None:
    """6 people, each alone in their own hour and r9 cell: every hourly r9 group is below k, yet
    the r5 cell over the day holds 6 distinct people and must be shown (the issue's demo bug)."""
    spots = [h3.cell_to_latlng(c) for c in sorted(h3.grid_disk(h3.latlng_to_cell(*BUSY, 9), 2))[:6]]
    insert_events(runtime, [{"lat": lat, "lng": lng, "user_key": f"p{i}", "ts": NOW - timedelta(hours=i + 1)}
                            for i, (lat, lng) in enumerate(spots)])
    assert heatmap(runtime, res=9, now=NOW)["features"] == []
    parents = {h3.cell_to_parent(h3.latlng_to_cell(lat, lng, 9), 5) for lat, lng in spots}
    coarse = props(heatmap(runtime, res=5, now=NOW))
    assert len(parents) == 1 and coarse == {p: {"cell": p, "events": 6, "distinct_users": 6} for p in parents}


def test_a_pre_suppressed_mart_is_never_the_source(runtime: Runtime) -> None:
    seed(runtime)
    cur = wh.reader(runtime).cursor()  # type: ignore[attr-defined]
    cur.execute("CREATE TABLE heatmap_hourly (hour TIMESTAMP, h3_r9 VARCHAR, events BIGINT, distinct_users BIGINT)")
    fc = heatmap(runtime, res=5, now=NOW)
    assert fc["properties"]["source"] == "raw_events"
    assert [f["properties"]["distinct_users"] for f in fc["features"]] == [8]


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
