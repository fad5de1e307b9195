"""EventLog on PostgreSQL, in the shape of the seeds' ``platform_events`` table.

* ``<p>_messages`` holds the appended messages; ``<p>_deliveries`` holds one row per (consumer
  group, message) with the seed's processing state: ``status`` pending / processing / processed /
  failed, ``retry_count`` (deliveries so far), ``visible_at``, ``consumer`` and ``error``.
* Both tables are partitioned by day (declarative ``PARTITION BY RANGE``), so retention is
  ``DROP TABLE`` of old partitions (:meth:`PostgresEventLog.drop_partitions_before`), not a
  ``DELETE`` that bloats the table.
* ``read`` claims a batch with ``FOR UPDATE SKIP LOCKED``: concurrent consumers in any number of
  processes never wait for each other's candidates. Per-user ordering: a candidate is delivered only
  when every earlier unfinished message of its key is in the same batch. A row locked by another
  reader still counts as unfinished in our snapshot, so two readers can never split one key.
* ``append`` goes through the group-commit writer (one transaction and one WAL flush per shared
  batch), reserves offsets from a sequence and ``COPY``\\ s the rows in binary. Group creation takes
  an exclusive advisory lock that appends take shared, so a new group never misses a message.
* Times (``visible_at``, partition day) come from the injected clock, so tests cross timeouts with
  a fake clock. The URL fragment (``postgresql://…/db#prefix``) sets the table prefix.
"""

from __future__ import annotations

import bisect
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import ClassVar

import psycopg

from hexlake.errors import ConfigError, LogError
from hexlake.log.config import LogConfig
from hexlake.log.groupcommit import GroupCommitter
from hexlake.log.protocol import AppendItem, DeadLetter, GroupStatus, LogMessage
from hexlake.log.spans import SCAN_FACTOR, to_runs

DEFAULT_PREFIX = "hexlake_log"
UNFINISHED = "('pending', 'processing')"
#: Offsets are passed as runs (lo, hi arrays): an index range scan per run, where ``off = ANY(big
#: array)`` made PostgreSQL filter every row of the group against the whole array.
IN_RUNS = "FROM unnest(%s::bigint[], %s::bigint[]) AS r(lo, hi) WHERE {alias}.off BETWEEN r.lo AND r.hi"


def _runs(offsets: Sequence[int]) -> tuple[list[int], list[int]]:
    runs = to_runs(offsets)
    return [lo for lo, _ in runs], [hi for _, hi in runs]

SCHEMA = """
CREATE SEQUENCE IF NOT EXISTS {p}_offsets;
CREATE TABLE IF NOT EXISTS {p}_messages (
    off bigint NOT NULL, day date NOT NULL, key text NOT NULL, event_id text NOT NULL,
    payload bytea NOT NULL, appended_at double precision NOT NULL
) PARTITION BY RANGE (day);
CREATE INDEX IF NOT EXISTS {p}_messages_off ON {p}_messages (off);
CREATE TABLE IF NOT EXISTS {p}_groups (
    gid serial PRIMARY KEY, name text NOT NULL UNIQUE, created_at double precision NOT NULL);
CREATE TABLE IF NOT EXISTS {p}_deliveries (
    gid integer NOT NULL, off bigint NOT NULL, day date NOT NULL, key text NOT NULL,
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'processing', 'processed', 'failed')),
    retry_count integer NOT NULL DEFAULT 0, consumer text,
    visible_at double precision NOT NULL DEFAULT 0, error text, updated_at double precision
) PARTITION BY RANGE (day);
CREATE INDEX IF NOT EXISTS {p}_deliveries_todo ON {p}_deliveries (gid, off)
    WHERE status IN ('pending', 'processing');
CREATE INDEX IF NOT EXISTS {p}_deliveries_key ON {p}_deliveries (gid, key, off)
    WHERE status IN ('pending', 'processing');
CREATE INDEX IF NOT EXISTS {p}_deliveries_off ON {p}_deliveries (gid, off);
CREATE INDEX IF NOT EXISTS {p}_deliveries_failed ON {p}_deliveries (gid, off) WHERE status = 'failed';
CREATE INDEX IF NOT EXISTS {p}_deliveries_leased ON {p}_deliveries (gid, visible_at)
    WHERE status = 'processing';
"""


