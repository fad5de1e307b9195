"""Quarantine: refused events with their raw payload and machine-readable reasons.

Nothing is dropped silently. Rows live in the catalog SQLite file; they can be listed, fixed
(``update_payload``) and replayed (the lead's CLI/API re-runs them through ``ingest`` and marks them
``replayed``) by admins only.

Without exposure (issue 15): the raw payload may hold plain identifiers, IPs and precise
coordinates, so with the data dir's secret the payload and the failure messages are stored
encrypted (AES-GCM, ``hexlake.privacy.crypto``), and each row carries the HMAC ``user_key`` of the
payload's ``user_id`` so erasure finds a person's rows without decrypting. Rows expire after
``purge_older_than`` days (the server's housekeeping, ``privacy.quarantine_days``).
"""

from __future__ import annotations

import builtins
import json
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from hexlake.catalog import connect_catalog
from hexlake.errors import BadRequest, NotFound
from hexlake.gate.envelope import QuarantineRecord
from hexlake.privacy.crypto import Sealer
from hexlake.privacy.hashing import Hasher

STATUSES = ("open", "replayed", "discarded")

_DDL = """
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    event_type TEXT,
    event_id TEXT,
    failed_at TEXT NOT NULL,
    processor TEXT NOT NULL,
    failure_json TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',
    replayed_at TEXT
);
CREATE INDEX IF NOT EXISTS quarantine_status ON quarantine (status, event_type);
"""
_MIGRATE = "ALTER TABLE quarantine ADD COLUMN user_key TEXT"
_COLUMNS = (
    "id, source, event_type, event_id, failed_at, processor, failure_json, payload_json, status, replayed_at"
)


class QuarantineRow(msgspec.Struct, kw_only=True):
    """A stored quarantined event. ``failure`` is ``{timestamp, messages: [{path, keyword, message}]}``."""

    id: int
    source: str
    event_type: str | None
    event_id: str | None
    failed_at: str
    processor: str
    failure: dict[str, Any]
    payload: Any
    status: str
    replayed_at: str | None = None


class QuarantineCount(msgspec.Struct):
    """How many rows share an event type and reason (first message: ``"<keyword> at <path>"``)."""

    event_type: str | None
    reason: str
    count: int


