"""Durable storage of places, hotspots and regions: one SQLite file owned by the spatial stage.

``PlaceStore`` is the protocol; ``SqlitePlaceStore`` is the embedded implementation (``":memory:"``
for tests). Writes go through one connection under a lock (one writer, as SQLite wants).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

from hexlake.spatial.models import Hotspot, Place, Region

_DDL = """
CREATE TABLE IF NOT EXISTS places (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, category TEXT, lat REAL NOT NULL, lng REAL NOT NULL,
    h3_r6 TEXT NOT NULL, h3_r9 TEXT NOT NULL, h3_r12 TEXT NOT NULL, attributes TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS places_category ON places (category, id);
CREATE TABLE IF NOT EXISTS hotspots (
    id INTEGER PRIMARY KEY, lat REAL, lng REAL, radius_m REAL, members INTEGER, distinct_users INTEGER,
    city TEXT, computed_at TEXT
);
CREATE TABLE IF NOT EXISTS regions (
    city TEXT, region INTEGER, lat REAL, lng REAL, radius_m REAL, members INTEGER, distinct_users INTEGER,
    computed_at TEXT, PRIMARY KEY (city, region)
);
"""
_COLS = "id, name, category, lat, lng, h3_r6, h3_r9, h3_r12, attributes, created_at, updated_at"


class PlaceStore(Protocol):
    """Where places (and the clustering job's outputs) are kept."""

    def upsert(self, places: Sequence[Place]) -> None:
        """Insert or replace places by id."""
        ...

    def get(self, place_id: str) -> Place | None: ...

    def delete(self, place_id: str) -> bool:
        """Remove a place; False when it did not exist."""
        ...

    def page(self, *, category: str | None, after: str | None, limit: int) -> list[Place]:
        """Places ordered by id, after the ``after`` cursor."""
        ...

    def scan(self) -> Iterator[Place]:
        """Every place (to build the in-memory index)."""
        ...


class SqlitePlaceStore:
    def __init__(self, path: Path | str):
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        # nearby answers read ~50 random rows per request: keep pages in memory, map the file
        self._conn.execute("PRAGMA cache_size=-65536")
        self._conn.execute("PRAGMA mmap_size=268435456")
        self._conn.executescript(_DDL)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --- places ---
    def upsert(self, places: Sequence[Place]) -> None:
        rows = [_to_row(p) for p in places]
        with self._lock:
            self._conn.execute("BEGIN")
            self._conn.executemany(f"INSERT OR REPLACE INTO places ({_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
            self._conn.execute("COMMIT")

    def get(self, place_id: str) -> Place | None:
        with self._lock:
            row = self._conn.execute(f"SELECT {_COLS} FROM places WHERE id = ?", (place_id,)).fetchone()
        return _from_row(row) if row else None

    def get_many(self, ids: Sequence[str]) -> dict[str, Place]:
        out: dict[str, Place] = {}
        for i in range(0, len(ids), 500):
            chunk = list(ids[i : i + 500])
            marks = ",".join("?" * len(chunk))
            with self._lock:
                rows = self._conn.execute(f"SELECT {_COLS} FROM places WHERE id IN ({marks})", chunk).fetchall()
            out.update((r[0], _from_row(r)) for r in rows)
        return out

    def delete(self, place_id: str) -> bool:
        with self._lock:
            return self._conn.execute("DELETE FROM places WHERE id = ?", (place_id,)).rowcount > 0

    def page(self, *, category: str | None = None, after: str | None = None, limit: int = 100) -> list[Place]:
        sql, args = f"SELECT {_COLS} FROM places WHERE id > ?", [after or ""]
        if category is not None:
            sql, args = sql + " AND category = ?", [*args, category]
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY id LIMIT ?", [*args, limit]).fetchall()
        return [_from_row(r) for r in rows]

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM places").fetchone()[0])

    def scan(self) -> Iterator[Place]:
        with self._lock:
            rows = self._conn.execute(f"SELECT {_COLS} FROM places").fetchall()
        return (_from_row(r) for r in rows)

    def scan_points(self) -> tuple[list[str], list[float], list[float], list[str | None]]:
        """Columns (id, lat, lng, category) of every place: the index needs no more."""
        with self._lock:
            rows = self._conn.execute("SELECT id, lat, lng, category FROM places").fetchall()
        if not rows:
            return [], [], [], []
        ids, lat, lng, cat = zip(*rows, strict=True)
        return list(ids), list(lat), list(lng), list(cat)

    def data_version(self) -> int:
        """Changes when another connection (e.g. the CLI) commits to the file."""
        with self._lock:
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    # --- clustering outputs ---
    def replace_hotspots(self, hotspots: Iterable[Hotspot]) -> None:
        rows = [tuple(asdict(h).values()) for h in hotspots]
        with self._lock:
            self._conn.execute("BEGIN")
            self._conn.execute("DELETE FROM hotspots")
            self._conn.executemany("INSERT INTO hotspots VALUES (?,?,?,?,?,?,?,?)", rows)
            self._conn.execute("COMMIT")

    def hotspots(self) -> list[Hotspot]:
        with self._lock:
            rows = self._conn.execute("SELECT * FROM hotspots ORDER BY members DESC, id").fetchall()
        return [Hotspot(*r) for r in rows]

    def replace_regions(self, regions: Iterable[Region]) -> None:
        rows = [tuple(asdict(r).values()) for r in regions]
        with self._lock:
            self._conn.execute("BEGIN")
            self._conn.execute("DELETE FROM regions")
            self._conn.executemany("INSERT INTO regions VALUES (?,?,?,?,?,?,?,?)", rows)
            self._conn.execute("COMMIT")

    def regions(self, city: str | None = None) -> list[Region]:
        sql, args = "SELECT * FROM regions", []
        if city is not None:
            sql, args = sql + " WHERE city = ?", [city]
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY city, region", args).fetchall()
        return [Region(*r) for r in rows]


def _to_row(p: Place) -> tuple[Any, ...]:
    return (p.id, p.name, p.category, p.lat, p.lng, p.h3["h3_r6"], p.h3["h3_r9"], p.h3["h3_r12"],
            json.dumps(p.attributes, separators=(",", ":")), p.created_at, p.updated_at)


def _from_row(r: Sequence[Any]) -> Place:
    return Place(id=r[0], name=r[1], category=r[2], lat=r[3], lng=r[4],
                 h3={"h3_r6": r[5], "h3_r9": r[6], "h3_r12": r[7]}, attributes=json.loads(r[8]),
                 created_at=r[9], updated_at=r[10])


__all__ = ["PlaceStore", "SqlitePlaceStore"]
