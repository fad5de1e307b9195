"""The in-memory nearby index returns exactly what a brute-force haversine scan returns."""

from __future__ import annotations

import numpy as np
import pytest
from h3.api import basic_int as h3i

from hexlake.spatial.geo import haversine_m
from hexlake.spatial.index import PlaceIndex, PointRow


def brute(rows: list[PointRow], lat: float, lng: float, radius: float, limit: int,
          category: str | None = None) -> list[tuple[str, float]]:
    rows = [r for r in rows if category is None or r.category == category]
    d = haversine_m(lat, lng, np.radians([r.lat for r in rows]), np.radians([r.lng for r in rows]))
    found = sorted((float(x), r.id) for r, x in zip(rows, d, strict=True) if x <= radius)
    return [(i, x) for x, i in found[:limit]]


def scatter(rng: np.random.Generator, lat: float, lng: float, n: int, spread_deg: float) -> list[PointRow]:
    la = np.clip(lat + rng.uniform(-spread_deg, spread_deg, n), -90, 90)
    lo = (lng + rng.uniform(-3 * spread_deg, 3 * spread_deg, n) + 180) % 360 - 180
    return [PointRow(f"p{i:05d}", float(a), float(b), ("cafe", "bar", None)[i % 3])
            for i, (a, b) in enumerate(zip(la, lo, strict=True))]


PENTAGON = h3i.cell_to_latlng(sorted(h3i.get_pentagons(5))[3])


@pytest.mark.parametrize(("lat", "lng", "spread"), [
    (45.0, 10.0, 0.3), (89.95, 0.0, 0.05), (-89.99, 120.0, 0.01), (0.0, 179.995, 0.03),
    (-16.8, -179.99, 0.05), (PENTAGON[0], PENTAGON[1], 0.3),
])
def test_nearby_equals_brute_force_everywhere(lat: float, lng: float, spread: float) -> None:
    rng = np.random.default_rng(7)
    rows = scatter(rng, lat, lng, 6000, spread)
    index = PlaceIndex(rows)
    for _ in range(25):
        qlat = float(np.clip(lat + rng.uniform(-spread, spread), -90, 90))
        qlng = float((lng + rng.uniform(-3 * spread, 3 * spread) + 180) % 360 - 180)
        for radius in (50.0, 500.0, 2_000.0, 20_000.0):
            got = index.nearby(qlat, qlng, radius, 50)
            want = brute(rows, qlat, qlng, radius, 50)
            assert [h.id for h in got] == [i for i, _ in want]
            assert np.allclose([h.distance_m for h in got], [x for _, x in want], atol=1e-6)


def test_equal_distances_are_ordered_by_id() -> None:
    rows = [PointRow(pid, 10.0, 20.001, None) for pid in ("b", "c", "a")] + [PointRow("z", 10.0, 20.0, None)]
    hits = PlaceIndex(rows).nearby(10.0, 20.0, 1_000, 10)
    assert [h.id for h in hits] == ["z", "a", "b", "c"]
    assert hits[0].distance_m == 0.0


def test_category_filter_and_limit() -> None:
    rows = scatter(np.random.default_rng(1), 52.5, 13.4, 3000, 0.05)
    index = PlaceIndex(rows)
    got = index.nearby(52.5, 13.4, 3_000, 7, "cafe")
    assert [h.id for h in got] == [i for i, _ in brute(rows, 52.5, 13.4, 3_000, 7, "cafe")]
    assert len(got) == 7
    assert index.nearby(52.5, 13.4, 3_000, 7, "no-such-category") == []


def test_updates_and_deletes_are_seen_by_the_next_query() -> None:
    index = PlaceIndex([PointRow("a", 0.0, 0.0, None), PointRow("b", 0.0, 0.001, None)])
    index.upsert([PointRow("a", 0.0, 0.01, None), PointRow("c", 0.0, 0.0005, "x")])
    index.delete(["b"])
    assert [h.id for h in index.nearby(0.0, 0.0, 500, 10)] == ["c"]
    assert [h.id for h in index.nearby(0.0, 0.0, 5_000, 10)] == ["c", "a"]
    assert len(index) == 2


def test_overlay_rebuild_keeps_results(monkeypatch: pytest.MonkeyPatch) -> None:
    import hexlake.spatial.index as mod

    monkeypatch.setattr(mod, "OVERLAY_REBUILD", 10)
    rows = scatter(np.random.default_rng(3), 0.0, 0.0, 200, 0.01)
    index = PlaceIndex(rows[:100])
    index.upsert(rows[100:])
    index.delete(["p00001"])
    want = [i for i, _ in brute(rows[:1] + rows[2:], 0.0, 0.0, 800, 30)]
    assert [h.id for h in index.nearby(0.0, 0.0, 800, 30)] == want
    assert not index._overlay  # rebuilt into the base


def test_empty_index_finds_nothing() -> None:
    assert PlaceIndex().nearby(1.0, 2.0, 1_000, 10) == []
