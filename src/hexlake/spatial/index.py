"""In-memory nearby index: numpy arrays of places sorted by H3 r9 cell, with cell → row ranges.

A query picks the finest resolution whose ``grid_disk`` around the query cell stays small, keeps the
occupied cells whose centre can reach the circle, gathers their contiguous row ranges, and computes
exact haversine distances on those candidates only. Rows sorted by r9 cell keep every coarser
parent's children contiguous too (H3 digits run coarse → fine), so one row order serves all levels.

Changes go to a small overlay (added/updated rows searched by brute force, replaced/deleted base rows
masked out) and the base is rebuilt when the overlay grows; readers always see a consistent snapshot.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import NamedTuple

import numpy as np
from h3.api import basic_int as h3i

from hexlake.spatial.geo import EARTH_RADIUS_M, cell_centres, cells_vectorised, parent_cells

BASE_RES = 9
LEVELS = (9, 8, 7, 6, 5, 4, 3, 2)
MAX_DISK_K = 7
OVERLAY_REBUILD = 20_000
_SQRT3 = math.sqrt(3.0)
# Average centre-to-centre spacing per resolution (metres), to pick a level before exact maths.
_SPACING = {r: _SQRT3 * edge for r, edge in {
    2: 158_244.7, 3: 59_810.9, 4: 22_606.4, 5: 8_544.4, 6: 3_229.5, 7: 1_220.6, 8: 461.4, 9: 174.4,
}.items()}


@dataclass(frozen=True)
class PointRow:
    """What the index needs of a place."""

    id: str
    lat: float
    lng: float
    category: str | None


class Hit(NamedTuple):
    id: str
    distance_m: float


_new_hit = partial(tuple.__new__, Hit)  # builds Hits from (id, distance) pairs without Python frames


@dataclass(frozen=True)
class _Level:
    cells: np.ndarray  # sorted unique uint64
    starts: np.ndarray  # int64 first row of each cell
    ends: np.ndarray  # int64 one past the last row
    centres: np.ndarray  # (n, 3) unit vectors of the cell centres
    coarse: np.ndarray  # sorted unique parents two resolutions up
    c_starts: np.ndarray  # first index into ``cells`` of each coarse cell
    c_ends: np.ndarray


def unit_vectors(lat_deg: np.ndarray, lng_deg: np.ndarray) -> np.ndarray:
    """(n, 3) points on the unit sphere: chord length is monotonic in great-circle distance."""
    p, lam = np.radians(lat_deg), np.radians(lng_deg)
    cp = np.cos(p)
    return np.ascontiguousarray(np.column_stack((cp * np.cos(lam), cp * np.sin(lam), np.sin(p))))


def chord2(radius_m: float) -> float:
    """Squared chord on the unit sphere of a great-circle distance (the in-circle threshold)."""
    return (2.0 * math.sin(min(math.pi, radius_m / EARTH_RADIUS_M) / 2.0)) ** 2


class _Base:
    """Immutable arrays of the base snapshot (rows sorted by r9 cell)."""

    def __init__(self, ids: Sequence[str], lat: np.ndarray, lng: np.ndarray, cats: Sequence[str | None]):
        lat, lng = np.asarray(lat, dtype=np.float64), np.asarray(lng, dtype=np.float64)
        cells = cells_vectorised(lat, lng, BASE_RES) if len(ids) else np.empty(0, np.uint64)
        order = np.argsort(cells, kind="stable")
        self.ids: list[str] = [ids[i] for i in order.tolist()]
        self.id_rank = np.argsort(np.argsort(np.array(self.ids, dtype=object), kind="stable"), kind="stable")
        self.lat, self.lng = lat[order], lng[order]
        self.xyz = unit_vectors(self.lat, self.lng)
        self.categories: list[str | None] = sorted(set(cats), key=lambda c: (c is None, c or ""))
        code = {c: i for i, c in enumerate(self.categories)}
        self.cat = np.array([code[c] for c in cats], dtype=np.int32)[order]
        self.alive = np.ones(len(ids), dtype=bool)
        self.row_of = {pid: i for i, pid in enumerate(self.ids)}
        self.levels = {res: _level(cells[order], res) for res in LEVELS}

    @classmethod
    def of_rows(cls, rows: Sequence[PointRow]) -> _Base:
        return cls([r.id for r in rows], np.array([r.lat for r in rows], dtype=np.float64),
                   np.array([r.lng for r in rows], dtype=np.float64), [r.category for r in rows])


def _groups(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unique values, starts, ends) of a sorted array."""
    bounds = np.flatnonzero(np.diff(cells) != 0) + 1
    starts = np.concatenate(([0], bounds)).astype(np.int64)
    ends = np.concatenate((bounds, [len(cells)])).astype(np.int64)
    return cells[starts], starts, ends


