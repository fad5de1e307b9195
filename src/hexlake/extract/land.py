"""The warehouse side of extraction: raw table DDL, drift changes, batch inserts, high-water marks.

Works on any ``Warehouse``. Where the engine supports declarative partitions (PostgreSQL) the raw
table is partitioned by ``extracted_date`` (one partition per day, created on demand); elsewhere
(DuckDB) ``extracted_date`` is a plain column (sync exports it as Hive partitions). A batch and its
new high-water mark commit in one transaction, so an interrupted extraction resumes exactly.
"""

from __future__ import annotations

import json
from collections.abc import Container, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from hexlake.extract.sources import Column
from hexlake.warehouse.protocol import Warehouse

META = [Column("extracted_at", "TIMESTAMP"), Column("extracted_date", "DATE"), Column("source_system", "VARCHAR")]
STATE_DDL = (
    "CREATE TABLE IF NOT EXISTS hexlake_extract_state (source VARCHAR NOT NULL, tbl VARCHAR NOT NULL, "
    "cursor_column VARCHAR, high_water VARCHAR, columns VARCHAR NOT NULL, rows_total BIGINT NOT NULL, "
    "updated_at TIMESTAMP NOT NULL, PRIMARY KEY (source, tbl))"
)


def partitioned(wh: Warehouse) -> bool:
    return wh.SUPPORTS_DECLARATIVE_PARTITIONS


def table_exists(wh: Warehouse, table: str) -> bool:
    rows = wh.cursor().execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                               [table]).fetchone()
    return bool(rows and rows[0])


def create_table(wh: Warehouse, table: str, columns: Sequence[Column]) -> None:
    body = ", ".join(f'"{c.name}" {wh.column_type(c.type)}' for c in [*META, *columns])
    suffix = " PARTITION BY RANGE (extracted_date)" if partitioned(wh) else ""
    wh.execute(f'CREATE TABLE IF NOT EXISTS "{table}" ({body}){suffix}')


def ensure_partition(wh: Warehouse, table: str, day: date) -> None:
    if partitioned(wh):
        nxt = day + timedelta(days=1)
        wh.execute(f'CREATE TABLE IF NOT EXISTS "{table}_{day:%Y%m%d}" PARTITION OF "{table}" '
                   f"FOR VALUES FROM ('{day.isoformat()}') TO ('{nxt.isoformat()}')")


def add_column(wh: Warehouse, table: str, column: Column) -> None:
    wh.execute(f'ALTER TABLE "{table}" ADD COLUMN "{column.name}" {wh.column_type(column.type)}')


def widen_to_text(wh: Warehouse, table: str, column: str) -> None:
    wh.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE VARCHAR USING CAST("{column}" AS VARCHAR)')


def drop_table(wh: Warehouse, table: str) -> None:
    wh.execute(f'DROP TABLE IF EXISTS "{table}"' + (" CASCADE" if partitioned(wh) else ""))


# -- state ---------------------------------------------------------------------------------------

def load_state(wh: Warehouse, source: str, table: str) -> dict[str, Any] | None:
    wh.execute(STATE_DDL)
    row = wh.cursor().execute(
        "SELECT cursor_column, high_water, columns, rows_total FROM hexlake_extract_state "
        "WHERE source = ? AND tbl = ?", [source, table]).fetchone()
    if row is None:
        return None
    return {"cursor": row[0], "high_water": decode_mark(row[1]),
            "columns": [Column(n, t) for n, t in json.loads(row[2])], "rows_total": int(row[3])}


def _save_state_sql(wh: Warehouse, source: str, table: str, cursor: str | None, mark: Any,
                    columns: Sequence[Column], rows_total: int, now: datetime) -> list[tuple[str, list[Any]]]:
    cols = json.dumps([[c.name, c.type] for c in columns])
    return [("DELETE FROM hexlake_extract_state WHERE source = ? AND tbl = ?", [source, table]),
            ("INSERT INTO hexlake_extract_state VALUES (?, ?, ?, ?, ?, ?, ?)",
             [source, table, cursor, encode_mark(mark), cols, rows_total, now])]


def save_state(wh: Warehouse, *args: Any) -> None:
    _transaction(wh, _save_state_sql(wh, *args))


def _transaction(wh: Warehouse, statements: Sequence[tuple[str, list[Any]]]) -> None:
    cur = wh.cursor()
    cur.execute("BEGIN")
    try:
        for sql, params in statements:
            cur.execute(sql, params)
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise


def delete_state(wh: Warehouse, source: str, table: str) -> None:
    wh.execute(STATE_DDL)
    wh.execute("DELETE FROM hexlake_extract_state WHERE source = ? AND tbl = ?", [source, table])


def encode_mark(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return json.dumps({"t": "datetime", "v": value.isoformat()})
    if isinstance(value, date):
        return json.dumps({"t": "date", "v": value.isoformat()})
    if isinstance(value, int | float):
        return json.dumps({"t": "number", "v": value})
    return json.dumps({"t": "text", "v": str(value)})


def decode_mark(text: str | None) -> Any:
    if text is None:
        return None
    data = json.loads(text)
    if data["t"] == "datetime":
        return datetime.fromisoformat(data["v"])
    if data["t"] == "date":
        return date.fromisoformat(data["v"])
    return data["v"]


# -- insert --------------------------------------------------------------------------------------

def insert_batch(wh: Warehouse, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                 state_sql: list[tuple[str, list[Any]]], suppressed: Container[str] = frozenset()) -> int:
    """Insert ``rows`` and write the new state in one transaction; return how many rows landed.

    Rows of an erased person (their ``user_key`` on the suppression list, ``suppressed``) are dropped
    here, as the gate drops their events: the source still holds them, and a later snapshot, update,
    CDC change or full refresh must not bring them back. The state (high-water mark) still advances.
    """
    kept = suppress_rows(columns, rows, suppressed)
    if kept:
        wh.insert_rows(table, columns, kept, then=state_sql)
    else:  # every row was an erased person's: only the high-water mark moves
        _transaction(wh, state_sql)
    return len(kept)


def suppress_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]],
                  suppressed: Container[str]) -> Sequence[Sequence[Any]]:
    """``rows`` without those whose ``user_key`` column is on the suppression list."""
    if "user_key" not in columns or not rows:
        return rows
    at = list(columns).index("user_key")
    return [r for r in rows if r[at] is None or r[at] not in suppressed]


__all__ = ["META", "add_column", "create_table", "delete_state", "drop_table", "ensure_partition",
           "insert_batch", "load_state", "partitioned", "save_state", "suppress_rows", "table_exists",
           "widen_to_text"]
