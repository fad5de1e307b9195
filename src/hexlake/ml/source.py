"""Where the ML stage reads: place interactions from the warehouse, places from the registry.

The ML data dir ``<data_dir>/ml`` holds training sets (``datasets/*.parquet``), the model registry
(``models/``) and the place vectors (``vectors/``); erasure covers all three (``hexlake.ml.privacy``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from hexlake.runtime import Runtime

INTERACTIONS_SQL = ("SELECT user_key, CAST(place_id AS VARCHAR) AS place_id, interaction_type, "
                    "CAST(rating AS DOUBLE) AS rating, ts FROM staging.stg_place_interactions "
                    "WHERE user_key IS NOT NULL")


def ml_dir(runtime: Runtime) -> Path:
    return Path(runtime.settings.data_dir) / "ml"


def interactions(runtime: Runtime, days: int | None = None) -> pl.DataFrame:
    """Known users' place interactions (the staging model; empty before the first transform run), all of
    them or the last ``days`` days (serving keeps 90: memory stays bounded on a long history)."""
    from hexlake.warehouse import get_warehouse

    wh = get_warehouse(runtime)
    sql = INTERACTIONS_SQL if wh.dialect == "duckdb" else INTERACTIONS_SQL.replace("DOUBLE", "DOUBLE PRECISION")
    if days is not None:
        since = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=int(days))
        sql += f" AND ts >= CAST('{since:%Y-%m-%d %H:%M:%S}' AS TIMESTAMP)"
    try:
        table = wh.query_arrow(sql.replace("VARCHAR", "TEXT") if wh.dialect != "duckdb" else sql)
    except Exception:  # the staging view is missing until the first `transform run`
        return empty_interactions()
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame.with_columns(pl.col("ts").cast(pl.Datetime("us")).dt.replace_time_zone(None))


def empty_interactions() -> pl.DataFrame:
    return pl.DataFrame(schema={"user_key": pl.String, "place_id": pl.String, "interaction_type": pl.String,
                                "rating": pl.Float64, "ts": pl.Datetime("us")})


def places(runtime: Runtime) -> pl.DataFrame:
    """The places registry as a frame: place_id, name, category, lat, lng."""
    from hexlake.spatial.resources import places as registry

    service = registry(runtime)
    rows, after = [], None
    while True:
        page = service.page(after=after, limit=1000)
        rows += [(p.id, p.name, p.category or "", p.lat, p.lng) for p in page]
        if len(page) < 1000:
            break
        after = page[-1].id
    return pl.DataFrame(rows, schema={"place_id": pl.String, "name": pl.String, "category": pl.String,
                                      "lat": pl.Float64, "lng": pl.Float64}, orient="row")


__all__ = ["empty_interactions", "interactions", "ml_dir", "places"]
