"""The demo world's shape, straight from the generator (no server): people cluster around each city's
hotspots (so the heatmap has something to show at k = 5) and keep their tastes (so ML has something
to learn)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime

import h3
import pytest

from hexlake.demo.generate import DemoWorld

pytestmark = pytest.mark.slow  # generating the two worlds: 35 s on the loaded shared machine
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_every_city_has_a_res_7_cell_where_five_people_were() -> None:
    world = DemoWorld(users=300, days=7, seed=11, now=NOW)
    people: dict[str, set[str]] = defaultdict(set)
    for e in world.events():
        loc = (e.get("data") or e.get("properties") or {}).get("location")
        if loc is not None:
            people[h3.latlng_to_cell(loc["lat"], loc["lng"], 7)].add(e["user_id"])
    for city in world.cities:
        near = h3.grid_disk(h3.latlng_to_cell(city.lat, city.lng, 7), 1)
        assert max(len(people[c]) for c in near) >= 5, city.name
    # Not everything is busy: homes and wanderings leave many cells with fewer than five people.
    assert sum(len(u) < 5 for u in people.values()) > len(people) / 3


def test_people_still_prefer_their_categories_and_places_near_hotspots() -> None:
    world = DemoWorld(users=120, days=21, seed=5, now=NOW, cities=2)
    places = {p.id: p for p in world.places}
    liked = {u.id: {p.id for p in world.places if p.category in u.tastes} for u in world.users}
    picks = Counter(e["data"]["place_id"] in liked[e["user_id"]]
                    for e in world.events() if e["event_type"] == "place_interaction")
    assert picks[True] > 1.5 * picks[False]  # 2 of 8 categories would be 25 % without tastes
    for city in world.cities:
        assert 2 <= len(city.hotspots) <= 3
        local = [p for p in places.values() if p.city is city]
        near = [p for p in local if min(h3.great_circle_distance((p.lat, p.lng), s) for s in city.hotspots) < 2]
        assert len(near) > len(local) / 2
