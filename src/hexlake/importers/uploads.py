"""Chunked, resumable archive uploads, streamed to ``<data_dir>/uploads/<id>/``.

Each chunk is written straight to its offset in the target file (``pwrite``) while it is hashed;
only when its SHA-256 matches the client's header and it is fsynced is it recorded as received. A
client that was interrupted asks ``GET /v1/uploads/{id}`` for the missing chunks and sends only
those. Nothing is ever held whole in memory: one network read (≤ 1 MiB) at a time.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import msgspec

from hexlake.errors import BadRequest, Conflict, NotFound, PayloadTooLarge
from hexlake.importers.config import ImportConfig
from hexlake.importers.store import now

_DDL = """
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY, filename TEXT NOT NULL, size INTEGER NOT NULL, chunk_size INTEGER NOT NULL,
    sha256 TEXT, status TEXT NOT NULL, import_id TEXT, source TEXT, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS upload_chunks (
    upload_id TEXT NOT NULL, n INTEGER NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY (upload_id, n)
);
"""
SUFFIXES = (".zip", ".tgz", ".tar.gz", ".tar")
DEFAULT_CHUNK = 8 * 1024**2


class Upload(msgspec.Struct, kw_only=True):
    """An upload as shown to the client: which chunks arrived, which are missing."""

    id: str
    filename: str
    size: int
    chunk_size: int
    chunks_total: int
    # Chunk numbers as inclusive ``[first, last]`` ranges: bounded by the chunk cap, never one int each.
    received: list[tuple[int, int]]
    missing: list[tuple[int, int]]
    sha256: str | None
    status: str
    import_id: str | None
    created_at: str


def _suffix(filename: str) -> str:
    name = filename.lower()
    for s in SUFFIXES:
        if name.endswith(s):
            return s
    raise BadRequest(f"filename {filename!r} must end in .zip, .tgz, .tar.gz or .tar", field="filename")


class UploadStore:
    """Upload rows (in the importer's SQLite file) and their bytes on disk."""

    def __init__(self, db_path: Path, folder: Path, config: ImportConfig):
        self.folder = folder
        self.config = config
        self._db = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_DDL)
        self._lock = threading.RLock()

    def create(self, filename: str, size: int, chunk_size: int | None, sha256: str | None, source: str) -> Upload:
        suffix = _suffix(filename)
        if size <= 0:
            raise BadRequest("size must be the archive's size in bytes (> 0)", field="size")
        if size > self.config.upload_max_bytes:
            raise PayloadTooLarge(
                f"size {size} is above importers.upload_max_bytes ({self.config.upload_max_bytes})", field="size"
            )
        chunk = self._chunk_size(size, chunk_size)
        if sha256 is not None and (len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256.lower())):
            raise BadRequest("sha256 must be 64 hex digits", field="sha256")
        upload_id = "upl_" + uuid.uuid4().hex[:16]
        target = self.path_of(upload_id, suffix)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as f:
            f.truncate(size)  # sparse: chunks land at their offsets in any order
        with self._lock:
            self._db.execute(
                "INSERT INTO uploads (id, filename, size, chunk_size, sha256, status, source, created_at) "
                "VALUES (?, ?, ?, ?, ?, 'receiving', ?, ?)",
                (upload_id, filename, size, chunk, sha256.lower() if sha256 else None, source, now()),
            )
        return self.get(upload_id)

    def _chunk_size(self, size: int, asked: int | None) -> int:
        """The chunk size to use: at least the floor (or the whole file), at most the cap, few enough chunks."""
        cfg = self.config
        chunk = asked or min(DEFAULT_CHUNK, cfg.upload_chunk_max_bytes)
        floor = min(cfg.upload_chunk_min_bytes, size)
        if not floor <= chunk <= cfg.upload_chunk_max_bytes:
            raise BadRequest(
                f"chunk_size must be between {floor} and {cfg.upload_chunk_max_bytes} bytes", field="chunk_size")
        if -(-size // chunk) > cfg.upload_max_chunks:
            raise BadRequest(
                f"chunk_size {chunk} cuts {size} bytes into more than importers.upload_max_chunks "
                f"({cfg.upload_max_chunks}) chunks; use at least {-(-size // cfg.upload_max_chunks)}",
                field="chunk_size")
        return chunk

    def path_of(self, upload_id: str, suffix: str) -> Path:
        return self.folder / upload_id / f"archive{suffix}"

    def file_of(self, upload: Upload) -> Path:
        return self.path_of(upload.id, _suffix(upload.filename))

    def get(self, upload_id: str) -> Upload:
        with self._lock:
            row = self._db.execute(
                "SELECT id, filename, size, chunk_size, sha256, status, import_id, created_at FROM uploads WHERE id=?",
                (upload_id,),
            ).fetchone()
            if row is None:
                raise NotFound(f"no upload {upload_id!r}; start one with POST /v1/uploads", field="id")
            got = [
                r[0] for r in self._db.execute("SELECT n FROM upload_chunks WHERE upload_id=? ORDER BY n", (upload_id,))
            ]
        total = -(-row[2] // row[3])
        have = set(got)
        return Upload(
            id=row[0],
            filename=row[1],
            size=row[2],
            chunk_size=row[3],
            chunks_total=total,
            received=_ranges(got),
            missing=_ranges(n for n in range(total) if n not in have),
            sha256=row[4],
            status=row[5],
            import_id=row[6],
            created_at=row[7],
        )

    def source_of(self, upload_id: str) -> str | None:
        """The source whose write key started the upload (None if there is no such upload)."""
        with self._lock:
            row = self._db.execute("SELECT source FROM uploads WHERE id=?", (upload_id,)).fetchone()
        return row[0] if row else None

    def ids_of_source(self, source: str) -> set[str]:
        """Ids of every upload a source started (its imports are the ones made from these)."""
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT id FROM uploads WHERE source=?", (source,))}

    def expected_length(self, upload: Upload, n: int) -> int:
        if not 0 <= n < upload.chunks_total:
            raise NotFound(f"chunk {n} is out of range 0..{upload.chunks_total - 1}", field="n")
        return min(upload.chunk_size, upload.size - n * upload.chunk_size)

    async def write_chunk(self, upload_id: str, n: int, checksum: str | None, body: AsyncIterator[bytes]) -> Upload:
        """Stream ``body`` to chunk ``n``'s offset; record it only if length and SHA-256 match."""
        upload = self.get(upload_id)
        if upload.status != "receiving":
            raise Conflict(f"upload {upload_id} is {upload.status}; it takes no more chunks", field="id")
        if not checksum:
            raise BadRequest("send the chunk's SHA-256 (hex) in the X-Chunk-SHA256 header", field="X-Chunk-SHA256")
        want = self.expected_length(upload, n)
        sha, written = hashlib.sha256(), 0
        fd = os.open(self.file_of(upload), os.O_WRONLY)
        try:
            async for piece in body:
                if written + len(piece) > want:
                    raise BadRequest(f"chunk {n} must be {want} bytes; more arrived", field="body")
                os.pwrite(fd, piece, n * upload.chunk_size + written)
                sha.update(piece)
                written += len(piece)
            if written != want:
                raise BadRequest(f"chunk {n} must be {want} bytes; {written} arrived", field="body")
            if sha.hexdigest() != checksum.strip().lower():
                raise BadRequest(
                    f"chunk {n} checksum mismatch: its SHA-256 is {sha.hexdigest()}; send it again",
                    field="X-Chunk-SHA256",
                )
            os.fsync(fd)
        finally:
            os.close(fd)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO upload_chunks VALUES (?, ?, ?)", (upload_id, n, sha.hexdigest()))
        return self.get(upload_id)

    def complete(self, upload_id: str) -> Upload:
        """Check every chunk arrived (and the whole-file SHA-256 if one was declared)."""
        upload = self.get(upload_id)
        if upload.status != "receiving":
            raise Conflict(f"upload {upload_id} is already {upload.status}", field="id")
        if upload.missing:
            shown = ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in upload.missing[:20])
            raise Conflict(
                f"upload {upload_id} still misses chunks {shown}",
                field="chunks",
                details=[list(r) for r in upload.missing[:1000]],
            )
        if upload.sha256 is not None:
            digest = _sha256(self.file_of(upload))
            if digest != upload.sha256:
                raise Conflict(
                    f"the assembled file's SHA-256 is {digest}, not the declared {upload.sha256}", field="sha256"
                )
        self.set_status(upload_id, "complete")
        return self.get(upload_id)

    def set_status(self, upload_id: str, status: str, import_id: str | None = None) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE uploads SET status=?, import_id=COALESCE(?, import_id) WHERE id=?",
                (status, import_id, upload_id),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _ranges(numbers: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted chunk numbers as inclusive ``(first, last)`` runs: 0,1,2,5 → (0, 2), (5, 5)."""
    runs: list[tuple[int, int]] = []
    for n in numbers:
        if runs and runs[-1][1] == n - 1:
            runs[-1] = (runs[-1][0], n)
        else:
            runs.append((n, n))
    return runs


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1024 * 1024):
            h.update(chunk)
    return h.hexdigest()


def upload_json(upload: Upload) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(upload)
    return out


__all__ = ["Upload", "UploadStore", "upload_json"]
