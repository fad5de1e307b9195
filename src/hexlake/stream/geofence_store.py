"""The geofence registry, kept in the stream state file so CLI, API and consumers share it.

Every change bumps a version number; the running geofence consumer reloads its index when it sees
a new version (one tiny read per batch).
"""

from __future__ import annotations

import builtins
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from hexlake.errors import NotFound
from hexlake.stream.geofence_model import Geofence, validate
from hexlake.stream.state import connect

_DDL = [
    "CREATE TABLE IF NOT EXISTS geofences (id TEXT PRIMARY KEY, body BLOB NOT NULL, created_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS geofence_version (one INTEGER PRIMARY KEY CHECK (one = 1), v INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO geofence_version VALUES (1, 0)",
]
_dec = msgspec.json.Decoder(Geofence)


class GeofenceStore:
    def __init__(self, path: Path):
        self.conn = connect(path)
        self._lock = threading.RLock()  # one connection shared by the API's worker threads
        for ddl in _DDL:
            self.conn.execute(ddl)

    def create(self, body: dict[str, Any]) -> Geofence:
        with self._lock:
            return self._create(body)

    def _create(self, body: dict[str, Any]) -> Geofence:
        """Validate and store a fence (``BadRequest`` naming the field if the body is wrong)."""
        fields = validate(body)
        fence = Geofence(id=str(body.get("id") or uuid.uuid4()), created_at=datetime.now(UTC).isoformat(),
                         **fields)
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.execute("INSERT OR REPLACE INTO geofences VALUES (?, ?, ?)",
                              (fence.id, msgspec.json.encode(fence), fence.created_at))
            self.conn.execute("UPDATE geofence_version SET v = v + 1")
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return fence

    def list(self) -> builtins.list[Geofence]:
        with self._lock:
            return self._list()

    def _list(self) -> builtins.list[Geofence]:
        rows = self.conn.execute("SELECT body FROM geofences ORDER BY created_at, id")
        return [_dec.decode(r[0]) for r in rows]

    def get(self, fence_id: str) -> Geofence:
        with self._lock:
            return self._get(fence_id)

    def _get(self, fence_id: str) -> Geofence:
        row = self.conn.execute("SELECT body FROM geofences WHERE id = ?", (fence_id,)).fetchone()
        if row is None:
            raise NotFound(f"no geofence with id {fence_id!r}; list them with GET /v1/geofences", field="id")
        return _dec.decode(row[0])

    def delete(self, fence_id: str) -> None:
        with self._lock:
            return self._delete(fence_id)

    def _delete(self, fence_id: str) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        cur = self.conn.execute("DELETE FROM geofences WHERE id = ?", (fence_id,))
        self.conn.execute("UPDATE geofence_version SET v = v + 1")
        self.conn.execute("COMMIT")
        if cur.rowcount == 0:
            raise NotFound(f"no geofence with id {fence_id!r}; list them with GET /v1/geofences", field="id")

    def version(self) -> int:
        with self._lock:
            return self._version()

    def _version(self) -> int:
        return int(self.conn.execute("SELECT v FROM geofence_version").fetchone()[0])

    def close(self) -> None:
        self.conn.close()
