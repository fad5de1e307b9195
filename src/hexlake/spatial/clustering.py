"""Hotspots (DBSCAN, haversine, ball tree) and k-means regions per city over recent pings.

A run reads the located events of the last ``spatial.cluster_window_minutes`` from ``raw_events``,
clusters them, and replaces the ``hotspots`` and ``regions`` tables of the places file. Clusters
with fewer than k distinct users (``transform.heatmap_k``) are not stored.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from hexlake.runtime import Runtime
from hexlake.spatial import warehouse as wh
from hexlake.spatial.geo import EARTH_RADIUS_M, haversine_m
from hexlake.spatial.geocode import reverse
from hexlake.spatial.index import unit_vectors
from hexlake.spatial.models import Hotspot, Region
from hexlake.spatial.resources import places

log = logging.getLogger("hexlake.spatial")


def load_pings(runtime: Runtime, now: datetime) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """(lat, lng, who) of located events that happened or arrived recently, newest first, capped."""
    cfg = runtime.settings.spatial
    reader = wh.reader(runtime)
    if wh.find_table(reader, "raw_events") is None:
        return np.empty(0), np.empty(0), []
    since = now - timedelta(minutes=cfg.cluster_window_minutes)
    table = wh.query(reader, (
        "SELECT lat, lng, coalesce(user_key, anonymous_key) AS who FROM raw_events "
        # Event time in the window, or (imported location history, years old) arrived in it.
        f"WHERE ((ts >= {wh.ts_literal(since)} AND ts <= {wh.ts_literal(now)}) "
        f"OR (received_at >= {wh.ts_literal(since)} AND received_at <= {wh.ts_literal(now)})) "
        f"AND lat IS NOT NULL AND lng IS NOT NULL ORDER BY ts DESC LIMIT {int(cfg.cluster_max_points)}"
    ))
    return (table.column("lat").to_numpy(zero_copy_only=False).astype(float),
            table.column("lng").to_numpy(zero_copy_only=False).astype(float),
            table.column("who").to_pylist())


def centroid(lat: np.ndarray, lng: np.ndarray) -> tuple[float, float]:
    """Spherical centroid (mean unit vector), correct across the antimeridian."""
    v = unit_vectors(lat, lng).mean(axis=0)
    return float(np.degrees(np.arctan2(v[2], np.hypot(v[0], v[1])))), float(np.degrees(np.arctan2(v[1], v[0])))


def _summary(lat: np.ndarray, lng: np.ndarray, who: list[str | None]) -> tuple[float, float, float, int, int]:
    clat, clng = centroid(lat, lng)
    radius = float(haversine_m(clat, clng, np.radians(lat), np.radians(lng)).max())
    return clat, clng, radius, len(lat), len({w for w in who if w is not None})


def hotspots(lat: np.ndarray, lng: np.ndarray, who: list[str | None], *, eps_m: float, min_samples: int,
             k: int, computed_at: str) -> list[Hotspot]:
    """DBSCAN clusters with at least ``k`` distinct users, biggest first."""
    if len(lat) < min_samples:
        return []
    from sklearn.cluster import DBSCAN  # heavy: loaded when clustering runs

    labels = DBSCAN(eps=eps_m / EARTH_RADIUS_M, min_samples=min_samples, metric="haversine",
                    algorithm="ball_tree").fit_predict(np.radians(np.column_stack((lat, lng))))
    found = []
    for label in sorted(set(labels.tolist()) - {-1}):
        m = labels == label
        clat, clng, radius, members, users = _summary(lat[m], lng[m], [w for w, x in zip(who, m, strict=True) if x])
        if users >= k:
            found.append((clat, clng, radius, members, users))
    found.sort(key=lambda h: (-h[3], h[0], h[1]))
    cities = reverse([h[0] for h in found], [h[1] for h in found])
    return [Hotspot(i + 1, round(h[0], 6), round(h[1], 6), round(h[2], 1), h[3], h[4],
                    c["city"] if c else None, computed_at) for i, (h, c) in enumerate(zip(found, cities, strict=True))]


def regions(lat: np.ndarray, lng: np.ndarray, who: list[str | None], *, per_city: int, k: int,
            computed_at: str) -> list[Region]:
    """K-means (on unit vectors) of each city's pings; regions under ``k`` distinct users dropped."""
    if len(lat) == 0:
        return []
    geo = reverse(lat, lng)
    cities = np.array([f"{g['city']}, {g['country']}" if g else "" for g in geo], dtype=object)
    out: list[Region] = []
    for city in sorted(set(cities.tolist()) - {""}):
        m = cities == city
        xyz = unit_vectors(lat[m], lng[m])
        # Coarsened pings repeat: never ask for more clusters than distinct points (empty clusters otherwise).
        distinct = len(np.unique(np.round(xyz, 12), axis=0))
        n_clusters = min(per_city, int(m.sum()) // max(1, k), distinct)
        if n_clusters < 1:
            continue
        from sklearn.cluster import KMeans  # heavy: loaded when clustering runs

        labels = KMeans(n_clusters=n_clusters, n_init=3, random_state=0).fit_predict(xyz)
        c_who = [w for w, x in zip(who, m, strict=True) if x]
        for label in range(n_clusters):
            sel = labels == label
            if not sel.any():
                continue
            clat, clng, radius, members, users = _summary(lat[m][sel], lng[m][sel],
                                                          [w for w, x in zip(c_who, sel, strict=True) if x])
            if users >= k:
                out.append(Region(city, label, round(clat, 6), round(clng, 6), round(radius, 1), members, users,
                                  computed_at))
    return out


def run_clustering(runtime: Runtime, now: datetime | None = None) -> dict[str, int]:
    """One clustering run: recompute and replace hotspots and regions. Returns counts."""
    cfg = runtime.settings.spatial
    k = runtime.settings.transform.heatmap_k
    now = now or datetime.now(UTC)
    stamp = now.isoformat()
    lat, lng, who = load_pings(runtime, now)
    spots = hotspots(lat, lng, who, eps_m=cfg.cluster_eps_m, min_samples=cfg.cluster_min_samples, k=k,
                     computed_at=stamp)
    regs = regions(lat, lng, who, per_city=cfg.region_k, k=k, computed_at=stamp)
    store = places(runtime).store
    store.replace_hotspots(spots)
    store.replace_regions(regs)
    log.info("clustering done", extra={"pings": len(lat), "hotspots": len(spots), "regions": len(regs)})
    return {"pings": len(lat), "hotspots": len(spots), "regions": len(regs)}


def hotspots_json(runtime: Runtime) -> dict[str, Any]:
    rows = [asdict(h) for h in places(runtime).store.hotspots()]
    return {"hotspots": rows, "count": len(rows)}


def regions_json(runtime: Runtime, city: str | None = None) -> dict[str, Any]:
    rows = [asdict(r) for r in places(runtime).store.regions(city)]
    return {"regions": rows, "count": len(rows)}


__all__ = ["hotspots", "hotspots_json", "regions", "regions_json", "run_clustering"]
