"""The embedded EventLog: one SQLite file in WAL mode.

* Appends go through a group-commit writer thread (``synchronous=FULL``): concurrent appends share
  one transaction and one fsync; a caller returns only once its rows are durable.
* Offsets are the ``messages`` rowid (``INTEGER PRIMARY KEY``). There is deliberately no index on
  ``event_id``: a B-tree on random ids costs 2-7x append throughput (DESIGN.md); duplicates are
  handled by the gate's window and the idempotent consumers.
* Consumer groups keep a read cursor plus *spans* (``hexlake.log.spans``) for the undone messages
  below it, so leasing and acking a 20k batch writes one row each, not 20k.
* Consumer bookkeeping commits with ``synchronous=NORMAL``: after a power cut a few acks may be
  lost, which only means redelivery to idempotent consumers.
* Within the process all writes take one lock (no SQLite busy-waiting between our own threads);
  other processes are handled by ``busy_timeout``. Reads use one connection per thread.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

from hexlake.errors import LogError
from hexlake.log.config import LogConfig
from hexlake.log.groupcommit import GroupCommitter
from hexlake.log.protocol import AppendItem, DeadLetter, GroupStatus, LogMessage, tombstone
from hexlake.log.spans import SCAN_FACTOR, Span, backoff_s, runs_of, split, to_runs

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    off INTEGER PRIMARY KEY, key TEXT NOT NULL, event_id TEXT NOT NULL, payload BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS groups (
    gid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, cursor INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS spans (
    gid INTEGER NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL, consumer TEXT,
    attempts INTEGER NOT NULL, visible_at REAL NOT NULL, error TEXT,
    PRIMARY KEY (gid, lo)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead_letters (
    gid INTEGER NOT NULL, off INTEGER NOT NULL, key TEXT NOT NULL, event_id TEXT NOT NULL,
    payload BLOB NOT NULL, attempts INTEGER NOT NULL, error TEXT NOT NULL, dead_at REAL NOT NULL,
    PRIMARY KEY (gid, off)) WITHOUT ROWID;
"""

BUSY_TIMEOUT_MS = 30_000

Plan = list[tuple[int, int, int]]  # delivered runs: (lo, hi, attempts)


