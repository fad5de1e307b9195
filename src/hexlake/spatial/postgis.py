"""PostGIS as the reference (and scale-out) nearby backend: same question, same answer shape.

Used by the parity test and the benchmark. ``ensure_postgis`` runs ``scripts/ensure-postgis.sh``,
which installs Debian's ``postgresql-15-postgis-3`` only when ``CREATE EXTENSION postgis`` fails.
Distances use ``use_spheroid => false`` (sphere) to compare like with like with hexlake's haversine.
"""

from __future__ import annotations

import io
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

from hexlake.errors import ConfigError
from hexlake.spatial.index import Hit

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "ensure-postgis.sh"

_Q = "ST_SetSRID(ST_MakePoint(%(lng)s, %(lat)s), 4326)::geography"
DWITHIN_SQL = (f"SELECT id, ST_Distance(geog, {_Q}, false) AS d FROM places "
               f"WHERE ST_DWithin(geog, {_Q}, %(r)s, false) ORDER BY d, id LIMIT %(n)s")
KNN_SQL = (f"SELECT id, ST_Distance(geog, {_Q}, false) AS d FROM places "
           f"WHERE ST_DWithin(geog, {_Q}, %(r)s, false) ORDER BY geog <-> {_Q} LIMIT %(n)s")


def ensure_postgis(url: str) -> None:
    """Make sure the PostGIS extension can be created (installing it if needed), then create it."""
    if not SCRIPT.exists():
        raise ConfigError(f"{SCRIPT} is missing; run from a hexlake source checkout.")
    done = subprocess.run(["bash", str(SCRIPT)], env={"PG_URL": url, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ConfigError(f"PostGIS is not available: {done.stderr.strip() or done.stdout.strip()}")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")


class PostgisPlaces:
    """Places in a PostGIS ``geography(Point)`` column with a GiST index."""

    def __init__(self, url: str):
        self.conn = psycopg.connect(url, autocommit=True)

    def close(self) -> None:
        self.conn.close()

    def load(self, ids: Sequence[str], lat: Sequence[float], lng: Sequence[float],
             categories: Sequence[str | None] | None = None) -> None:
        """(Re)create the table from columns (COPY), then index and analyse it."""
        cats = categories if categories is not None else [None] * len(ids)
        self.conn.execute("DROP TABLE IF EXISTS places")
        self.conn.execute("CREATE TABLE places (id text PRIMARY KEY, category text, lat float8, lng float8)")
        buf = io.StringIO()
        null = "\\N"
        for pid, a, b, c in zip(ids, lat, lng, cats, strict=True):
            buf.write(f"{pid}\t{null if c is None else c}\t{a!r}\t{b!r}\n")
        with self.conn.cursor() as cur, cur.copy("COPY places (id, category, lat, lng) FROM STDIN") as copy:
            copy.write(buf.getvalue())
        self.conn.execute("ALTER TABLE places ADD COLUMN geog geography(Point, 4326)")
        self.conn.execute("UPDATE places SET geog = ST_SetSRID(ST_MakePoint(lng, lat), 4326)::geography")
        self.conn.execute("CREATE INDEX places_geog ON places USING gist (geog)")
        self.conn.execute("VACUUM ANALYZE places")

    def nearby(self, lat: float, lng: float, radius_m: float, limit: int, *, knn: bool = False) -> list[Hit]:
        """``ST_DWithin`` + ``ORDER BY ST_Distance, id`` (or nearest-first ``<->`` when ``knn``)."""
        params: dict[str, Any] = {"lat": lat, "lng": lng, "r": radius_m, "n": limit}
        rows = self.conn.execute(KNN_SQL if knn else DWITHIN_SQL, params, prepare=True).fetchall()
        return [Hit(r[0], float(r[1])) for r in rows]

    def spheroid_distance(self, lat1: float, lng1: float, lat2: float, lng2: float) -> tuple[float, float]:
        """(spheroid, sphere) metres between two points, for the docs' comparison."""
        row = self.conn.execute(
            "SELECT ST_Distance(a, b, true), ST_Distance(a, b, false) FROM (SELECT "
            "ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography a, "
            "ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography b) t",
            (lng1, lat1, lng2, lat2)).fetchone()
        assert row is not None
        return float(row[0]), float(row[1])


__all__ = ["DWITHIN_SQL", "KNN_SQL", "PostgisPlaces", "ensure_postgis"]
