"""The ``imports`` bookkeeping file (``<data_dir>/imports.sqlite``): imports, files, checkpoints, seen ids.

One SQLite file in WAL mode, owned by the importer. A checkpoint (file offset + counters + the ids
of the batch) is committed in ONE transaction, only after ``ingest`` returned for that batch, so a
crash between the two re-sends at most one batch — whose deterministic event ids the gate and the
idempotent loader then answer as duplicates.

User ids are never stored here: imports carry the gate's ``user_key`` (HMAC) only.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from hexlake._process import pid_alive
from hexlake.errors import NotFound

_DDL = """
CREATE TABLE IF NOT EXISTS imports (
    id TEXT PRIMARY KEY,
    user_key TEXT NOT NULL,
    source_path TEXT NOT NULL,
    kind TEXT,
    archive_sha256 TEXT,
    archive_bytes INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    options TEXT NOT NULL DEFAULT '{}',
    total_bytes INTEGER NOT NULL DEFAULT 0,
    bytes_done INTEGER NOT NULL DEFAULT 0,
    files_total INTEGER NOT NULL DEFAULT 0,
    files_done INTEGER NOT NULL DEFAULT 0,
    records INTEGER NOT NULL DEFAULT 0,
    accepted INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    quarantined INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    message TEXT,
    pid INTEGER,
    upload_id TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS imports_by_sha ON imports (user_key, archive_sha256);
CREATE TABLE IF NOT EXISTS import_files (
    import_id TEXT NOT NULL,
    path TEXT NOT NULL,
    format TEXT NOT NULL,
    size INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    sha256 TEXT,
    records_done INTEGER NOT NULL DEFAULT 0,
    bytes_done INTEGER NOT NULL DEFAULT 0,
    accepted INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    quarantined INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    message TEXT,
    PRIMARY KEY (import_id, path)
);
CREATE TABLE IF NOT EXISTS seen (event_id BLOB PRIMARY KEY) WITHOUT ROWID;
"""

TERMINAL = ("done", "failed", "refused", "skipped")


class FileRow(msgspec.Struct, kw_only=True):
    """One parsed member of an import: its checkpoint (``records_done``) and counters."""

    path: str
    format: str
    size: int
    status: str
    sha256: str | None
    records_done: int
    bytes_done: int
    accepted: int
    duplicates: int
    quarantined: int
    errors: int
    message: str | None


class ImportRow(msgspec.Struct, kw_only=True):
    """An import as shown by ``GET /v1/imports/{id}`` and ``hexlake import status``."""

    id: str
    user_key: str
    source_path: str
    kind: str | None
    archive_sha256: str | None
    archive_bytes: int
    status: str
    options: dict[str, Any]
    total_bytes: int
    bytes_done: int
    files_total: int
    files_done: int
    records: int
    accepted: int
    duplicates: int
    quarantined: int
    errors: int
    message: str | None
    pid: int | None
    upload_id: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    files: list[FileRow] = msgspec.field(default_factory=list)

    @property
    def progress(self) -> float:
        if self.total_bytes:
            return self.bytes_done / self.total_bytes
        return 1.0 if self.status in ("done", "skipped") else 0.0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = msgspec.to_builtins(self)
        out["progress"] = round(self.progress, 4)
        return out


class Counts(msgspec.Struct, kw_only=True):
    """Outcome of one delivered batch (``records`` counts every record read, including skipped)."""

    records: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    errors: int = 0


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


    return True


class ImportStore:
    """Imports, per-file checkpoints and the seen-id index. Thread-safe (one connection + lock)."""

    def __init__(self, path: Path | str):
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_DDL)
        self._lock = threading.RLock()

    # -- imports -------------------------------------------------------------------------------

    def create(self, *, user_key: str, source_path: str, options: dict[str, Any], upload_id: str | None = None) -> str:
        import_id = "imp_" + uuid.uuid4().hex[:16]
        with self._lock:
            self._db.execute(
                "INSERT INTO imports (id, user_key, source_path, status, options, upload_id, created_at) "
                "VALUES (?, ?, ?, 'pending', ?, ?, ?)",
                (import_id, user_key, source_path, json.dumps(options), upload_id, now()),
            )
        return import_id

    def set_inspected(
        self,
        import_id: str,
        *,
        kind: str,
        sha256: str | None,
        archive_bytes: int,
        files: Sequence[tuple[str, str, int]],
    ) -> None:
        """Record what inspection found and create one pending checkpoint row per file."""
        with self._lock, self._tx():
            self._db.execute(
                "UPDATE imports SET kind=?, archive_sha256=?, archive_bytes=?, total_bytes=?, files_total=? WHERE id=?",
                (kind, sha256, archive_bytes, sum(f[2] for f in files), len(files), import_id),
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO import_files (import_id, path, format, size, seq) VALUES (?, ?, ?, ?, ?)",
                [(import_id, p, fmt, size, i) for i, (p, fmt, size) in enumerate(files)],
            )

    def claim(self, import_id: str) -> bool:
        """Mark the import running by this process unless another live process runs it."""
        with self._lock, self._tx():
            row = self._db.execute("SELECT status, pid FROM imports WHERE id=?", (import_id,)).fetchone()
            if row is None:
                raise NotFound(f"no import {import_id!r}; list them with `hexlake import status`", field="id")
            if row[0] == "running" and row[1] != os.getpid() and pid_alive(row[1]):
                return False
            self._db.execute(
                "UPDATE imports SET status='running', pid=?, message=NULL, "
                "started_at=COALESCE(started_at, ?), finished_at=NULL WHERE id=?",
                (os.getpid(), now(), import_id),
            )
            return True

    def finish(self, import_id: str, status: str, message: str | None = None) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE imports SET status=?, message=?, pid=NULL, finished_at=? WHERE id=?",
                (status, message, now(), import_id),
            )

    def get(self, import_id: str, *, files: bool = True) -> ImportRow:
        with self._lock:
            cur = self._db.execute("SELECT * FROM imports WHERE id=?", (import_id,))
            row = cur.fetchone()
            if row is None:
                raise NotFound(f"no import {import_id!r}; list them with `hexlake import status`", field="id")
            result = self._row(cur.description, row)
            if files:
                result.files = self.files(import_id)
        return result

    def list_imports(self, limit: int = 100) -> list[ImportRow]:
        with self._lock:
            cur = self._db.execute("SELECT * FROM imports ORDER BY created_at DESC, id LIMIT ?", (limit,))
            return [self._row(cur.description, r) for r in cur.fetchall()]

    def find(self, *, user_key: str, sha256: str | None, source_path: str) -> list[ImportRow]:
        """Earlier imports of the same content (archive hash; folder path when no hash) by this user."""
        with self._lock:
            if sha256 is not None:
                cur = self._db.execute(
                    "SELECT * FROM imports WHERE user_key=? AND archive_sha256=? ORDER BY created_at DESC",
                    (user_key, sha256),
                )
            else:
                cur = self._db.execute(
                    "SELECT * FROM imports WHERE user_key=? AND source_path=? AND archive_sha256 IS NULL "
                    "ORDER BY created_at DESC",
                    (user_key, source_path),
                )
            return [self._row(cur.description, r) for r in cur.fetchall()]

    def files(self, import_id: str) -> list[FileRow]:
        with self._lock:
            cur = self._db.execute(
                "SELECT path, format, size, status, sha256, records_done, bytes_done, accepted, duplicates, "
                "quarantined, errors, message FROM import_files WHERE import_id=? ORDER BY seq",
                (import_id,),
            )
            names = [d[0] for d in cur.description]
            return [FileRow(**dict(zip(names, r, strict=True))) for r in cur.fetchall()]

    def delete(self, import_id: str) -> None:
        with self._lock, self._tx():
            self._db.execute("DELETE FROM import_files WHERE import_id=?", (import_id,))
            self._db.execute("DELETE FROM imports WHERE id=?", (import_id,))

    # -- checkpoints ---------------------------------------------------------------------------

    def checkpoint(
        self,
        import_id: str,
        path: str,
        *,
        records_done: int,
        bytes_done: int,
        counts: Counts,
        seen: Iterable[bytes],
        bytes_delta: int,
    ) -> None:
        """Commit a delivered batch: the file offset, counters and the batch's ids, atomically."""
        with self._lock, self._tx():
            self._db.executemany("INSERT OR IGNORE INTO seen (event_id) VALUES (?)", ((s,) for s in seen))
            self._db.execute(
                "UPDATE import_files SET status='running', records_done=?, bytes_done=?, "
                "accepted=accepted+?, duplicates=duplicates+?, quarantined=quarantined+?, errors=errors+? "
                "WHERE import_id=? AND path=?",
                (
                    records_done,
                    bytes_done,
                    counts.accepted,
                    counts.duplicates,
                    counts.quarantined,
                    counts.errors,
                    import_id,
                    path,
                ),
            )
            self._db.execute(
                "UPDATE imports SET records=records+?, accepted=accepted+?, duplicates=duplicates+?, "
                "quarantined=quarantined+?, errors=errors+?, bytes_done=bytes_done+? WHERE id=?",
                (
                    counts.records,
                    counts.accepted,
                    counts.duplicates,
                    counts.quarantined,
                    counts.errors,
                    bytes_delta,
                    import_id,
                ),
            )

    def finish_file(
        self,
        import_id: str,
        path: str,
        *,
        status: str,
        sha256: str | None,
        bytes_done: int,
        bytes_delta: int,
        message: str | None = None,
    ) -> None:
        with self._lock, self._tx():
            self._db.execute(
                "UPDATE import_files SET status=?, sha256=?, bytes_done=?, message=? WHERE import_id=? AND path=?",
                (status, sha256, bytes_done, message, import_id, path),
            )
            self._db.execute(
                "UPDATE imports SET files_done=files_done+1, bytes_done=bytes_done+? WHERE id=?",
                (bytes_delta, import_id),
            )

    def seen_subset(self, ids: Sequence[bytes]) -> set[bytes]:
        """Which of ``ids`` an earlier import (of any archive) already delivered."""
        found: set[bytes] = set()
        with self._lock:
            for i in range(0, len(ids), 900):
                part = ids[i : i + 900]
                marks = ",".join("?" * len(part))
                found.update(
                    r[0] for r in self._db.execute(f"SELECT event_id FROM seen WHERE event_id IN ({marks})", part)
                )
        return found

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- helpers -------------------------------------------------------------------------------

    def _tx(self) -> _Tx:
        return _Tx(self._db)

    @staticmethod
    def _row(description: Any, row: Sequence[Any]) -> ImportRow:
        data = dict(zip([d[0] for d in description], row, strict=True))
        data["options"] = json.loads(data["options"] or "{}")
        return ImportRow(**data)


class _Tx:
    def __init__(self, db: sqlite3.Connection):
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")


__all__ = ["TERMINAL", "Counts", "FileRow", "ImportRow", "ImportStore", "now"]