class SqliteEventLog:
    """EventLog on a SQLite WAL file. Thread-safe; one instance per process and file."""

    SUPPORTS_GROUP_COMMIT = True
    SUPPORTS_TRIM: ClassVar[bool] = False
    SUPPORTS_DROP_PARTITIONS: ClassVar[bool] = False
    SUPPORTS_ERASE_KEY: ClassVar[bool] = True
    SUPPORTS_PURGE_EXPIRED: ClassVar[bool] = True

    def __init__(self, path: str | Path, config: LogConfig | None = None, *,
                 clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self.config = config or LogConfig.model_validate({})
        self._clock = clock
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        with _translate("open"):
            self._writer = self._connect("FULL")
            self._writer.executescript(SCHEMA)
            self._state = self._connect("NORMAL")
        self._gids: dict[str, int] = {}
        self._committer: GroupCommitter[AppendItem] = GroupCommitter(
            self._commit, window_s=self.config.group_commit_ms / 1000)
        self._closed = False

    # -- connections -------------------------------------------------------------------------

    def _connect(self, synchronous: str) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=BUSY_TIMEOUT_MS / 1000)
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise LogError(f"the event log {self.path} is closed")
            conn = self._connect("NORMAL")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    @contextmanager
    def _tx(self, what: str) -> Iterator[sqlite3.Connection]:
        """A write transaction on the consumer-state connection, serialised with the writer."""
        with _translate(what), self._write_lock:
            conn = self._state
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    # -- append ------------------------------------------------------------------------------

    @property
    def commit_count(self) -> int:
        """Append transactions committed so far (fewer than append calls under concurrency)."""
        return self._committer.commits

    def append(self, items: Sequence[AppendItem]) -> list[int]:
        if not items:
            return []
        return self._committer.submit(items)

    def _commit(self, batches: list[Sequence[AppendItem]]) -> list[list[int]]:
        conn = self._writer
        with _translate("append"), self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                start = _head(conn)
                conn.executemany(
                    "INSERT INTO messages(key, event_id, payload) VALUES (?, ?, ?)",
                    [(it.key, it.event_id, it.payload) for batch in batches for it in batch])
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        out, pos = [], start
        for batch in batches:
            out.append(list(range(pos + 1, pos + 1 + len(batch))))
            pos += len(batch)
        return out

    # -- groups ------------------------------------------------------------------------------

    def create_group(self, group: str, *, from_start: bool = True) -> None:
        with self._tx("create_group") as conn:
            self._group(conn, group, create=True, from_start=from_start)

    def _group(self, conn: sqlite3.Connection, group: str, *, create: bool,
               from_start: bool = True) -> tuple[int, int] | None:
        row = conn.execute("SELECT gid, cursor FROM groups WHERE name = ?", (group,)).fetchone()
        if row is None and create:
            cursor = 0 if from_start else _head(conn)
            gid = conn.execute("INSERT INTO groups(name, cursor) VALUES (?, ?)", (group, cursor)).lastrowid
            row = (gid, cursor)
        return (int(row[0]), int(row[1])) if row else None

    # -- read --------------------------------------------------------------------------------

    def read(self, group: str, consumer: str, max: int, *,
             visibility_timeout_s: float | None = None) -> list[LogMessage]:
        """Lease up to ``max`` messages. An unknown group is created (from the start)."""
        if max <= 0:
            return []
        vt = self.config.visibility_timeout_s if visibility_timeout_s is None else visibility_timeout_s
        now = self._clock()
        with self._tx("read") as conn:
            found = self._group(conn, group, create=True)
            assert found is not None
            gid, cursor = found
            head = _head(conn)
            spans = _spans(conn, gid)
            if spans:
                plan = self._plan(conn, gid, cursor, head, spans, consumer, max, now, vt)
            else:  # common path: nothing outstanding, lease the next contiguous range
                hi = min(cursor + max, head)
                if hi <= cursor:
                    return []
                _put(conn, gid, [Span(cursor + 1, hi, consumer, 1, now + vt)])
                conn.execute("UPDATE groups SET cursor = ? WHERE gid = ?", (hi, gid))
                plan = [(cursor + 1, hi, 1)]
        return self._fetch(plan)

    def _plan(self, conn: sqlite3.Connection, gid: int, cursor: int, head: int, spans: list[Span],
              consumer: str, max: int, now: float, vt: float) -> Plan:
        """Slow path: retries, expired leases and per-key blocking. Returns the delivered runs."""
        expired = [s for s in spans if s.visible_at <= now and s.consumer is not None
                   and s.attempts >= self.config.max_attempts]
        if expired:
            _bury(conn, gid, expired, now, lambda s: (
                f"not acked within its visibility timeout after {s.attempts} deliveries"))
        visible = [s for s in spans if s.visible_at <= now and s not in expired]
        block = _block_map(conn, [s for s in spans if s.visible_at > now])
        delivered: list[tuple[int, int]] = []
        for span in visible:
            rows = conn.execute("SELECT off, key FROM messages WHERE off BETWEEN ? AND ? ORDER BY off",
                                (span.lo, span.hi))
            for off, key in rows:
                if len(delivered) >= max:
                    break
                if key in block and block[key] < off:
                    continue
                delivered.append((off, span.attempts + 1))
        if visible:
            outside, inside = split(visible, to_runs(off for off, _ in delivered))
            leased = [p._replace(consumer=consumer, attempts=p.attempts + 1, visible_at=now + vt)
                      for p in inside]
            _delete(conn, gid, visible)
            _put(conn, gid, outside + leased)
        fresh, new_cursor = _scan_fresh(conn, cursor, head, max - len(delivered), max * SCAN_FACTOR, block)
        if fresh:
            _put(conn, gid, [Span(lo, hi, consumer, 1, now + vt) if ok else Span(lo, hi, None, 0, 0.0)
                             for lo, hi, ok in runs_of(fresh)])
            conn.execute("UPDATE groups SET cursor = ? WHERE gid = ?", (new_cursor, gid))
        delivered += [(off, 1) for off, ok in fresh if ok]
        return _plan_runs(delivered)

    def _fetch(self, plan: Plan) -> list[LogMessage]:
        out: list[LogMessage] = []
        with _translate("read"):
            conn = self._reader()
            for lo, hi, attempts in plan:
                rows = conn.execute(
                    "SELECT off, key, event_id, payload FROM messages WHERE off BETWEEN ? AND ? ORDER BY off",
                    (lo, hi))
                out.extend(LogMessage(off, key, eid, payload, attempts) for off, key, eid, payload in rows)
        return out

    # -- ack / nack --------------------------------------------------------------------------

    def ack(self, group: str, offsets: Sequence[int]) -> None:
        runs = to_runs(offsets)
        if not runs:
            return
        with self._tx("ack") as conn:
            found = self._group(conn, group, create=False)
            if found is None:
                return
            spans = _overlapping(conn, found[0], runs)
            outside, inside = split(spans, runs)
            if any(p.attempts > 0 for p in inside):  # never-delivered messages cannot be acked
                _delete(conn, found[0], spans)
                _put(conn, found[0], outside + [p for p in inside if p.attempts == 0])

    def nack(self, group: str, offsets: Sequence[int], error: str, *, retry: bool = True) -> None:
        runs = to_runs(offsets)
        if not runs:
            return
        now = self._clock()
        cfg = self.config
        limit = cfg.max_attempts if retry else 1
        with self._tx("nack") as conn:
            found = self._group(conn, group, create=False)
            if found is None:
                return
            gid = found[0]
            spans = _overlapping(conn, gid, runs)
            outside, inside = split(spans, runs)
            dead = [p for p in inside if p.attempts >= limit]
            again = [p._replace(consumer=None, error=error,
                                visible_at=now + backoff_s(p.attempts, cfg.backoff_base_s, cfg.backoff_max_s))
                     if p.attempts > 0 else p
                     for p in inside if p.attempts < limit]
            _delete(conn, gid, spans)
            _put(conn, gid, outside + again)
            if dead:
                _bury(conn, gid, dead, now, lambda _s: error)

    # -- inspection --------------------------------------------------------------------------

    def status(self) -> list[GroupStatus]:
        now = self._clock()
        with _translate("status"):
            conn = self._reader()
            conn.execute("BEGIN")
            try:
                head = _head(conn)
                groups = conn.execute("SELECT gid, name, cursor FROM groups ORDER BY name").fetchall()
                out = [self._group_status(conn, gid, name, cursor, head, now) for gid, name, cursor in groups]
            finally:
                conn.execute("COMMIT")
        return out

    def _group_status(self, conn: sqlite3.Connection, gid: int, name: str, cursor: int,
                      head: int, now: float) -> GroupStatus:
        spans = _spans(conn, gid)
        dead = conn.execute("SELECT COUNT(*) FROM dead_letters WHERE gid = ?", (gid,)).fetchone()[0]
        watermark = spans[0].lo - 1 if spans else cursor
        return GroupStatus(
            group=name,
            lag=max(head - cursor, 0) + sum(s.size for s in spans),
            in_flight=sum(s.size for s in spans if s.consumer is not None and s.visible_at > now),
            dead_letters=int(dead),
            last_acked_offset=watermark or None,
        )

    def dead_letters(self, group: str, limit: int = 100) -> list[DeadLetter]:
        with _translate("dead_letters"):
            rows = self._reader().execute(
                "SELECT d.off, d.key, d.event_id, d.payload, d.attempts, d.error FROM dead_letters d "
                "JOIN groups g ON g.gid = d.gid WHERE g.name = ? ORDER BY d.off LIMIT ?", (group, limit))
            return [DeadLetter(*row) for row in rows]

    def head_offset(self) -> int:
        with _translate("head_offset"):
            return _head(self._reader())

    def tail(self, n: int) -> list[str]:
        """Event ids of the newest ``n`` messages, oldest first."""
        if n <= 0:
            return []
        with _translate("tail"):
            rows = self._reader().execute(
                "SELECT event_id FROM messages ORDER BY off DESC LIMIT ?", (n,)).fetchall()
        return [r[0] for r in reversed(rows)]

    def truncate_before(self, offset: int) -> int:
        """Delete messages below ``offset`` that every group has finished; return how many.

        Never deletes past any group's committed watermark, nor the newest message (offsets are
        rowids and must keep growing).
        """
        with self._tx("truncate") as conn:
            limit = min(offset, _head(conn))
            for gid, cursor in conn.execute("SELECT gid, cursor FROM groups").fetchall():
                lowest = conn.execute("SELECT MIN(lo) FROM spans WHERE gid = ?", (gid,)).fetchone()[0]
                limit = min(limit, (lowest if lowest is not None else cursor + 1))
            return conn.execute("DELETE FROM messages WHERE off < ?", (limit,)).rowcount

    # -- erasure (KeyEraser) -------------------------------------------------------------------

    def count_key(self, key: str) -> int:
        needle = key.encode()
        with _translate("count_key"):
            conn = self._reader()
            return sum(conn.execute(f"SELECT COUNT(*) FROM {t} WHERE key = ? OR instr(payload, ?) > 0",
                                    (key, needle)).fetchone()[0] for t in ("messages", "dead_letters"))

    def erase_key(self, key: str) -> int:
        """Delete the person's messages with ``secure_delete`` on (freed pages are zeroed), so the
        bytes leave the file too. The newest message keeps its offset (offsets are rowids and must
        keep growing): if it is theirs, it becomes a tombstone instead."""
        needle = key.encode()
        with self._tx("erase_key") as conn:
            conn.execute("PRAGMA secure_delete=ON")
            try:
                head = _head(conn)
                where = "(key = ? OR instr(payload, ?) > 0)"
                n = conn.execute(f"UPDATE messages SET key = 'erased', payload = ? WHERE off = ? AND {where}",
                                 (tombstone(), head, key, needle)).rowcount
                n += conn.execute(f"DELETE FROM messages WHERE off < ? AND {where}", (head, key, needle)).rowcount
                n += conn.execute(f"DELETE FROM dead_letters WHERE {where}", (key, needle)).rowcount
            finally:
                conn.execute("PRAGMA secure_delete=OFF")
        with _translate("erase_key"), self._write_lock:
            # The WAL still holds the old pages: copy the zeroed ones back and empty it (best effort:
            # a long-running reader can keep a frame; the proof scan would then say so).
            self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return n

    # -- retention (RetentionPurger) ---------------------------------------------------------------

    def purge_expired(self, cutoffs: dict[str, str], *, dry_run: bool = False) -> int:
        """Below every group's progress and the newest message (offsets must keep growing)."""
        env = "json_extract(CAST(payload AS TEXT), '$.{}')"
        where = f"off < ? AND {env.format('retention')} = ? AND {env.format('ts')} < ?"
        with self._tx("purge_expired") as conn:
            limit = _head(conn)
            for gid, cursor in conn.execute("SELECT gid, cursor FROM groups").fetchall():
                lowest = conn.execute("SELECT MIN(lo) FROM spans WHERE gid = ?", (gid,)).fetchone()[0]
                limit = min(limit, lowest if lowest is not None else cursor + 1)
            verb = "SELECT COUNT(*)" if dry_run else "DELETE"
            n = 0
            for cls, cutoff in cutoffs.items():
                cur = conn.execute(f"{verb} FROM messages WHERE {where}", (limit, cls, cutoff))
                n += cur.fetchone()[0] if dry_run else cur.rowcount
        return int(n)

    def close(self) -> None:
        if self._closed:
            return
        self._committer.close()
        self._closed = True
        with self._readers_lock:
            for conn in [self._writer, self._state, *self._readers]:
                conn.close()
            self._readers.clear()


