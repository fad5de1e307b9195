"""The catalog file (``catalog.sqlite``): sources and keys, the schema registry, quarantine.

Its three stores share one way of opening it, so they agree on WAL mode and lock waits.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def connect_catalog(path: Path | str) -> sqlite3.Connection:
    """An autocommit connection usable from several threads (callers serialise with their own lock)."""
    path = Path(path)
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


__all__ = ["connect_catalog"]