class ConnectionPool:
    """A few autocommit-off psycopg connections shared by threads (one per concurrent caller)."""

    def __init__(self, url: str, *, size: int = 8, autocommit: bool = False):
        self.url = url
        self._idle: queue.LifoQueue[psycopg.Connection] = queue.LifoQueue()
        self._size = size
        self._autocommit = autocommit
        self._all: list[psycopg.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        conn = self._get()
        try:
            yield conn
        except BaseException:
            self._discard_or_reset(conn)
            raise
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.rollback()
        self._idle.put(conn)

    def _get(self) -> psycopg.Connection:
        if self._closed:
            raise LogError("the connection pool is closed")
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            conn = psycopg.connect(self.url, autocommit=self._autocommit)
            with self._lock:
                self._all.append(conn)
            return conn

    def _discard_or_reset(self, conn: psycopg.Connection) -> None:
        if conn.closed:
            with self._lock:
                self._all = [c for c in self._all if c is not conn]
            return
        try:
            conn.rollback()
            self._idle.put(conn)
        except psycopg.Error:
            conn.close()

    def close(self) -> None:
        self._closed = True
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()


def split_url(url: str, default_prefix: str) -> tuple[str, str]:
    """``postgresql://…/db#prefix`` -> (connection URL, identifier-safe prefix)."""
    base, _, fragment = url.partition("#")
    prefix = fragment or default_prefix
    if not prefix.replace("_", "").isalnum() or prefix[0].isdigit():
        raise ConfigError(f"table prefix {prefix!r} in {url!r} must be letters, digits and _",
                          field="log_url")
    return base.replace("postgresql+psycopg://", "postgresql://"), prefix.lower()


class PostgresEventLog:
    """EventLog on PostgreSQL tables; safe to share between threads and processes."""

    SUPPORTS_GROUP_COMMIT = True
    SUPPORTS_TRIM: ClassVar[bool] = False
    SUPPORTS_DROP_PARTITIONS: ClassVar[bool] = True
    SUPPORTS_ERASE_KEY: ClassVar[bool] = True
    SUPPORTS_PURGE_EXPIRED: ClassVar[bool] = True

    def __init__(self, url: str, config: LogConfig | None = None, *,
                 clock: Callable[[], float] = time.time):
        self.url, self.prefix = split_url(url, DEFAULT_PREFIX)
        self.config = config or LogConfig.model_validate({})
        self._clock = clock
        self._pool = ConnectionPool(self.url)
        self._gids: dict[str, int] = {}
        self._days: set[date] = set()
        with _translate("open"), self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{self.prefix}:ddl",))
            for statement in SCHEMA.format(p=self.prefix).split(";"):
                if statement.strip():
                    conn.execute(statement)
        self._committer: GroupCommitter[AppendItem] = GroupCommitter(
            self._commit, window_s=self.config.group_commit_ms / 1000, name="hexlake-pglog-writer")
        self._closed = False

    # -- helpers -----------------------------------------------------------------------------

    def _t(self, sql: str) -> str:
        return sql.replace("{p}", self.prefix)

    @property
    def _lock_key(self) -> str:
        return f"{self.prefix}:groups"

    def _ensure_partition(self, day: date) -> None:
        """Create the day's partitions of both tables (in their own transaction, once per day)."""
        if day in self._days:
            return
        nxt = day + timedelta(days=1)
        suffix = day.strftime("%Y%m%d")
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{self.prefix}:ddl",))
            for table in ("messages", "deliveries"):
                conn.execute(self._t(
                    f"CREATE TABLE IF NOT EXISTS {{p}}_{table}_{suffix} PARTITION OF {{p}}_{table} "
                    f"FOR VALUES FROM ('{day.isoformat()}') TO ('{nxt.isoformat()}')"))
        self._days.add(day)

    def _gid(self, conn: psycopg.Connection, group: str, *, create: bool,
             from_start: bool = True) -> int | None:
        if group in self._gids:
            return self._gids[group]
        row = conn.execute(self._t("SELECT gid FROM {p}_groups WHERE name = %s"), (group,)).fetchone()
        if row is None and create:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._lock_key,))
            row = conn.execute(self._t(
                "INSERT INTO {p}_groups(name, created_at) VALUES (%s, %s) "
                "ON CONFLICT (name) DO NOTHING RETURNING gid"), (group, self._clock())).fetchone()
            if row is not None and from_start:
                conn.execute(self._t(
                    "INSERT INTO {p}_deliveries(gid, off, day, key) "
                    "SELECT %s, off, day, key FROM {p}_messages"), (row[0],))
            if row is None:  # created by someone else meanwhile
                row = conn.execute(self._t("SELECT gid FROM {p}_groups WHERE name = %s"),
                                   (group,)).fetchone()
            return int(row[0]) if row else None  # cached once the transaction committed
        if row is not None:
            self._gids[group] = int(row[0])
        return int(row[0]) if row else None

    # -- append ------------------------------------------------------------------------------

    @property
    def commit_count(self) -> int:
        return self._committer.commits

    def append(self, items: Sequence[AppendItem]) -> list[int]:
        if not items:
            return []
        return self._committer.submit(items)

    def _commit(self, batches: list[Sequence[AppendItem]]) -> list[list[int]]:
        now = self._clock()
        day = datetime.fromtimestamp(now, UTC).date()
        rows = [it for batch in batches for it in batch]
        with _translate("append"):
            self._ensure_partition(day)
            with self._pool.connection() as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock_shared(hashtext(%s))", (self._lock_key,))
                gids = [r[0] for r in conn.execute(self._t("SELECT gid FROM {p}_groups"))]
                offs = sorted(r[0] for r in conn.execute(self._t(
                    "SELECT nextval('{p}_offsets') FROM generate_series(1, %s)"), (len(rows),)))
                self._copy_messages(conn, rows, offs, day, now)
                if gids:
                    self._copy_deliveries(conn, rows, offs, day, gids)
        out, pos = [], 0
        for batch in batches:
            out.append(offs[pos:pos + len(batch)])
            pos += len(batch)
        return out

    def _copy_messages(self, conn: psycopg.Connection, rows: list[AppendItem], offs: list[int],
                       day: date, now: float) -> None:
        sql = self._t("COPY {p}_messages (off, day, key, event_id, payload, appended_at) "
                      "FROM STDIN (FORMAT BINARY)")
        with conn.cursor().copy(sql) as copy:
            copy.set_types(["int8", "date", "text", "text", "bytea", "float8"])
            for off, it in zip(offs, rows, strict=True):
                copy.write_row((off, day, it.key, it.event_id, it.payload, now))

    def _copy_deliveries(self, conn: psycopg.Connection, rows: list[AppendItem], offs: list[int],
                         day: date, gids: list[int]) -> None:
        sql = self._t("COPY {p}_deliveries (gid, off, day, key) FROM STDIN (FORMAT BINARY)")
        with conn.cursor().copy(sql) as copy:
            copy.set_types(["int4", "int8", "date", "text"])
            for gid in gids:
                for off, it in zip(offs, rows, strict=True):
                    copy.write_row((gid, off, day, it.key))

    # -- groups ------------------------------------------------------------------------------

    def create_group(self, group: str, *, from_start: bool = True) -> None:
        with _translate("create_group"), self._pool.connection() as conn:
            with conn.transaction():
                gid = self._gid(conn, group, create=True, from_start=from_start)
            if gid is not None:
                self._gids[group] = gid

    # -- read --------------------------------------------------------------------------------

    def read(self, group: str, consumer: str, max: int, *,
             visibility_timeout_s: float | None = None) -> list[LogMessage]:
        """Claim up to ``max`` messages. An unknown group is created (from the start)."""
        if max <= 0:
            return []
        vt = self.config.visibility_timeout_s if visibility_timeout_s is None else visibility_timeout_s
        now = self._clock()
        with _translate("read"), self._pool.connection() as conn:
            with conn.transaction():
                gid = self._gid(conn, group, create=True)
                assert gid is not None
                self._bury_expired(conn, gid, now)
                chosen = self._claim(conn, gid, max, now)
                if chosen:
                    conn.execute(self._t(
                        "UPDATE {p}_deliveries d SET status = 'processing', consumer = %s, "
                        "retry_count = d.retry_count + 1, visible_at = %s, updated_at = %s "
                        + IN_RUNS.format(alias="d") + " AND d.gid = %s"),
                        (consumer, now + vt, now, *_runs([off for off, _ in chosen]), gid))
            self._gids[group] = gid
            if not chosen:
                return []
            attempts = dict(chosen)
            rows = [row for row in conn.execute(self._t(
                "SELECT m.off, m.key, m.event_id, m.payload FROM {p}_messages m, unnest(%s::bigint[], "
                "%s::bigint[]) AS r(lo, hi) WHERE m.off BETWEEN r.lo AND r.hi ORDER BY m.off"),
                _runs(list(attempts))).fetchall() if row[0] in attempts]
            conn.rollback()
        return [LogMessage(off, key, eid, bytes(payload), attempts[off]) for off, key, eid, payload in rows]

    def _bury_expired(self, conn: psycopg.Connection, gid: int, now: float) -> None:
        conn.execute(self._t(
            "UPDATE {p}_deliveries SET status = 'failed', consumer = NULL, updated_at = %s, "
            "error = 'not acked within its visibility timeout after ' || retry_count || ' deliveries' "
            "WHERE gid = %s AND status = 'processing' AND visible_at <= %s AND retry_count >= %s"),
            (now, gid, now, self.config.max_attempts))

    def _claim(self, conn: psycopg.Connection, gid: int, max: int, now: float) -> list[tuple[int, int]]:
        """Lock visible candidates page by page, keep those whose key has no earlier unfinished
        message left out of the batch. Returns (offset, attempts of this delivery).

        The first page is ``max`` rows (the common case: nothing blocked); later pages look past
        blocked keys until ``max * SCAN_FACTOR`` candidates were examined."""
        chosen: list[tuple[int, int]] = []
        taken: dict[str, int] = {}
        blocked: set[str] = set()
        after, scanned, budget = 0, 0, max * SCAN_FACTOR
        while len(chosen) < max and scanned < budget:
            limit = min(max - len(chosen), budget - scanned)
            page = conn.execute(self._t(
                f"SELECT off, key, retry_count FROM {{p}}_deliveries WHERE gid = %s AND status IN {UNFINISHED} "
                "AND visible_at <= %s AND off > %s ORDER BY off LIMIT %s FOR UPDATE SKIP LOCKED"),
                (gid, now, after, limit)).fetchall()
            if not page:
                break
            scanned, after = scanned + len(page), page[-1][0]
            earlier = self._unfinished_before(conn, gid, {key for _, key, _ in page}, after)
            for off, key, retries in page:
                if key in blocked or bisect.bisect_left(earlier.get(key, []), off) != taken.get(key, 0):
                    blocked.add(key)  # an earlier message of the key is leased, waiting or skipped
                    continue
                taken[key] = taken.get(key, 0) + 1
                chosen.append((off, retries + 1))
            if len(page) < limit:
                break
        return chosen

    def _unfinished_before(self, conn: psycopg.Connection, gid: int, keys: set[str], upto: int) -> dict[str, list[int]]:
        """Sorted offsets of unfinished messages of ``keys`` up to ``upto`` (in our snapshot: a row
        another reader is claiming right now still counts)."""
        out: dict[str, list[int]] = {}
        for key, off in conn.execute(self._t(
                f"SELECT key, off FROM {{p}}_deliveries WHERE gid = %s AND status IN {UNFINISHED} "
                "AND key = ANY(%s) AND off <= %s ORDER BY off"), (gid, list(keys), upto)):
            out.setdefault(key, []).append(off)
        return out

    # -- ack / nack --------------------------------------------------------------------------

    def ack(self, group: str, offsets: Sequence[int]) -> None:
        if not offsets:
            return
        with _translate("ack"), self._pool.connection() as conn, conn.transaction():
            gid = self._gid(conn, group, create=False)
            if gid is None:
                return
            conn.execute(self._t(
                "UPDATE {p}_deliveries d SET status = 'processed', consumer = NULL, updated_at = %s "
                + IN_RUNS.format(alias="d") + f" AND d.gid = %s AND d.status IN {UNFINISHED} AND d.retry_count > 0"),
                (self._clock(), *_runs(offsets), gid))

    def nack(self, group: str, offsets: Sequence[int], error: str, *, retry: bool = True) -> None:
        if not offsets:
            return
        cfg = self.config
        now = self._clock()
        with _translate("nack"), self._pool.connection() as conn, conn.transaction():
            gid = self._gid(conn, group, create=False)
            if gid is None:
                return
            conn.execute(self._t(
                "UPDATE {p}_deliveries d SET consumer = NULL, error = %s, updated_at = %s, "
                "status = CASE WHEN d.retry_count >= %s THEN 'failed' ELSE 'pending' END, "
                "visible_at = %s + LEAST(%s * power(2, GREATEST(d.retry_count - 1, 0)), %s) "
                + IN_RUNS.format(alias="d") + f" AND d.gid = %s AND d.status IN {UNFINISHED} AND d.retry_count > 0"),
                (error, now, cfg.max_attempts if retry else 1, now, cfg.backoff_base_s, cfg.backoff_max_s,
                 *_runs(offsets), gid))

    # -- inspection --------------------------------------------------------------------------

    def status(self) -> list[GroupStatus]:
        now = self._clock()
        with _translate("status"), self._pool.connection() as conn:
            # one index-backed subquery each: status is polled often and must not scan the
            # processed history (partial indexes on unfinished and failed rows)
            d = "FROM {p}_deliveries d WHERE d.gid = g.gid AND "
            rows = conn.execute(self._t(
                f"SELECT g.name, (SELECT count(*) {d} d.status IN {UNFINISHED}), "
                f"(SELECT count(*) {d} d.status IN {UNFINISHED} AND d.status = 'processing' "
                f"AND d.visible_at > %s), (SELECT count(*) {d} d.status = 'failed'), "
                f"(SELECT min(d.off) {d} d.status IN {UNFINISHED}), "
                "(SELECT max(d.off) FROM {p}_deliveries d WHERE d.gid = g.gid) "
                "FROM {p}_groups g ORDER BY g.name"), (now,)).fetchall()
            conn.rollback()
        out = []
        for name, lag, in_flight, dead, low, high in rows:
            watermark = (low - 1) if low is not None else high
            out.append(GroupStatus(group=name, lag=lag, in_flight=in_flight, dead_letters=dead,
                                   last_acked_offset=watermark or None))
        return out

    def dead_letters(self, group: str, limit: int = 100) -> list[DeadLetter]:
        with _translate("dead_letters"), self._pool.connection() as conn:
            rows = conn.execute(self._t(
                "SELECT d.off, m.key, m.event_id, m.payload, d.retry_count, d.error "
                "FROM {p}_deliveries d JOIN {p}_groups g ON g.gid = d.gid "
                "JOIN {p}_messages m ON m.off = d.off AND m.day = d.day "
                "WHERE g.name = %s AND d.status = 'failed' ORDER BY d.off LIMIT %s"),
                (group, limit)).fetchall()
            conn.rollback()
        return [DeadLetter(off, key, eid, bytes(payload), attempts, error or "")
                for off, key, eid, payload, attempts, error in rows]

    def head_offset(self) -> int:
        with _translate("head_offset"), self._pool.connection() as conn:
            row = conn.execute(self._t("SELECT COALESCE(MAX(off), 0) FROM {p}_messages")).fetchone()
            conn.rollback()
        return int(row[0]) if row else 0

    def tail(self, n: int) -> list[str]:
        if n <= 0:
            return []
        with _translate("tail"), self._pool.connection() as conn:
            rows = conn.execute(self._t(
                "SELECT event_id FROM {p}_messages ORDER BY off DESC LIMIT %s"), (n,)).fetchall()
            conn.rollback()
        return [r[0] for r in reversed(rows)]

    # -- retention ---------------------------------------------------------------------------

    def partitions(self) -> list[date]:
        """Days that have a partition, oldest first."""
        with _translate("partitions"), self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
                (f"{self.prefix}_messages",)).fetchall()
            conn.rollback()
        return sorted(datetime.strptime(r[0].rsplit("_", 1)[1], "%Y%m%d").date() for r in rows)

    def drop_partitions_before(self, day: date, *, force: bool = False) -> list[date]:
        """Drop whole days older than ``day``. Unless ``force``, a day that some group has not
        finished (pending or in-flight deliveries) is kept. Returns the dropped days."""
        dropped = []
        for old in (d for d in self.partitions() if d < day):
            with _translate("retention"), self._pool.connection() as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{self.prefix}:ddl",))
                busy = conn.execute(self._t(
                    f"SELECT 1 FROM {{p}}_deliveries WHERE day = %s AND status IN {UNFINISHED} LIMIT 1"),
                    (old,)).fetchone()
                if busy and not force:
                    continue
                suffix = old.strftime("%Y%m%d")
                for table in ("deliveries", "messages"):
                    conn.execute(self._t(f"DROP TABLE IF EXISTS {{p}}_{table}_{suffix}"))
            self._days.discard(old)
            dropped.append(old)
        return dropped

    # -- erasure (KeyEraser) -------------------------------------------------------------------

    _PERSON = "(key = %s OR position(%s::bytea in payload) > 0)"

    def count_key(self, key: str) -> int:
        with _translate("count_key"), self._pool.connection() as conn:
            row = conn.execute(self._t(f"SELECT COUNT(*) FROM {{p}}_messages WHERE {self._PERSON}"),
                               (key, key.encode())).fetchone()
        return int(row[0]) if row else 0

    def erase_key(self, key: str) -> int:
        """Delete the person's messages and their delivery rows (dead letters are deliveries)."""
        with _translate("erase_key"), self._pool.connection() as conn, conn.transaction():
            offs = [r[0] for r in conn.execute(
                self._t(f"DELETE FROM {{p}}_messages WHERE {self._PERSON} RETURNING off"),
                (key, key.encode())).fetchall()]
            if offs:
                conn.execute(self._t("DELETE FROM {p}_deliveries WHERE off = ANY(%s)"), (offs,))
        return len(offs)

    def purge_expired(self, cutoffs: dict[str, str], *, dry_run: bool = False) -> int:
        """Messages every group finished (no pending or processing delivery) whose class ended."""
        env = "convert_from(m.payload, 'UTF8')::jsonb"
        where = (f"{env}->>'retention' = %s AND {env}->>'ts' < %s AND NOT EXISTS (SELECT 1 FROM "
                 "{p}_deliveries d WHERE d.off = m.off AND d.status IN " + UNFINISHED + ")")
        n = 0
        with _translate("purge_expired"), self._pool.connection() as conn, conn.transaction():
            for cls, cutoff in cutoffs.items():
                if dry_run:
                    row = conn.execute(self._t(f"SELECT COUNT(*) FROM {{p}}_messages m WHERE {where}"),
                                       (cls, cutoff)).fetchone()
                    n += int(row[0]) if row else 0
                    continue
                offs = [r[0] for r in conn.execute(
                    self._t(f"DELETE FROM {{p}}_messages m WHERE {where} RETURNING m.off"), (cls, cutoff)).fetchall()]
                if offs:
                    conn.execute(self._t("DELETE FROM {p}_deliveries WHERE off = ANY(%s)"), (offs,))
                n += len(offs)
        return n

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._committer.close()
        self._pool.close()


@contextmanager
def _translate(what: str) -> Iterator[None]:
    try:
        yield
    except psycopg.Error as exc:
        raise LogError(f"PostgreSQL event log {what} failed: {exc}; check the database and retry") from exc


__all__ = ["ConnectionPool", "PostgresEventLog", "split_url"]
