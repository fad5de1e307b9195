"""The issue's demo check: the heatmap at res 7 over the demo's week shows its cities (it showed
0 cells when k was applied to hourly r9 cells before rolling up)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import h3
import pytest

from hexlake.demo.generate import DemoWorld
from hexlake.runtime import Runtime
from hexlake.serve import operations as ops
from hexlake.spatial.heatmap import heatmap

pytestmark = pytest.mark.slow


def test_demo_week_heatmap_at_res_7_shows_the_cities(runtime: Runtime) -> None:
    world = DemoWorld(users=300, days=7, seed=7)
    items = list(world.events())
    for i in range(0, len(items), 1000):
        ops.get("send")(runtime, items[i:i + 1000], source="app")
    while ops.get("load_once")(runtime).get("rows", 0):
        pass
    window: dict[str, Any] = {"start": world.now - timedelta(days=7), "end": world.now + timedelta(hours=1),
                              "now": world.now}
    k = runtime.settings.transform.heatmap_k
    big = [c for c in world.cities if sum(u.city is c for u in world.users) >= 3 * k]
    assert len(big) >= 5
    for res, rings, share in ((5, 1, 1.0), (7, 6, 0.25)):
        fc = heatmap(runtime, res=res, **window)
        assert fc["features"] and all(f["properties"]["distinct_users"] >= k for f in fc["features"])
        shown = {f["id"] for f in fc["features"]}
        near = [c for c in big if shown & set(h3.grid_disk(h3.latlng_to_cell(c.lat, c.lng, res), rings))]
        # res 5 (~250 km²): every city with 3k people. res 7 (~5 km²): the demo's people stay within
        # ~1 km of homes spread 8 km around the centre, so most res-7 cells hold 1-4 people and are
        # rightly hidden; the cities whose busiest cells reach k show (5 of 12 with seed 7)
        assert len(near) >= share * len(big), (res, [c.name for c in big if c not in near])
