"""``sync_run``: find each table's day partitions, send the new or changed ones, record every batch.

A batch's fingerprint is (row count, XOR of row hashes): a synced batch is skipped while its
fingerprint is unchanged; a pending one (the run was interrupted) or a failed one is sent again.
Because targets replace a partition, sending a batch twice never duplicates rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hexlake.sync.errors import SyncConfigError
from hexlake.sync.targets import Target
from hexlake.warehouse.protocol import Warehouse

STATUS_TABLE = "warehouse_sync_status"
RAW_PARTITION = {"raw_events": "load_date"}
WHOLE = "all"  # the one batch of a table without a date column
NULL_KEY = "__HIVE_DEFAULT_PARTITION__"  # rows whose date is NULL (e.g. users who never logged in); Hive's name


def status_ddl(wh: Warehouse) -> str:
    double = wh.column_type("DOUBLE")
    return (
        f"CREATE TABLE IF NOT EXISTS {STATUS_TABLE} (batch_id VARCHAR PRIMARY KEY, target VARCHAR NOT NULL, "
        "table_name VARCHAR NOT NULL, batch_key VARCHAR NOT NULL, row_count BIGINT NOT NULL, "
        "fingerprint VARCHAR, status VARCHAR NOT NULL CHECK (status IN ('pending', 'synced', 'failed')), "
        "retries INTEGER NOT NULL, error VARCHAR, created_at TIMESTAMP NOT NULL, synced_at TIMESTAMP, "
        f"sync_duration_ms {double})"
    )


@dataclass(frozen=True)
class SyncOptions:
    tables: Sequence[str] | None = None  # default: raw_events + every table/view in schema "marts"


@dataclass
class SyncReport:
    target: str
    synced: int = 0
    skipped: int = 0
    failed: int = 0
    rows: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)


def default_tables(wh: Any) -> list[str]:
    rows = wh.cursor().execute(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema = 'marts' "
        "ORDER BY table_name").fetchall()
    return ["raw_events", *(f"{s}.{t}" for s, t in rows)]


def partition_column(wh: Any, table: str) -> str | None:
    if table in RAW_PARTITION:
        return RAW_PARTITION[table]
    schema, _, name = table.rpartition(".")
    rows = wh.cursor().execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
        "AND (table_schema = ? OR ? = '') ORDER BY ordinal_position", [name, schema, schema]).fetchall()
    if not rows:
        raise SyncConfigError(f"table {table!r} does not exist in the warehouse", field="tables")
    for col, typ in rows:
        if typ.upper().startswith(("DATE", "TIMESTAMP")):
            return str(col)
    return None


def _fingerprint_sql(wh: Any, table: str, column: str | None) -> str:
    key = f"coalesce(CAST(CAST({column} AS DATE) AS VARCHAR), '{NULL_KEY}')" if column else f"'{WHOLE}'"
    row_hash = ("('x' || substr(md5(t::text), 1, 16))::bit(64)::bigint" if wh.dialect == "postgres" else "hash(t)")
    return (f"SELECT {key} AS k, count(*) AS n, CAST(bit_xor({row_hash}) AS VARCHAR) AS f "
            f"FROM {table} t GROUP BY 1 ORDER BY 1")


def _batch_rows(wh: Any, table: str, column: str | None, key: str) -> Any:
    if column is None:
        return wh.query_arrow(f"SELECT * FROM {table}")
    if key == NULL_KEY:
        return wh.query_arrow(f"SELECT * FROM {table} WHERE {column} IS NULL")
    return wh.query_arrow(f"SELECT * FROM {table} WHERE CAST({column} AS DATE) = CAST(? AS DATE)", [key])


class StatusTable:
    def __init__(self, wh: Any, target: str, clock: Callable[[], float]):
        self.wh, self.target, self._clock = wh, target, clock
        wh.execute(status_ddl(wh))

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC).replace(tzinfo=None)

    def get(self, table: str, key: str) -> dict[str, Any] | None:
        row = self.wh.cursor().execute(
            f"SELECT status, fingerprint, retries FROM {STATUS_TABLE} WHERE batch_id = ?",
            [self.batch_id(table, key)]).fetchone()
        return None if row is None else {"status": row[0], "fingerprint": row[1], "retries": row[2]}

    def batch_id(self, table: str, key: str) -> str:
        return f"{self.target}|{table}|{key}"

    def put(self, table: str, key: str, **values: Any) -> None:
        bid = self.batch_id(table, key)
        cur = self.wh.cursor()
        exists = cur.execute(f"SELECT 1 FROM {STATUS_TABLE} WHERE batch_id = ?", [bid]).fetchone()
        if exists is None:
            cur.execute(f"INSERT INTO {STATUS_TABLE} (batch_id, target, table_name, batch_key, row_count, "
                        "status, retries, created_at) VALUES (?, ?, ?, ?, 0, 'pending', 0, ?)",
                        [bid, self.target, table, key, self.now()])
        sets = ", ".join(f"{k} = ?" for k in values)
        cur.execute(f"UPDATE {STATUS_TABLE} SET {sets} WHERE batch_id = ?", [*values.values(), bid])


def sync_run(wh: Any, target: Target, options: SyncOptions | None = None, *,
             clock: Callable[[], float] = time.time,
             on_batch: Callable[[str, str, int], None] | None = None) -> SyncReport:
    """Send every new, changed, pending or failed batch of the tables to ``target``.

    Unknown tables fail the run before anything is sent; a table that fails while syncing is
    recorded in the report and the remaining tables are still synced.
    """
    options = options or SyncOptions()
    status = StatusTable(wh, target.name, clock)
    report = SyncReport(target.name)
    plan = [(table, partition_column(wh, table)) for table in options.tables or default_tables(wh)]
    for table, column in plan:
        try:
            _sync_table(wh, target, status, report, table, column, on_batch)
        except Exception as exc:  # one broken table must not stop the others
            report.failed += 1
            report.errors.append({"table": table, "batch": "*", "error": f"{type(exc).__name__}: {exc}"})
    return report


def _sync_table(wh: Any, target: Target, status: StatusTable, report: SyncReport, table: str,
                column: str | None, on_batch: Callable[[str, str, int], None] | None) -> None:
    for key, count, fingerprint in wh.cursor().execute(_fingerprint_sql(wh, table, column)).fetchall():
        prev = status.get(table, key)
        if prev and prev["status"] == "synced" and prev["fingerprint"] == fingerprint:
            report.skipped += 1
            continue
        _send(wh, target, status, report, table, column, key, int(count), fingerprint,
              prev["retries"] if prev else 0)
        if on_batch:
            on_batch(table, key, int(count))


def _send(wh: Any, target: Target, status: StatusTable, report: SyncReport, table: str,
          column: str | None, key: str, count: int, fingerprint: str, retries: int) -> None:
    status.put(table, key, status="pending", row_count=count, fingerprint=fingerprint, error=None)
    started = time.perf_counter()
    try:
        rows = _batch_rows(wh, table, column, key)
        target.write(table, column or "batch", key, rows)
    except Exception as exc:  # recorded, retried on the next run; other batches go on
        status.put(table, key, status="failed", retries=retries + 1, error=f"{type(exc).__name__}: {exc}")
        report.failed += 1
        report.errors.append({"table": table, "batch": key, "error": str(exc)})
        return
    status.put(table, key, status="synced", synced_at=status.now(), error=None,
               sync_duration_ms=(time.perf_counter() - started) * 1000)
    report.synced += 1
    report.rows += rows.num_rows


def sync_status(wh: Any, target: str | None = None) -> list[dict[str, Any]]:
    """Batches per target, table and status, with rows and retries (``hexlake sync status``)."""
    wh.execute(status_ddl(wh))
    where, params = ("WHERE target = ?", [target]) if target else ("", [])
    rows = wh.cursor().execute(
        f"SELECT target, table_name, status, count(*), sum(row_count), sum(retries), max(synced_at), "
        f"max(error) FROM {STATUS_TABLE} {where} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3", params).fetchall()
    keys = ("target", "table", "status", "batches", "rows", "retries", "last_synced_at", "last_error")
    return [dict(zip(keys, r, strict=True)) for r in rows]


__all__ = ["STATUS_TABLE", "SyncOptions", "SyncReport", "sync_run", "sync_status"]
