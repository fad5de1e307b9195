"""The SDK's optional on-disk queue: a SQLite file that survives a crash of the app's process.

Events are stored as their final JSON (``event_id`` included) before they are sent and deleted
only after the server acknowledged them, so a crash or a server down for hours loses nothing, and
a resend after a crash carries the same ``event_id`` (the server answers it as a duplicate).
WAL with ``synchronous=NORMAL``: durable against a process crash; the last commit can be lost on
power failure (pass ``synchronous="FULL"`` to close that too). One queue file per process.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

_DDL = "CREATE TABLE IF NOT EXISTS queue (id INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB NOT NULL)"


class DiskQueue:
    """FIFO of encoded events: ``put`` a batch, ``peek`` the oldest, ``delete`` once delivered."""

    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL"):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={'FULL' if synchronous.upper() == 'FULL' else 'NORMAL'}")
        self._conn.execute(_DDL)
        self._lock = threading.Lock()

    def put(self, events: Sequence[dict[str, Any]]) -> None:
        rows = [(orjson.dumps(e, default=str),) for e in events]
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany("INSERT INTO queue (body) VALUES (?)", rows)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def peek(self, n: int) -> list[tuple[int, dict[str, Any]]]:
        with self._lock:
            rows = self._conn.execute("SELECT id, body FROM queue ORDER BY id LIMIT ?", (n,)).fetchall()
        return [(row_id, orjson.loads(body)) for row_id, body in rows]

    def delete(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        with self._lock:
            self._conn.executemany("DELETE FROM queue WHERE id = ?", [(i,) for i in ids])

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM queue").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()


__all__ = ["DiskQueue"]
