"""hexlake's nearby answers equal PostGIS's ST_DWithin + ST_Distance in sphere mode."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from hexlake.spatial.geo import haversine_pair
from hexlake.spatial.index import PlaceIndex
from hexlake.spatial.postgis import PostgisPlaces, ensure_postgis

pytestmark = pytest.mark.services

# (centre lat, centre lng, spread in degrees of latitude): a city, both poles, the antimeridian
REGIONS = [(40.7, -74.0, 0.2), (89.9, 0.0, 0.08), (-89.95, 45.0, 0.04), (0.0, 180.0, 0.1), (-17.0, -180.0, 0.1),
           (64.1, -21.9, 0.3)]


def make_places(rng: np.random.Generator) -> tuple[list[str], np.ndarray, np.ndarray]:
    lats, lngs = [], []
    for lat, lng, spread in REGIONS:
        n = 4000
        lats.append(np.clip(lat + rng.uniform(-spread, spread, n), -90, 90))
        lngs.append((lng + rng.uniform(-3 * spread, 3 * spread, n) + 180) % 360 - 180)
    la, lo = np.concatenate(lats), np.concatenate(lngs)
    return [f"pl{i:06d}" for i in range(len(la))], la, lo


@pytest.fixture
def postgis(pg_url: str) -> Iterator[PostgisPlaces]:
    ensure_postgis(pg_url)
    db = PostgisPlaces(pg_url)
    yield db
    db.close()


def test_nearby_matches_postgis_sphere_mode(postgis: PostgisPlaces) -> None:
    rng = np.random.default_rng(42)
    ids, lat, lng = make_places(rng)
    postgis.load(ids, lat.tolist(), lng.tolist())
    index = PlaceIndex.from_arrays(ids, lat, lng, [None] * len(ids))
    compared = nonempty = 0
    for qlat0, qlng0, spread in REGIONS:
        for _ in range(20):
            qlat = float(np.clip(qlat0 + rng.uniform(-spread, spread), -90, 90))
            qlng = float((qlng0 + rng.uniform(-3 * spread, 3 * spread) + 180) % 360 - 180)
            for radius in (100.0, 500.0, 2_000.0, 15_000.0):
                ours = index.nearby(qlat, qlng, radius, 50)
                theirs = postgis.nearby(qlat, qlng, radius, 50)
                assert [h.id for h in ours] == [h.id for h in theirs], (qlat, qlng, radius)
                assert np.allclose([h.distance_m for h in ours], [h.distance_m for h in theirs], atol=0.1)
                compared += 1
                nonempty += bool(ours)
    assert compared == 480 and nonempty > 300  # the comparison really covered found places


def test_nearest_first_form_returns_the_same_places(postgis: PostgisPlaces) -> None:
    rng = np.random.default_rng(5)
    ids, lat, lng = make_places(rng)
    postgis.load(ids, lat.tolist(), lng.tolist())
    index = PlaceIndex.from_arrays(ids, lat, lng, [None] * len(ids))
    for _ in range(50):
        qlat, qlng = float(rng.uniform(40.6, 40.8)), float(rng.uniform(-74.3, -73.7))
        ours = index.nearby(qlat, qlng, 1_000, 20)
        knn = postgis.nearby(qlat, qlng, 1_000, 20, knn=True)
        assert [h.id for h in ours] == [h.id for h in knn]


def test_sphere_mode_is_haversine_and_spheroid_differs_by_under_0_6_percent(postgis: PostgisPlaces) -> None:
    worst = 0.0
    for a, b in [((0.0, 0.0), (0.0, 1.0)), ((0.0, 0.0), (0.009, 0.0)), ((60.0, 10.0), (60.5, 10.0)),
                 ((40.7, -74.0), (40.75, -73.95))]:
        spheroid, sphere = postgis.spheroid_distance(*a, *b)
        assert sphere == pytest.approx(haversine_pair(*a, *b), abs=0.01)
        worst = max(worst, abs(spheroid - sphere) / spheroid)
    assert 0.005 < worst < 0.006  # north-south at the equator: the sphere is 0.56 % long
