"""The query audit log (seed 004's ``warehouse_audit_logs``): who ran what, on which tables, with what result.

Every user query (API or CLI) is recorded: key id, SQL, tables touched (from the parse), rows
returned, duration, outcome (``ok``, ``refused``, ``timeout``, ``cancelled``, ``throttled``,
``error``). Records are written off the request path: ``record()`` only puts them on a queue; one
background thread writes them in batches to ``catalog.sqlite``. The log has its own retention class
(``query.audit_retention_days``); the writer purges older rows once a day and on ``purge()``.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from hexlake.catalog import connect_catalog
from hexlake.runtime import Runtime

DDL = """
CREATE TABLE IF NOT EXISTS warehouse_audit_logs (
  id TEXT PRIMARY KEY,
  key_id TEXT NOT NULL,
  key_kind TEXT NOT NULL,
  via TEXT NOT NULL,
  query_text TEXT NOT NULL,
  tables_accessed TEXT NOT NULL,
  rows_returned INTEGER NOT NULL,
  executed_at TEXT NOT NULL,
  execution_time_ms REAL NOT NULL,
  outcome TEXT NOT NULL,
  error TEXT
);
CREATE INDEX IF NOT EXISTS warehouse_audit_logs_at ON warehouse_audit_logs (executed_at);
"""
OUTCOMES = ("ok", "refused", "timeout", "cancelled", "throttled", "error")
MAX_SQL_STORED = 20_000  # the sandbox refuses longer queries; store the refused ones' start only
PURGE_EVERY_S = 86_400.0
LINGER_S = 0.05
_COLUMNS = ("id", "key_id", "key_kind", "via", "query_text", "tables_accessed", "rows_returned",
            "executed_at", "execution_time_ms", "outcome", "error")


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    key_id: str
    key_kind: str
    via: str
    query_text: str
    tables_accessed: list[str]
    rows_returned: int
    executed_at: str
    execution_time_ms: float
    outcome: str
    error: str | None = None
    id: str = ""


class AuditLog:
    """Queue + one writer thread over the ``warehouse_audit_logs`` table of the catalog file."""

    def __init__(self, path: Path | str, retention_days: int):
        self.retention = timedelta(days=retention_days)
        self._conn = connect_catalog(path)
        self._conn.executescript(DDL)
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[AuditEntry | None] = queue.SimpleQueue()
        self._pending = 0
        self._idle = threading.Condition()
        self._purged_at = float("-inf")
        self._thread = threading.Thread(target=self._run, name="hexlake-audit-writer", daemon=True)
        self._thread.start()

    def record(self, entry: AuditEntry) -> None:
        """Queue one record (returns at once; the writer thread stores it)."""
        if not entry.id:
            entry = msgspec.structs.replace(entry, id=str(uuid.uuid4()))
        if len(entry.query_text) > MAX_SQL_STORED:
            entry = msgspec.structs.replace(entry, query_text=entry.query_text[:MAX_SQL_STORED] + "…")
        with self._idle:
            self._pending += 1
        self._queue.put(entry)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every queued record is written."""
        with self._idle:
            self._idle.wait_for(lambda: self._pending == 0, timeout)

    def entries(self, *, limit: int = 100, key_id: str | None = None, outcome: str | None = None,
             since: str | None = None) -> list[dict[str, Any]]:
        """Newest first."""
        where, args = _filters(key_id, outcome, since)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM warehouse_audit_logs {where} "
                "ORDER BY executed_at DESC, id LIMIT ?", [*args, limit]).fetchall()
        return [{**dict(zip(_COLUMNS, r, strict=True)), "tables_accessed": json.loads(r[5])} for r in rows]

    def purge(self, now: datetime | None = None) -> int:
        """Delete records older than the retention class; the number deleted."""
        cutoff = ((now or datetime.now(UTC)) - self.retention).isoformat()
        with self._lock:
            return self._conn.execute("DELETE FROM warehouse_audit_logs WHERE executed_at < ?", [cutoff]).rowcount

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(10)
        with self._lock:
            self._conn.close()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            time.sleep(LINGER_S)  # group commit: one transaction for a burst, less work beside requests
            while len(batch) < 500:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            entries = [e for e in batch if e is not None]
            self._write(entries)
            if len(entries) < len(batch):
                return

    def _write(self, entries: list[AuditEntry]) -> None:
        try:
            rows = [(e.id, e.key_id, e.key_kind, e.via, e.query_text, json.dumps(e.tables_accessed),
                     e.rows_returned, e.executed_at, e.execution_time_ms, e.outcome, e.error) for e in entries]
            with self._lock:
                self._conn.executemany(
                    f"INSERT OR IGNORE INTO warehouse_audit_logs ({', '.join(_COLUMNS)}) "
                    f"VALUES ({', '.join('?' * len(_COLUMNS))})", rows)
            if time.monotonic() - self._purged_at > PURGE_EVERY_S:
                self._purged_at = time.monotonic()
                self.purge()
        except sqlite3.Error:  # never lose the writer thread; the records of this batch are lost
            import logging

            logging.getLogger(__name__).exception("audit write failed (%d records)", len(entries))
        finally:
            with self._idle:
                self._pending -= len(entries)
                self._idle.notify_all()


def _filters(key_id: str | None, outcome: str | None, since: str | None) -> tuple[str, list[Any]]:
    clauses, args = [], []
    for column, value in (("key_id", key_id), ("outcome", outcome)):
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    if since is not None:
        clauses.append("executed_at >= ?")
        args.append(since)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", args


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def get_audit_log(runtime: Runtime) -> AuditLog:
    """The process's audit log (closed, after a final flush, with the runtime)."""
    return runtime.resource("query.audit", lambda rt: AuditLog(
        rt.paths.catalog_db, rt.settings.query.audit_retention_days))


__all__ = ["DDL", "OUTCOMES", "AuditEntry", "AuditLog", "get_audit_log", "now_iso"]