# -- helpers (SQL on one connection) -------------------------------------------------------------

@contextmanager
def _translate(what: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise LogError(f"event log {what} failed: {exc}; check the log file and retry") from exc


def _head(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(off), 0) FROM messages").fetchone()[0])


_SPAN_COLS = "lo, hi, consumer, attempts, visible_at, error"


def _spans(conn: sqlite3.Connection, gid: int) -> list[Span]:
    rows = conn.execute(f"SELECT {_SPAN_COLS} FROM spans WHERE gid = ? ORDER BY lo", (gid,))
    return [Span(*row) for row in rows]


def _overlapping(conn: sqlite3.Connection, gid: int, runs: list[tuple[int, int]]) -> list[Span]:
    rows = conn.execute(f"SELECT {_SPAN_COLS} FROM spans WHERE gid = ? AND lo <= ? AND hi >= ? ORDER BY lo",
                        (gid, runs[-1][1], runs[0][0]))
    return [Span(*row) for row in rows]


def _delete(conn: sqlite3.Connection, gid: int, spans: list[Span]) -> None:
    conn.executemany("DELETE FROM spans WHERE gid = ? AND lo = ?", [(gid, s.lo) for s in spans])


def _put(conn: sqlite3.Connection, gid: int, spans: list[Span]) -> None:
    conn.executemany(f"INSERT INTO spans(gid, {_SPAN_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     [(gid, *s) for s in spans])


def _bury(conn: sqlite3.Connection, gid: int, spans: list[Span], now: float,
          reason: Callable[[Span], str]) -> None:
    """Move ``spans`` (already removed or to remove from ``spans``) to the dead letters."""
    _delete(conn, gid, spans)
    for s in spans:
        conn.execute(
            "INSERT OR IGNORE INTO dead_letters SELECT ?, off, key, event_id, payload, ?, ?, ? "
            "FROM messages WHERE off BETWEEN ? AND ?", (gid, s.attempts, reason(s), now, s.lo, s.hi))


def _block_map(conn: sqlite3.Connection, invisible: list[Span]) -> dict[str, int]:
    """Key -> lowest offset of that key which is leased or waiting for its retry."""
    block: dict[str, int] = {}
    for s in invisible:
        rows = conn.execute("SELECT key, MIN(off) FROM messages WHERE off BETWEEN ? AND ? GROUP BY key",
                            (s.lo, s.hi))
        for key, low in rows:
            if key not in block or low < block[key]:
                block[key] = low
    return block


def _scan_fresh(conn: sqlite3.Connection, cursor: int, head: int, room: int, budget: int,
                block: dict[str, int]) -> tuple[list[tuple[int, bool]], int]:
    """Fresh messages after ``cursor``: (offset, deliverable) until ``room`` are deliverable
    or ``budget`` were scanned (blocked ones become waiting spans)."""
    fresh: list[tuple[int, bool]] = []
    pos, taken = cursor, 0
    while taken < room and pos < head and len(fresh) < budget:
        rows = conn.execute("SELECT off, key FROM messages WHERE off > ? ORDER BY off LIMIT ?",
                            (pos, min(room - taken, budget - len(fresh)))).fetchall()
        if not rows:
            break
        for off, key in rows:
            ok = key not in block
            if not ok:  # waits behind an earlier message of its key; later ones of the key too
                block[key] = min(block[key], off)
            fresh.append((off, ok))
            taken += ok
        pos = rows[-1][0]
    return fresh, pos


def _plan_runs(delivered: list[tuple[int, int]]) -> Plan:
    plan: Plan = []
    for off, attempts in sorted(delivered):
        if plan and plan[-1][1] == off - 1 and plan[-1][2] == attempts:
            plan[-1] = (plan[-1][0], off, attempts)
        else:
            plan.append((off, off, attempts))
    return plan


__all__ = ["SqliteEventLog"]
