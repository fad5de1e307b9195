"""Realtime counters (the seed's ``platform_metrics_realtime``): TTL'd values behind ``CounterStore``.

Keys (minute = event-time minute, epoch seconds):

* ``epm|<minute>|<event_type>|<source>`` events per minute by type and source
* ``seen|<user_key>``                    last event time of a user (active users 5/15/60 min)
* ``place|<minute>|<place_id>|<h3_r6>``  events per place and minute (live counts, trending)
* ``cell|<minute>|<h3_r6>``              events per H3 r6 cell and minute

Every value carries an expiry; reads filter on it, so an expired value is never returned even
before the janitor purges it. The operator aggregates a batch into ops; the store applies a batch
once (idempotent on the outbox id), so counts are exact across crashes and redeliveries.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from hexlake.gate.envelope import Event
from hexlake.stream.consumer import BatchOutput
from hexlake.stream.state import connect
from hexlake.stream.timeutil import Watermark, epoch
from hexlake.stream.windows import place_of

GROUP = "stream-counters"
CounterOp = tuple[str, str, float, float]
"""(kind, key, value, expires_at); kind is ``incr`` (add) or ``max`` (keep the larger)."""


@runtime_checkable
class CounterStore(Protocol):
    """TTL counters. SQLite embedded; Redis implements the same four calls."""

    def apply(self, batch_id: int, ops: Sequence[CounterOp]) -> None:
        """Apply ``ops`` atomically, once: a ``batch_id`` already applied is ignored."""
        ...

    def scan(self, prefix: str, now: float) -> dict[str, float]:
        """Every unexpired key starting with ``prefix`` and its value."""
        ...

    def count_at_least(self, prefix: str, threshold: float, now: float) -> int:
        """How many unexpired keys under ``prefix`` have a value >= ``threshold``."""
        ...

    def purge_expired(self, now: float) -> int:
        """Reclaim space of expired keys (reads ignore them anyway)."""
        ...

    def close(self) -> None: ...


_DDL = [
    "CREATE TABLE IF NOT EXISTS counters (k TEXT PRIMARY KEY, v REAL NOT NULL, expires_at REAL NOT NULL)"
    " WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS counters_seen ON counters (v) WHERE k >= 'seen|' AND k < 'seen}'",
    "CREATE TABLE IF NOT EXISTS counter_batches (batch_id INTEGER PRIMARY KEY, applied_at REAL NOT NULL)",
]
_UPSERT = {
    "incr": "INSERT INTO counters VALUES (?, ?, ?) ON CONFLICT(k) DO UPDATE SET v = v + excluded.v,"
    " expires_at = max(expires_at, excluded.expires_at)",
    "max": "INSERT INTO counters VALUES (?, ?, ?) ON CONFLICT(k) DO UPDATE SET v = max(v, excluded.v),"
    " expires_at = max(expires_at, excluded.expires_at)",
}


class SqliteCounterStore:
    def __init__(self, path: Path):
        self.conn = connect(path)
        self._lock = threading.Lock()
        for ddl in _DDL:
            self.conn.execute(ddl)

    def apply(self, batch_id: int, ops: Sequence[CounterOp]) -> None:
        with self._lock:
            c = self.conn
            c.execute("BEGIN IMMEDIATE")
            try:
                cur = c.execute("INSERT OR IGNORE INTO counter_batches VALUES (?, unixepoch())", (batch_id,))
                if cur.rowcount:
                    for kind in ("incr", "max"):
                        rows = [(k, v, e) for kd, k, v, e in ops if kd == kind]
                        c.executemany(_UPSERT[kind], rows)
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise

    def scan(self, prefix: str, now: float) -> dict[str, float]:
        with self._lock:
            rows = self.conn.execute(
                "SELECT k, v FROM counters WHERE k >= ? AND k < ? AND expires_at > ?",
                (prefix, _prefix_end(prefix), now),
            ).fetchall()
        return dict(rows)

    def count_at_least(self, prefix: str, threshold: float, now: float) -> int:
        with self._lock:
            row = self.conn.execute(
                "SELECT count(*) FROM counters WHERE k >= ? AND k < ? AND v >= ? AND expires_at > ?",
                (prefix, _prefix_end(prefix), threshold, now),
            ).fetchone()
        return int(row[0])

    def purge_expired(self, now: float) -> int:
        with self._lock:
            cur = self.conn.execute("DELETE FROM counters WHERE expires_at <= ?", (now,))
            self.conn.execute("DELETE FROM counter_batches WHERE applied_at < ?", (now - 7 * 86400,))
            return cur.rowcount

    def close(self) -> None:
        self.conn.close()


class MemoryCounterStore:
    """The in-memory fake with the same semantics."""

    def __init__(self) -> None:
        self.data: dict[str, tuple[float, float]] = {}
        self.applied: set[int] = set()

    def apply(self, batch_id: int, ops: Sequence[CounterOp]) -> None:
        if batch_id in self.applied:
            return
        self.applied.add(batch_id)
        for kind, key, value, expires in ops:
            old = self.data.get(key)
            if old is None:
                self.data[key] = (value, expires)
            else:
                new = old[0] + value if kind == "incr" else max(old[0], value)
                self.data[key] = (new, max(old[1], expires))

    def scan(self, prefix: str, now: float) -> dict[str, float]:
        return {k: v for k, (v, e) in self.data.items() if k.startswith(prefix) and e > now}

    def count_at_least(self, prefix: str, threshold: float, now: float) -> int:
        return sum(1 for v in self.scan(prefix, now).values() if v >= threshold)

    def purge_expired(self, now: float) -> int:
        dead = [k for k, (_, e) in self.data.items() if e <= now]
        for k in dead:
            del self.data[k]
        return len(dead)

    def close(self) -> None:
        pass


def _prefix_end(prefix: str) -> str:
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class CounterOperator:
    """Stateless: turns each batch into aggregated counter ops, emitted to the ``counters`` sink."""

    group = GROUP

    def __init__(self, ttl_s: float, active_window_s: float = 3600.0):
        self.ttl_s = ttl_s  # how long a minute bucket stays readable after the minute ends
        self.active_window_s = active_window_s

    def load(self, state: dict[str, bytes]) -> None:
        pass

    def process(self, events: Sequence[Event], out: BatchOutput, watermark: Watermark) -> None:
        incr: dict[str, list[float]] = {}
        seen: dict[str, list[float]] = {}
        for ev in events:
            ts = epoch(ev.ts)
            minute = int(ts // 60 * 60)
            expires = minute + 60 + self.ttl_s
            _add(incr, f"epm|{minute}|{ev.event_type}|{ev.source}", expires)
            r6 = ev.h3_r6 or "-"
            place = place_of(ev)
            if place is not None:
                _add(incr, f"place|{minute}|{place}|{r6}", expires)
            if ev.h3_r6 is not None:
                _add(incr, f"cell|{minute}|{r6}", expires)
            user = ev.user_key or ev.anonymous_key
            if user is not None:
                # who was there, per minute: reads count distinct people over the window they return
                # (k-anonymity on the returned group; erased with the person, expire with the minute)
                if place is not None:
                    seen[f"pu|{minute}|{place}|{user}"] = [1.0, expires]
                if ev.h3_r6 is not None:
                    seen[f"cu|{minute}|{r6}|{user}"] = [1.0, expires]
                key = f"seen|{user}"
                old = seen.get(key)
                if old is None or ts > old[0]:
                    seen[key] = [ts, ts + self.active_window_s]
        ops = [["incr", k, v[0], v[1]] for k, v in incr.items()]
        ops += [["max", k, v[0], v[1]] for k, v in seen.items()]
        if ops:
            out.emit("counters", ops)


def _add(acc: dict[str, list[float]], key: str, expires: float) -> None:
    cur = acc.get(key)
    if cur is None:
        acc[key] = [1.0, expires]
    else:
        cur[0] += 1.0
