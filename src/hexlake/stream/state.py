"""The stream state file (``<data_dir>/stream.sqlite``): what makes consumers exactly-once in effect.

One transaction per micro-batch stores, together: the log offsets processed, the operators' dirty
state, the late side output, the watermark, and the batch's outputs in an *outbox*. Outputs are then
delivered to their sinks (counter store, online store, warehouse, log, webhooks), each idempotent on
the outbox id or an event id, and removed from the outbox. A crash anywhere replays from here:
un-acked messages come back from the log and are skipped by offset; undelivered outputs are resent.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from hexlake.config import Settings
from hexlake.errors import ConfigError

_DDL = [
    "CREATE TABLE IF NOT EXISTS processed (grp TEXT NOT NULL, off INTEGER NOT NULL, event_id TEXT,"
    " done_at REAL NOT NULL, PRIMARY KEY (grp, off)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS op_state (grp TEXT NOT NULL, k TEXT NOT NULL, v BLOB NOT NULL,"
    " PRIMARY KEY (grp, k)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS consumer_meta (grp TEXT PRIMARY KEY, watermark REAL, events INTEGER,"
    " late INTEGER, duplicates INTEGER, batches INTEGER, updated_at REAL)",
    "CREATE TABLE IF NOT EXISTS late_events (grp TEXT NOT NULL, off INTEGER NOT NULL, event_id TEXT,"
    " event_type TEXT, user_key TEXT, ts REAL, watermark REAL, lateness_s REAL, recorded_at REAL,"
    " payload BLOB, PRIMARY KEY (grp, off)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, grp TEXT NOT NULL,"
    " sink TEXT NOT NULL, payload BLOB NOT NULL)",
]


class LateEvent(msgspec.Struct, frozen=True):
    """One event of the late side output (counted, listed by the API, never silently dropped)."""

    offset: int
    event_id: str
    event_type: str
    user_key: str | None
    ts: float
    watermark: float
    lateness_s: float
    payload: bytes


class OutboxItem(msgspec.Struct, frozen=True):
    id: int
    sink: str
    payload: bytes


class GroupMeta(msgspec.Struct):
    watermark: float | None = None
    events: int = 0
    late: int = 0
    duplicates: int = 0
    batches: int = 0


def stream_db_path(settings: Settings) -> Path:
    """Shared stream file: realtime counters, the geofence registry, webhook deliveries."""
    return settings.paths.stream_db


def group_state_path(settings: Settings, group: str) -> Path:
    """One state file per consumer group, so a group's commits never wait for another's lock."""
    return settings.paths.stream_groups / f"{group}.sqlite"


def group_state_files(settings: Settings) -> list[Path]:
    return sorted(settings.paths.stream_groups.glob("*.sqlite"))


def connect(path: Path) -> sqlite3.Connection:
    """A WAL connection with a busy timeout (consumers, the API and the CLI share the file)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(f"cannot open the stream state file {path}: {exc}; check the data dir") from exc
    return conn


