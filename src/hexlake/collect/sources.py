"""Sources with their write keys, and read keys, in the catalog (SQLite).

Only SHA-256 digests of keys are stored; the plain key is shown once, when created. Lookups are
cached for a second so that a revocation made by another process takes effect quickly without a
database read per request.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from hexlake.catalog import connect_catalog
from hexlake.errors import BadRequest, Conflict, NotFound, Unauthorized
from hexlake.gate.envelope import SourceInfo
from hexlake.runtime import Runtime

POLICIES = ("accept", "quarantine", "reject")
_CACHE_TTL_S = 1.0

_DDL = """
CREATE TABLE IF NOT EXISTS sources (
    name TEXT PRIMARY KEY,
    key_digest TEXT NOT NULL UNIQUE,
    unknown_events TEXT NOT NULL DEFAULT 'accept',
    geoip INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS read_keys (
    name TEXT PRIMARY KEY,
    key_digest TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
"""


class SourceRow(msgspec.Struct, kw_only=True):
    name: str
    unknown_events: str
    geoip: bool
    created_at: str
    revoked_at: str | None


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat()


class KeyStore:
    """Sources (write keys) and read keys of one data dir."""

    def __init__(self, catalog_db: Path):
        self._conn = connect_catalog(catalog_db)
        self._conn.executescript(_DDL)
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, Any]] = {}

    def create_source(self, name: str, *, unknown_events: str = "accept", geoip: bool = False) -> str:
        """Create a source and return its write key (shown only now)."""
        if unknown_events not in POLICIES:
            raise BadRequest(f"unknown_events must be one of {', '.join(POLICIES)}", field="unknown_events")
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise BadRequest("source name must be letters, digits, '-' or '_'", field="name")
        if name.startswith("hexlake-"):
            raise BadRequest("source names starting with 'hexlake-' are reserved for hexlake itself", field="name")
        key = "hxw_" + secrets.token_urlsafe(24)
        with self._lock, self._conn:
            try:
                self._conn.execute(
                    "INSERT INTO sources VALUES (?, ?, ?, ?, ?, NULL)",
                    (name, _digest(key), unknown_events, int(geoip), _now()),
                )
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"source {name!r} already exists", field="name") from exc
        return key

    def create_read_key(self, name: str) -> str:
        key = "hxr_" + secrets.token_urlsafe(24)
        with self._lock, self._conn:
            try:
                self._conn.execute(
                    "INSERT INTO read_keys VALUES (?, ?, ?, NULL)", (name, _digest(key), _now())
                )
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"read key {name!r} already exists", field="name") from exc
        return key

    def list_sources(self) -> list[SourceRow]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT name, unknown_events, geoip, created_at, revoked_at FROM sources ORDER BY name"
            ).fetchall()
        return [SourceRow(name=r[0], unknown_events=r[1], geoip=bool(r[2]), created_at=r[3], revoked_at=r[4])
                for r in rows]

    def revoke_source(self, name: str) -> None:
        with self._lock, self._conn:
            cur = self._conn.execute(
                "UPDATE sources SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", (_now(), name)
            )
        if cur.rowcount == 0:
            raise NotFound(f"no active source named {name!r}", field="name")
        self._cache.clear()

    def resolve_write_key(self, key: str) -> SourceInfo:
        """The source of an active write key, or ``Unauthorized``."""
        found = self._cached("w:" + key, lambda: self._conn.execute(
            "SELECT name, unknown_events, geoip FROM sources WHERE key_digest = ? AND revoked_at IS NULL",
            (_digest(key),),
        ).fetchone())
        if found is None:
            raise Unauthorized("unknown or revoked write key")
        return SourceInfo(name=found[0], unknown_events=found[1], geoip=bool(found[2]))

    def check_read_key(self, key: str) -> None:
        found = self._cached("r:" + key, lambda: self._conn.execute(
            "SELECT name FROM read_keys WHERE key_digest = ? AND revoked_at IS NULL", (_digest(key),)
        ).fetchone())
        if found is None:
            raise Unauthorized("unknown or revoked read key")

    def _cached(self, ck: str, load: Any) -> Any:
        hit = self._cache.get(ck)
        now = time.monotonic()
        if hit is not None and now - hit[0] < _CACHE_TTL_S:
            return hit[1]
        with self._lock:
            value = load()
        self._cache[ck] = (now, value)
        return value

    def close(self) -> None:
        self._conn.close()


def get_keystore(runtime: Runtime) -> KeyStore:
    return runtime.resource("keystore", lambda rt: KeyStore(rt.paths.catalog_db))


def resolve_write_key(runtime: Runtime, key: str) -> SourceInfo:
    """Resolve a write key (e.g. Segment's ``writeKey`` in a body) to its source."""
    return get_keystore(runtime).resolve_write_key(key)


__all__ = ["POLICIES", "KeyStore", "SourceRow", "get_keystore", "resolve_write_key"]