def _level(sorted_cells: np.ndarray, res: int) -> _Level:
    cells = parent_cells(sorted_cells, res) if res != BASE_RES else sorted_cells
    if len(cells) == 0:
        empty = np.empty(0, dtype=np.int64)
        return _Level(cells, empty, empty, np.empty((0, 3)), cells, empty, empty)
    uniq, starts, ends = _groups(cells)
    c_lat, c_lng = cell_centres(uniq)
    coarse, c_starts, c_ends = _groups(parent_cells(uniq, _coarse_res(res)))
    return _Level(uniq, starts, ends, unit_vectors(c_lat, c_lng), coarse, c_starts, c_ends)


def _coarse_res(res: int) -> int:
    return max(0, res - 2)


def _cell_geometry(cell: int, res: int) -> tuple[float, float]:
    """(spacing, circumradius) for ``cell``: shared by the 49 cells of its grandparent.

    H3 distortion varies smoothly, so the geometry of the first cell met in a grandparent, with 3 %
    margin, bounds its siblings; this keeps the per-query cost to a dictionary hit.
    """
    key = h3i.cell_to_parent(cell, res - 2) if res >= 2 else cell
    if h3i.is_pentagon(key):  # pentagon neighbourhoods are irregular: measure each cell itself
        key = cell
    geometry = _GEOMETRY.get(key)
    if geometry is None:
        if len(_GEOMETRY) > 200_000:
            _GEOMETRY.clear()
        geometry = _GEOMETRY[key] = _measure(cell)
    spacing, circum = geometry
    return spacing / 1.03, circum * 1.03


_GEOMETRY: dict[int, tuple[float, float]] = {}


def _measure(cell: int) -> tuple[float, float]:
    """(smallest centre-to-neighbour spacing, circumradius) of one cell in metres."""
    centre = h3i.cell_to_latlng(cell)
    spacing = min(h3i.great_circle_distance(centre, h3i.cell_to_latlng(n), "m") for n in h3i.grid_ring(cell, 1))
    circum = max(h3i.great_circle_distance(centre, v, "m") for v in h3i.cell_to_boundary(cell))
    return spacing, circum


@lru_cache(maxsize=16_384)
def _disk(cell: int, k: int) -> np.ndarray:
    return np.array(h3i.grid_disk(cell, k), dtype=np.uint64)


def _disk_plan(lat: float, lng: float, radius_m: float) -> tuple[int, np.ndarray, float]:
    """(res, coarse disk, centre slack): coarse cells (two resolutions up) holding every fine cell
    that may touch the circle.

    A fine cell meeting the circle has its centre within ``radius + circumradius_f`` of the query;
    a fine centre lies within 0.92 coarse circumradii of its parent's centre (measured over random
    cells; not always inside the parent, H3 is not strictly nested), and the query within one of its
    own coarse cell's centre. Hex rings at grid distance ≥ k+1 lie at least ``(k+1) · spacing · √3/2``
    away. 5 % and one extra ring absorb H3's smooth distortion across the disk (checked against brute
    force at poles, antimeridian, pentagons, and against PostGIS). A coarse disk has few cells, so it
    is cached and the per-query H3 cost is a dictionary hit.
    """
    res = next((r for r in LEVELS if radius_m / (_SPACING[r] * 0.866) + 2.5 <= MAX_DISK_K), LEVELS[-1])
    _, circ_f = _cell_geometry(h3i.latlng_to_cell(lat, lng, res), res)
    rc = _coarse_res(res)
    coarse = h3i.latlng_to_cell(lat, lng, rc)
    spacing_c, circ_c = _cell_geometry(coarse, rc)
    reach = radius_m + 1.1 * circ_f + 2.1 * circ_c
    k = math.floor(reach / (spacing_c * _SQRT3 / 2) * 1.05) + 1
    return res, _disk(coarse, k), circ_f * 1.1


class PlaceIndex:
    """Thread-safe nearby index over ``PointRow``s."""

    def __init__(self, rows: Sequence[PointRow] = ()):
        self._lock = threading.Lock()
        self._base = _Base.of_rows(rows)
        self._overlay: dict[str, PointRow] = {}
        self._dead: set[str] = set()

    @classmethod
    def from_arrays(cls, ids: Sequence[str], lat: np.ndarray, lng: np.ndarray,
                    categories: Sequence[str | None]) -> PlaceIndex:
        """Build from columns (fast path for large registries)."""
        index = cls()
        index._base = _Base(ids, lat, lng, categories)
        return index

    def __len__(self) -> int:
        with self._lock:
            return int(self._base.alive.sum()) + len(self._overlay)

    # --- changes ---
    def upsert(self, rows: Sequence[PointRow]) -> None:
        with self._lock:
            for row in rows:
                self._mask(row.id)
                self._overlay[row.id] = row
            self._maybe_rebuild()

    def delete(self, ids: Sequence[str]) -> None:
        with self._lock:
            for pid in ids:
                self._mask(pid)
                self._overlay.pop(pid, None)

    def _mask(self, pid: str) -> None:
        row = self._base.row_of.get(pid)
        if row is not None and self._base.alive[row]:
            alive = self._base.alive.copy()  # copy-on-write: readers keep their snapshot
            alive[row] = False
            self._base.alive = alive

    def _maybe_rebuild(self) -> None:
        if len(self._overlay) < OVERLAY_REBUILD:
            return
        b = self._base
        keep = [PointRow(pid, float(b.lat[i]), float(b.lng[i]), b.categories[b.cat[i]])
                for i, pid in enumerate(b.ids) if b.alive[i]]
        self._base = _Base.of_rows(keep + list(self._overlay.values()))
        self._overlay = {}

    # --- queries ---
    def nearby(
        self, lat: float, lng: float, radius_m: float, limit: int, category: str | None = None
    ) -> list[Hit]:
        """Places within ``radius_m`` of (lat, lng), nearest first, ties by id; at most ``limit``."""
        with self._lock:
            base, overlay = self._base, list(self._overlay.values())
        p, lam = math.radians(lat), math.radians(lng)
        q = np.array((math.cos(p) * math.cos(lam), math.cos(p) * math.sin(lam), math.sin(p)))
        hits = _query_base(base, lat, lng, q, radius_m, limit, category)
        if overlay:
            hits += _query_rows(overlay, q, radius_m, category)
            hits.sort(key=lambda h: (h.distance_m, h.id))
        return hits[:limit]