class StreamState:
    """One connection to the state file for one consumer (each consumer thread owns its own)."""

    def __init__(self, path: Path):
        self.path = path
        self.conn = connect(path)
        for ddl in _DDL:
            self.conn.execute(ddl)

    # -- reads ---------------------------------------------------------------------------------
    def processed_offsets(self, group: str, offsets: Sequence[int]) -> set[int]:
        if not offsets:
            return set()
        marks = ",".join("?" * len(offsets))
        rows = self.conn.execute(
            f"SELECT off FROM processed WHERE grp = ? AND off IN ({marks})", [group, *offsets]
        )
        return {r[0] for r in rows}

    def recent_event_ids(self, group: str, limit: int) -> list[str]:
        rows = self.conn.execute(
            "SELECT event_id FROM processed WHERE grp = ? ORDER BY off DESC LIMIT ?", (group, limit)
        )
        return [r[0] for r in rows if r[0]]

    def load_state(self, group: str) -> dict[str, bytes]:
        return {k: v for k, v in self.conn.execute("SELECT k, v FROM op_state WHERE grp = ?", (group,))}

    def meta(self, group: str) -> GroupMeta:
        row = self.conn.execute(
            "SELECT watermark, events, late, duplicates, batches FROM consumer_meta WHERE grp = ?", (group,)
        ).fetchone()
        return GroupMeta() if row is None else GroupMeta(*row)

    def pending_outbox(self, group: str, limit: int = 1000) -> list[OutboxItem]:
        rows = self.conn.execute(
            "SELECT id, sink, payload FROM outbox WHERE grp = ? ORDER BY id LIMIT ?", (group, limit)
        )
        return [OutboxItem(*r) for r in rows]

    def outbox_size(self, group: str) -> int:
        return int(self.conn.execute("SELECT count(*) FROM outbox WHERE grp = ?", (group,)).fetchone()[0])

    # -- the one write per batch ----------------------------------------------------------------
    def commit_batch(
        self,
        group: str,
        *,
        processed: Iterable[tuple[int, str]],
        late: Sequence[LateEvent],
        state: dict[str, bytes | None],
        outbox: Sequence[tuple[str, bytes]],
        meta: GroupMeta,
    ) -> None:
        """Store everything a batch changed in one transaction (all or nothing)."""
        now = time.time()
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            c.executemany(
                "INSERT OR IGNORE INTO processed (grp, off, event_id, done_at) VALUES (?, ?, ?, ?)",
                [(group, off, eid, now) for off, eid in processed],
            )
            c.executemany(
                "INSERT OR IGNORE INTO late_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(group, e.offset, e.event_id, e.event_type, e.user_key, e.ts, e.watermark, e.lateness_s,
                  now, e.payload) for e in late],
            )
            puts = [(group, k, v) for k, v in state.items() if v is not None]
            dels = [(group, k) for k, v in state.items() if v is None]
            c.executemany("INSERT OR REPLACE INTO op_state (grp, k, v) VALUES (?, ?, ?)", puts)
            c.executemany("DELETE FROM op_state WHERE grp = ? AND k = ?", dels)
            c.executemany(
                "INSERT INTO outbox (grp, sink, payload) VALUES (?, ?, ?)", [(group, s, p) for s, p in outbox]
            )
            c.execute(
                "INSERT OR REPLACE INTO consumer_meta VALUES (?, ?, ?, ?, ?, ?, ?)",
                (group, meta.watermark, meta.events, meta.late, meta.duplicates, meta.batches, now),
            )
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def outbox_done(self, ids: Sequence[int]) -> None:
        self.conn.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])

    def prune_processed(self, group: str, older_than_s: float) -> int:
        """Forget processed offsets once the log can no longer redeliver them."""
        cur = self.conn.execute(
            "DELETE FROM processed WHERE grp = ? AND done_at < ?", (group, time.time() - older_than_s)
        )
        return cur.rowcount

    def close(self) -> None:
        self.conn.close()


def list_late_events(paths: Sequence[Path], group: str | None, limit: int) -> list[dict[str, Any]]:
    """The late side output of the given state files, newest first (API and CLI)."""
    rows = [r for path in paths for r in _late_rows(path, group, limit)]
    rows.sort(key=lambda r: (r["recorded_at"], r["offset"]), reverse=True)
    return rows[:limit]


def _late_rows(path: Path, group: str | None, limit: int) -> list[dict[str, Any]]:
    conn = connect(path)
    try:
        for ddl in _DDL:
            conn.execute(ddl)
        sql = (
            "SELECT grp, off, event_id, event_type, user_key, ts, watermark, lateness_s, recorded_at"
            " FROM late_events"
        )
        args: list[Any] = []
        if group:
            sql += " WHERE grp = ?"
            args.append(group)
        rows = conn.execute(sql + " ORDER BY recorded_at DESC, off DESC LIMIT ?", [*args, limit])
        cols = ["group", "offset", "event_id", "event_type", "user_key", "ts", "watermark", "lateness_s",
                "recorded_at"]
        return [dict(zip(cols, r, strict=True)) for r in rows]
    finally:
        conn.close()


def consumer_stats(paths: Sequence[Path]) -> dict[str, dict[str, Any]]:
    """Watermark, counts and pending outputs per consumer group."""
    out: dict[str, dict[str, Any]] = {}
    for path in paths:
        out.update(_stats(path))
    return out


def _stats(path: Path) -> dict[str, dict[str, Any]]:
    conn = connect(path)
    try:
        for ddl in _DDL:
            conn.execute(ddl)
        rows = conn.execute("SELECT grp, watermark, events, late, duplicates, batches, updated_at FROM consumer_meta")
        out = {}
        for grp, wm, ev, late, dup, batches, upd in rows:
            pending = conn.execute("SELECT count(*) FROM outbox WHERE grp = ?", (grp,)).fetchone()[0]
            out[grp] = {"watermark": wm, "events": ev, "late": late, "duplicates": dup, "batches": batches,
                        "updated_at": upd, "outbox_pending": pending}
        return out
    finally:
        conn.close()
