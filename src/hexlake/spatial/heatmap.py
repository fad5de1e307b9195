"""Heatmaps: H3 hexagons with event counts and distinct users over a time window.

k-anonymity that stays exact (issue 15): a cell is shown only if at least k distinct people
(``transform.heatmap_k``; user, else anonymous id) were in it during the requested window, counted on
the returned group itself (the requested resolution and window). So the count comes from user-level
rows (``raw_events``), never from the ``heatmap_hourly`` mart: that mart stores only hourly r9 cells
that already passed k, and distinct users cannot be added across hours or children, so a week of a
city's pings spread thinly over hours and cells would be suppressed away entirely.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from h3.api import basic_int as h3i

from hexlake.errors import BadRequest
from hexlake.runtime import Runtime
from hexlake.spatial import warehouse as wh
from hexlake.spatial.geo import check_limit, check_res

MAX_RES = 12


def _cell_sql(hex_col: str, res: int, col_res: int) -> str:
    """SQL turning an H3 hex string column into its parent at ``res`` (UBIGINT), by bit arithmetic."""
    cell = f"('0x' || {hex_col})::UBIGINT"
    if res == col_res:
        return cell
    low = (1 << (3 * (15 - res))) - 1
    return f"(({cell} & ~(15::UBIGINT << 52) & ~{low}::UBIGINT) | ({res}::UBIGINT << 52) | {low}::UBIGINT)"


def _window(start: datetime | None, end: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    end = end or now
    start = start or end - timedelta(hours=24)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    if start >= end:
        raise BadRequest("from must be before to.", field="from")
    return start, end


def raw_sql(res: int, start: datetime, end: datetime, event_type: str | None) -> str:
    col, col_res = ("h3_r9", 9) if res <= 9 else ("h3_r12", 12)
    where = f"ts >= {wh.ts_literal(start)} AND ts < {wh.ts_literal(end)} AND {col} IS NOT NULL"
    if event_type:
        where += f" AND event_type = {wh.name_literal(event_type, 'event_type')}"
    return (f"SELECT {_cell_sql(col, res, col_res)} AS cell, count(*) AS events, "
            f"count(DISTINCT coalesce(user_key, anonymous_key)) AS users FROM raw_events WHERE {where} GROUP BY 1")


def heatmap(runtime: Runtime, *, res: int = 9, start: datetime | None = None, end: datetime | None = None,
            event_type: str | None = None, limit: int = 10_000, now: datetime | None = None) -> dict[str, Any]:
    """GeoJSON FeatureCollection of the busiest hexagons with at least k distinct users."""
    res = check_res(res, hi=MAX_RES)
    limit = check_limit(limit, 100_000)
    start, end = _window(start, end, now or datetime.now(UTC))
    k = runtime.settings.transform.heatmap_k
    reader = wh.reader(runtime)
    if wh.find_table(reader, "raw_events") is None:
        return feature_collection([], res=res, k=k, source="none", start=start, end=end)
    sql, source = raw_sql(res, start, end, event_type), "raw_events"
    table = wh.query(reader, f"SELECT * FROM ({sql}) WHERE users >= {int(k)} "
                             f"ORDER BY events DESC, cell LIMIT {limit}")
    cells = table.column("cell").to_numpy(zero_copy_only=False).astype(np.uint64)
    rows = list(zip(cells.tolist(), table.column("events").to_pylist(), table.column("users").to_pylist(),
                    strict=True))
    return feature_collection(rows, res=res, k=k, source=source, start=start, end=end)


def hexagon(cell: int) -> list[list[float]]:
    """Closed GeoJSON ring ([lng, lat]) of a cell; longitudes kept continuous across ±180°."""
    return _ring(h3i.cell_to_boundary(cell))


def _ring(boundary: Sequence[Sequence[float]]) -> list[list[float]]:
    ring = [[lng, lat] for lat, lng in boundary]
    lngs = [p[0] for p in ring]
    if max(lngs) - min(lngs) > 180:  # crosses the antimeridian: shift the western vertices east
        for point in ring:
            if point[0] < 0:
                point[0] += 360
    return [*ring, ring[0]]


def feature_collection(rows: list[tuple[int, int, int]], *, res: int, k: int, source: str,
                       start: datetime, end: datetime) -> dict[str, Any]:
    features = []
    for cell, events, users in rows:
        name = format(cell, "x")
        ring = hexagon(cell)
        features.append({"type": "Feature", "id": name, "geometry": {"type": "Polygon", "coordinates": [ring]},
                         "properties": {"cell": name, "events": int(events), "distinct_users": int(users)}})
    return {"type": "FeatureCollection", "features": features,
            "properties": {"res": res, "k": k, "source": source, "from": start.isoformat(),
                           "to": end.isoformat(), "cells": len(features)}}


__all__ = ["heatmap", "hexagon"]