def _sq_chord(points: np.ndarray, q: np.ndarray) -> np.ndarray:
    diff = points - q
    return np.einsum("ij,ij->i", diff, diff)


def _cos_angle(distance_m: float) -> float:
    """Cosine of the central angle of a distance: the dot-product threshold of 'within'."""
    return math.cos(min(math.pi, distance_m / EARTH_RADIUS_M))


def _to_metres(c2: np.ndarray) -> np.ndarray:
    """Great-circle metres from squared unit chords (the haversine formula in vector form)."""
    return (2.0 * EARTH_RADIUS_M) * np.arcsin(np.minimum(1.0, np.sqrt(c2) * 0.5))


def _candidates(base: _Base, lat: float, lng: float, q: np.ndarray, radius_m: float) -> np.ndarray:
    res, disk, slack = _disk_plan(lat, lng, radius_m)
    lv = base.levels[res]
    if len(lv.cells) == 0:
        return np.empty(0, dtype=np.int64)
    pos = np.searchsorted(lv.coarse, disk)
    pos[pos >= len(lv.coarse)] = 0
    pos = pos[lv.coarse[pos] == disk]
    fine = _ranges(lv.c_starts[pos], lv.c_ends[pos])
    fine = fine[np.take(lv.centres, fine, axis=0) @ q >= _cos_angle(radius_m + slack)]
    return _ranges(lv.starts[fine], lv.ends[fine])


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenate ``arange(s, e)`` for every pair, without a Python loop."""
    lens = ends - starts
    total = int(lens.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    offsets = np.repeat(starts - (np.cumsum(lens) - lens), lens)
    return offsets + np.arange(total, dtype=np.int64)


def _query_base(base: _Base, lat: float, lng: float, q: np.ndarray, radius_m: float, limit: int,
                category: str | None) -> list[Hit]:
    idx = _candidates(base, lat, lng, q, radius_m)
    if len(idx) == 0:
        return []
    pts = np.take(base.xyz, idx, axis=0)
    # Fast filter on the dot product, with a hair of slack; exact chord distances decide below.
    dot = pts @ q
    keep = (dot >= _cos_angle(radius_m) - 1e-12) & np.take(base.alive, idx)
    if category is not None:
        if category not in base.categories:
            return []
        keep &= np.take(base.cat, idx) == base.categories.index(category)
    idx, pts, dot = idx[keep], pts[keep], dot[keep]
    if len(idx) > 2 * limit:  # the nearest `limit` (with slack for rounding ties) before exact maths
        keep = dot >= np.partition(dot, len(dot) - limit)[len(dot) - limit] - 1e-12
        idx, pts = idx[keep], pts[keep]
    c2 = _sq_chord(pts, q)
    inside = c2 <= chord2(radius_m)
    idx, d = idx[inside], _to_metres(c2[inside])
    order = np.lexsort((np.take(base.id_rank, idx), d))[:limit]
    ids = base.ids
    return list(map(_new_hit, zip([ids[i] for i in idx[order].tolist()], d[order].tolist(), strict=True)))


def _query_rows(rows: list[PointRow], q: np.ndarray, radius_m: float, category: str | None) -> list[Hit]:
    rows = [r for r in rows if category is None or r.category == category]
    if not rows:
        return []
    xyz = unit_vectors(np.array([r.lat for r in rows]), np.array([r.lng for r in rows]))
    c2 = _sq_chord(xyz, q)
    d = _to_metres(c2)
    limit2 = chord2(radius_m)
    return [Hit(r.id, float(x)) for r, x, c in zip(rows, d.tolist(), c2.tolist(), strict=True) if c <= limit2]


__all__ = ["Hit", "PlaceIndex", "PointRow", "chord2", "unit_vectors"]
