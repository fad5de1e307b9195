"""Great-circle maths, H3 helpers and input checks shared by the spatial stage.

Distances are haversine on a sphere of radius ``EARTH_RADIUS_M`` = 6,371,008.8 m, the WGS84 mean
radius (2a + b) / 3 that PostGIS also uses for geography ``use_spheroid => false``. On the WGS84
spheroid (PostGIS' default) distances differ by up to ~0.5 % (see docs/spatial.md).
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import polars_h3 as plh3
from h3.api import basic_int as h3i

from hexlake.errors import BadRequest

EARTH_RADIUS_M = 6_371_008.8
MIN_RES, MAX_RES = 0, 15
PLACE_RESOLUTIONS = (6, 9, 12)


def haversine_m(lat1: float, lng1: float, lat2: np.ndarray, lng2: np.ndarray) -> np.ndarray:
    """Metres from one point (degrees) to arrays of points (radians), vectorised."""
    p1, l1 = math.radians(lat1), math.radians(lng1)
    return haversine_rad(p1, l1, math.cos(p1), lat2, lng2, np.cos(lat2))


def haversine_rad(
    p1: float, l1: float, cos_p1: float, p2: np.ndarray, l2: np.ndarray, cos_p2: np.ndarray
) -> np.ndarray:
    """Haversine in radians with the cosines precomputed (the hot path of nearby search)."""
    a = np.sin((p2 - p1) * 0.5) ** 2 + cos_p1 * cos_p2 * np.sin((l2 - l1) * 0.5) ** 2
    np.clip(a, 0.0, 1.0, out=a)
    return (2.0 * EARTH_RADIUS_M) * np.arcsin(np.sqrt(a))


def haversine_pair(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Metres between two points given in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lng2 - lng1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, max(0.0, a))))


# --- H3 ------------------------------------------------------------------------------------------


def cells_vectorised(lat: np.ndarray, lng: np.ndarray, res: int) -> np.ndarray:
    """H3 cells (uint64) for arrays of degrees, computed in Rust by polars-h3 (≈3× a Python loop)."""
    df = pl.DataFrame({"lat": np.asarray(lat, dtype=np.float64), "lng": np.asarray(lng, dtype=np.float64)})
    out = df.select(plh3.latlng_to_cell("lat", "lng", res, return_dtype=pl.UInt64).alias("c"))
    return out.to_series().to_numpy().astype(np.uint64, copy=False)


def cell_centres(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lat, lng) degrees of the centres of uint64 cells, vectorised (polars-h3)."""
    df = pl.DataFrame({"c": pl.Series(np.asarray(cells, dtype=np.uint64), dtype=pl.UInt64)})
    out = df.select(plh3.cell_to_lat("c").alias("lat"), plh3.cell_to_lng("c").alias("lng"))
    return out["lat"].to_numpy(), out["lng"].to_numpy()


def cell_hex(cell: int) -> str:
    return h3i.int_to_str(int(cell))


def place_cells(lat: float, lng: float) -> dict[str, str]:
    """The ``h3_r6/h3_r9/h3_r12`` hex strings of one point."""
    return {f"h3_r{r}": cell_hex(h3i.latlng_to_cell(lat, lng, r)) for r in PLACE_RESOLUTIONS}


def parent_cells(cells: np.ndarray, res: int) -> np.ndarray:
    """Parents of same-resolution-or-finer uint64 cells at ``res`` by bit arithmetic (vectorised).

    An H3 index keeps its resolution in bits 52-55 and one 3-bit digit per resolution below; a
    parent sets the resolution and fills the finer digits with 7 (unused).
    """
    low = np.uint64((1 << (3 * (15 - res))) - 1)
    res_mask = np.uint64(0xF << 52)
    c = np.asarray(cells, dtype=np.uint64)
    return (c & ~res_mask & ~low) | np.uint64(res << 52) | low


# --- input checks (400 naming the field) --------------------------------------------------------


def check_lat(value: float, field: str = "lat") -> float:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not -90.0 <= value <= 90.0:
        raise BadRequest(f"{field} must be a number between -90 and 90 (got {value!r}).", field=field)
    return float(value)


def check_lng(value: float, field: str = "lng") -> float:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not -180.0 <= value <= 180.0:
        raise BadRequest(f"{field} must be a number between -180 and 180 (got {value!r}).", field=field)
    return float(value)


def check_radius(value: float, max_radius_m: float, field: str = "radius_m") -> float:
    if not math.isfinite(value) or value <= 0 or value > max_radius_m:
        raise BadRequest(
            f"{field} must be above 0 and at most {max_radius_m:g} metres (got {value!r}).", field=field
        )
    return float(value)


def check_res(value: int, field: str = "res", lo: int = MIN_RES, hi: int = MAX_RES) -> int:
    if not lo <= value <= hi:
        raise BadRequest(f"{field} must be an H3 resolution from {lo} to {hi} (got {value!r}).", field=field)
    return int(value)


def check_limit(value: int, max_limit: int, field: str = "limit") -> int:
    if not 1 <= value <= max_limit:
        raise BadRequest(f"{field} must be from 1 to {max_limit} (got {value!r}).", field=field)
    return int(value)


__all__ = [
    "EARTH_RADIUS_M",
    "cell_centres",
    "cell_hex",
    "cells_vectorised",
    "check_lat",
    "check_limit",
    "check_lng",
    "check_radius",
    "check_res",
    "haversine_m",
    "haversine_pair",
    "haversine_rad",
    "parent_cells",
    "place_cells",
]
