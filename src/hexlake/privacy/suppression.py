"""The suppression list: ``user_key``s of erased people, checked by the gate on every event.

Segment calls it "suppress and delete": after an erasure, late or replayed events of that person are
dropped at the door (answered as duplicates, never stored or quarantined). The list lives in the
catalog file; each process keeps a set in memory and re-reads it when another process added to it
(checked at most every ``refresh_s``), so the hot path is one set lookup.

The list stores SHA-256 of each key, not the key: after an erasure nothing in the data dir may
hold the person's ``user_key`` (the proof scan searches every byte), and a digest of it still
lets the gate recognise their events.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Container
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from hexlake.catalog import connect_catalog

_DDL = "CREATE TABLE IF NOT EXISTS suppressed_users (key_digest TEXT PRIMARY KEY, erased_at TEXT NOT NULL)"


@lru_cache(maxsize=100_000)
def digest(user_key: str) -> str:
    """What the list stores for a ``user_key`` (memoised: the same users send many events)."""
    return hashlib.sha256(b"hexlake-suppressed:" + user_key.encode()).hexdigest()


class SuppressionList:
    """Erased ``user_key``s of one data dir (thread-safe)."""

    def __init__(self, catalog_db: Path | str, *, refresh_s: float = 2.0):
        self._db = connect_catalog(catalog_db)
        self._db.execute(_DDL)
        self._lock = threading.Lock()
        self._refresh_s = refresh_s
        self._keys: frozenset[str] = frozenset()
        self._checked = 0.0
        self._count = -1
        self._reload()

    def add(self, user_key: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO suppressed_users VALUES (?, ?)",
                             (digest(user_key), datetime.now(UTC).isoformat()))
            self._keys = self._keys | {digest(user_key)}

    def __contains__(self, user_key: object) -> bool:
        if time.monotonic() - self._checked > self._refresh_s:
            self._reload()
        return bool(self._keys) and isinstance(user_key, str) and digest(user_key) in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def epoch(self) -> int:
        """Changes whenever someone is erased (in any process): stream consumers reload their state."""
        if time.monotonic() - self._checked > self._refresh_s:
            self._reload()
        return len(self._keys)

    def _reload(self) -> None:
        with self._lock:
            self._checked = time.monotonic()
            count = self._db.execute("SELECT COUNT(*) FROM suppressed_users").fetchone()[0]
            if count != self._count:
                rows = self._db.execute("SELECT key_digest FROM suppressed_users").fetchall()
                self._keys, self._count = frozenset(r[0] for r in rows), count

    def close(self) -> None:
        self._db.close()


def suppressing(deliver: Callable[[int, Any], None], gone: Container[str],
                user_of: Callable[[Any], Any]) -> Callable[[int, Any], None]:
    """A stream sink that drops the items of erased people: windows open in a consumer's memory at
    the moment of an erasure close later, and must not bring the person back (online store, offline
    table, derived events, webhooks)."""

    def deliver_kept(outbox_id: int, items: Any) -> None:
        kept = [item for item in items if user_of(item) not in gone]
        if kept or not items:
            deliver(outbox_id, kept)

    return deliver_kept


def get_suppression(runtime: object) -> SuppressionList:
    """The process's suppression list (one per runtime)."""
    from hexlake.runtime import Runtime

    assert isinstance(runtime, Runtime)
    return runtime.resource("privacy.suppression", lambda rt: SuppressionList(rt.paths.catalog_db))


__all__ = ["SuppressionList", "digest", "get_suppression", "suppressing"]