class QuarantineStore:
    """The ``quarantine`` table of the catalog file. Thread-safe (one connection, one lock)."""

    def __init__(self, catalog_db: Path | str, *, secret: bytes | None = None):
        """With ``secret``, payloads and failures are sealed at rest and rows keyed by user_key."""
        self._db = connect_catalog(catalog_db)
        self._db.executescript(_DDL)
        if "user_key" not in {r[1] for r in self._db.execute("PRAGMA table_info(quarantine)")}:
            self._db.execute(_MIGRATE)
        self._lock = threading.Lock()
        self._sealer: Sealer | None = None
        self._hasher: Hasher | None = None
        if secret is not None:
            self._sealer, self._hasher = Sealer(secret, "quarantine"), Hasher(secret, memo_size=1000)

    def _seal(self, text: str) -> str:
        return self._sealer.seal(text) if self._sealer is not None else text

    def _open(self, text: str) -> str:
        return self._sealer.open(text) if self._sealer is not None else text

    def _user_key(self, payload: Any) -> str | None:
        user_id = payload.get("user_id") if isinstance(payload, dict) else None
        if self._hasher is None or isinstance(user_id, bool) or not isinstance(user_id, str | int):
            return None
        return str(self._hasher.user_key(user_id))

    def put(self, records: Sequence[QuarantineRecord]) -> builtins.list[int]:
        """Store refused events (one transaction); returns their ids."""
        rows = [(*self._seal_row(_row(r)), self._user_key(r.payload)) for r in records]
        ids = []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for row in rows:
                    cur = self._db.execute(
                        "INSERT INTO quarantine (source, event_type, event_id, failed_at, processor, "
                        "failure_json, payload_json, user_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
                    ids.append(int(cur.lastrowid or 0))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return ids

    def list(
        self,
        *,
        status: str | None = "open",
        event_type: str | None = None,
        source: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[QuarantineRow]:
        """Rows, oldest first, filtered by status (None = all), event type and source."""
        if status is not None:
            _check_status(status)
        where, args = _filters(status=status, event_type=event_type, source=source)
        sql = f"SELECT {_COLUMNS} FROM quarantine{where} ORDER BY id LIMIT ? OFFSET ?"
        with self._lock:
            rows = self._db.execute(sql, (*args, max(0, limit), max(0, offset))).fetchall()
        return [self._from_row(r) for r in rows]

    def _seal_row(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        # event_type and event_id stay readable (listing, filters) but are client text: an address
        # sent as an event type must not be stored in plain (the full values are in the sealed payload)
        return (row[0], _unpersonal(row[1]), _unpersonal(row[2]), *row[3:5], self._seal(row[5]), self._seal(row[6]))

    def _from_row(self, row: tuple[Any, ...]) -> QuarantineRow:
        return _from_row((*row[:6], self._open(row[6]), self._open(row[7]), *row[8:]))

    def get(self, id: int) -> QuarantineRow | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM quarantine WHERE id = ?", (id,)).fetchone()
        return self._from_row(row) if row else None

    def for_user(self, user_key: str) -> builtins.list[QuarantineRow]:
        """Every row of one person (by the ``user_key`` stored with it), for their export."""
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM quarantine WHERE user_key = ? ORDER BY id",
                                    (user_key,)).fetchall()
        return [self._from_row(r) for r in rows]

    def counts(self, status: str | None = "open") -> builtins.list[QuarantineCount]:
        """Rows grouped by event type and reason (first message's keyword and path), biggest first."""
        where, args = _filters(status=status)
        sql = f"SELECT event_type, failure_json FROM quarantine{where}"
        tally: dict[tuple[str | None, str], int] = {}
        with self._lock:
            for event_type, failure in self._db.execute(sql, args):
                key = (event_type, _reason(json.loads(self._open(failure))))
                tally[key] = tally.get(key, 0) + 1
        counts = [QuarantineCount(event_type=k[0], reason=k[1], count=n) for k, n in tally.items()]
        return sorted(counts, key=lambda c: (-c.count, c.event_type or "", c.reason))

    def mark(self, ids: Sequence[int], status: str) -> int:
        """Set the status of rows (``replayed`` also stamps ``replayed_at``); returns rows changed."""
        _check_status(status)
        stamp = datetime.now(UTC).isoformat() if status == "replayed" else None
        with self._lock:
            cur = self._db.executemany(
                "UPDATE quarantine SET status = ?, replayed_at = COALESCE(?, replayed_at) WHERE id = ?",
                [(status, stamp, i) for i in ids],
            )
        return cur.rowcount

    def update_payload(self, id: int, payload: Any) -> None:
        """Replace a row's payload (fix, then replay); ``NotFound`` if there is no such row."""
        text = self._seal(json.dumps(payload, ensure_ascii=False))
        with self._lock:
            cur = self._db.execute("UPDATE quarantine SET payload_json = ?, user_key = ? WHERE id = ?",
                                   (text, self._user_key(payload), id))
        if cur.rowcount == 0:
            raise NotFound(f"no quarantined event with id {id}", field="id")

    def delete(self, ids: Sequence[int]) -> int:
        """Remove rows for good (GDPR erasure, purges)."""
        with self._lock:
            cur = self._db.executemany("DELETE FROM quarantine WHERE id = ?", [(i,) for i in ids])
        return cur.rowcount

    def count_between(self, start: datetime, end: datetime) -> int:
        """Rows (any status) that failed in ``[start, end)``: the quality monitor's quarantine rate."""
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM quarantine WHERE failed_at >= ? AND failed_at < ?",
                                   (_iso(start), _iso(end))).fetchone()
        return int(row[0])

    def purge_older_than(self, days: float, *, now: datetime | None = None) -> int:
        """Delete rows that failed more than ``days`` ago (retention); return how many."""
        cutoff = ((now or datetime.now(UTC)) - timedelta(days=days)).isoformat()
        with self._lock:
            self._db.execute("PRAGMA secure_delete=ON")
            return self._db.execute("DELETE FROM quarantine WHERE failed_at < ?", (cutoff,)).rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _unpersonal(text: Any) -> Any:
    """``text`` with emails, phones, IPs and identifying query values replaced by ``[redacted]``."""
    from hexlake.privacy.detect import redact_text, suspect

    if isinstance(text, str) and suspect(text):
        return redact_text(text, lambda _kind, _value: "[redacted]")
    return text


def _row(r: QuarantineRecord) -> tuple[Any, ...]:
    failure = r.to_failure_json()
    return (r.source, r.event_type, r.event_id, r.failed_at.isoformat(), r.processor,
            json.dumps(failure["failure"], ensure_ascii=False),
            json.dumps(r.payload, ensure_ascii=False, default=str))


def _from_row(row: tuple[Any, ...]) -> QuarantineRow:
    (id_, source, event_type, event_id, failed_at, processor, failure, payload, status, replayed_at) = row
    return QuarantineRow(id=id_, source=source, event_type=event_type, event_id=event_id,
                         failed_at=failed_at, processor=processor, failure=json.loads(failure),
                         payload=json.loads(payload), status=status, replayed_at=replayed_at)


def _filters(**values: str | None) -> tuple[str, builtins.list[str]]:
    clauses = [f"{k} = ?" for k, v in values.items() if v is not None]
    args = [v for v in values.values() if v is not None]
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def _reason(failure: dict[str, Any]) -> str:
    messages = failure.get("messages") or []
    if not messages:
        return "unknown"
    first = messages[0]
    # keyword + path, not the message: messages quote the bad value and would split every group
    return f"{first.get('keyword', '')} at {first.get('path') or '/'}"


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(STATUSES)}, got {status!r}", field="status")


def _iso(when: datetime) -> str:
    """``failed_at``'s spelling (aware UTC isoformat), so text comparison orders by time."""
    return (when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)).isoformat()


__all__ = ["STATUSES", "QuarantineCount", "QuarantineRow", "QuarantineStore"]
