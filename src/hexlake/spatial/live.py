"""Live maps: recent activity around a point, as coarse k-anonymous H3 cells (never user keys).

Events come from ``raw_events`` (already coarsened at the gate when precise-location consent is
missing). A bounding box in SQL narrows the rows, exact haversine in numpy keeps the circle, and
positions are reduced to ``spatial.live_res`` cells; cells with fewer than ``spatial.live_k``
distinct users are dropped.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from h3.api import basic_int as h3i

from hexlake.errors import BadRequest
from hexlake.runtime import Runtime
from hexlake.spatial import warehouse as wh
from hexlake.spatial.geo import EARTH_RADIUS_M, cells_vectorised, check_lat, check_lng, check_radius, haversine_m


def bbox_sql(lat: float, lng: float, radius_m: float) -> str:
    """A WHERE clause on lat/lng that contains the circle (handles poles and the antimeridian)."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    lo_lat, hi_lat = lat - dlat, lat + dlat
    if lo_lat <= -90 or hi_lat >= 90 or math.cos(math.radians(max(abs(lo_lat), abs(hi_lat)))) < 1e-6:
        return f"lat BETWEEN {max(-90.0, lo_lat)!r} AND {min(90.0, hi_lat)!r}"
    dlng = math.degrees(radius_m / (EARTH_RADIUS_M * math.cos(math.radians(max(abs(lo_lat), abs(hi_lat))))))
    if dlng >= 180:
        return f"lat BETWEEN {lo_lat!r} AND {hi_lat!r}"
    lo_lng, hi_lng = lng - dlng, lng + dlng
    lat_sql = f"lat BETWEEN {lo_lat!r} AND {hi_lat!r}"
    if lo_lng < -180:
        return f"{lat_sql} AND (lng >= {lo_lng + 360!r} OR lng <= {hi_lng!r})"
    if hi_lng > 180:
        return f"{lat_sql} AND (lng >= {lo_lng!r} OR lng <= {hi_lng - 360!r})"
    return f"{lat_sql} AND lng BETWEEN {lo_lng!r} AND {hi_lng!r}"


def nearby_events(runtime: Runtime, lat: float, lng: float, radius_m: float, minutes: int,
                  now: datetime | None = None) -> dict[str, Any]:
    cfg = runtime.settings.spatial
    lat, lng = check_lat(lat), check_lng(lng)
    radius_m = check_radius(radius_m, cfg.max_radius_m)
    if not 1 <= minutes <= cfg.max_live_minutes:
        raise BadRequest(f"minutes must be from 1 to {cfg.max_live_minutes} (got {minutes}).", field="minutes")
    since = (now or datetime.now(UTC)) - timedelta(minutes=minutes)
    reader = wh.reader(runtime)
    out: dict[str, Any] = {"res": cfg.live_res, "k": cfg.live_k, "minutes": minutes, "cells": []}
    if wh.find_table(reader, "raw_events") is None:
        return out
    table = wh.query(reader, (
        "SELECT lat, lng, coalesce(user_key, anonymous_key) AS who FROM raw_events "
        f"WHERE ts >= {wh.ts_literal(since)} AND lat IS NOT NULL AND lng IS NOT NULL "
        f"AND {bbox_sql(lat, lng, radius_m)}"
    ))
    if table.num_rows == 0:
        return out
    la = table.column("lat").to_numpy(zero_copy_only=False)
    lo = table.column("lng").to_numpy(zero_copy_only=False)
    inside = haversine_m(lat, lng, np.radians(la), np.radians(lo)) <= radius_m
    if not inside.any():
        return out
    who = [w for w, keep in zip(table.column("who").to_pylist(), inside.tolist(), strict=True) if keep]
    frame = pl.DataFrame({"cell": cells_vectorised(la[inside], lo[inside], cfg.live_res),
                          "who": pl.Series(who, dtype=pl.Utf8)})
    agg = (frame.group_by("cell")
           .agg(pl.len().alias("events"), pl.col("who").drop_nulls().n_unique().alias("users"))
           .filter(pl.col("users") >= cfg.live_k).sort(["events", "cell"], descending=[True, False]))
    out["cells"] = [_cell_json(int(c), int(e), int(u)) for c, e, u in agg.iter_rows()]
    return out


def _cell_json(cell: int, events: int, users: int) -> dict[str, Any]:
    clat, clng = h3i.cell_to_latlng(cell)
    return {"cell": h3i.int_to_str(cell), "lat": round(clat, 6), "lng": round(clng, 6), "events": events,
            "distinct_users": users}


__all__ = ["bbox_sql", "nearby_events"]
