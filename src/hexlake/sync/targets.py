"""Sync targets: another PostgreSQL database, or Parquet files partitioned by day.

``write(table, key, rows)`` REPLACES the partition ``key`` of ``table`` at the target in one step,
which is what makes a re-sent batch harmless:

* PostgreSQL: one transaction ``DELETE … WHERE _hexlake_batch = key`` + ``COPY``.
* Parquet: ``<dir>/<table>/<column>=<key>/part-0.parquet`` written to a temp file then renamed
  (Hive partitioning: what BigQuery, Redshift Spectrum, Snowflake and Spark load directly).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from hexlake.sync.errors import SyncConfigError

BATCH_COLUMN = "_hexlake_batch"


class Target(Protocol):
    name: str

    def write(self, table: str, partition_column: str, key: str, rows: pa.Table) -> None:
        """Replace partition ``key`` of ``table`` with ``rows``."""
        ...

    def count(self, table: str) -> int:
        """Rows of ``table`` at the target (0 if it does not exist)."""
        ...

    def close(self) -> None: ...


def _safe(table: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", table.lower())


def _pg_type(t: pa.DataType) -> str:
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t):
        return "bigint"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "double precision"
    if pa.types.is_timestamp(t):
        return "timestamptz" if t.tz else "timestamp"
    if pa.types.is_date(t):
        return "date"
    return "text"


class PostgresTarget:
    def __init__(self, url: str):
        import psycopg

        self.name = re.sub(r"//[^@/]*@", "//", url)  # without credentials
        self._conn = psycopg.connect(url, autocommit=False)

    def write(self, table: str, partition_column: str, key: str, rows: pa.Table) -> None:
        name = _safe(table)
        conn = self._conn
        with conn.transaction():
            cols = ", ".join(f'"{f.name}" {_pg_type(f.type)}' for f in rows.schema)
            conn.execute(f'CREATE TABLE IF NOT EXISTS "{name}" ({cols}, "{BATCH_COLUMN}" text NOT NULL)')
            conn.execute(f'CREATE INDEX IF NOT EXISTS "{name}_batch" ON "{name}" ("{BATCH_COLUMN}")')
            conn.execute(f'DELETE FROM "{name}" WHERE "{BATCH_COLUMN}" = %s', (key,))
            names = ", ".join(f'"{c}"' for c in [*rows.column_names, BATCH_COLUMN])
            with conn.cursor().copy(f'COPY "{name}" ({names}) FROM STDIN') as copy:
                for row in rows.to_pylist():
                    copy.write_row([*(_plain(v) for v in row.values()), key])

    def count(self, table: str) -> int:
        import psycopg

        try:
            row = self._conn.execute(f'SELECT count(*) FROM "{_safe(table)}"').fetchone()
        except psycopg.errors.UndefinedTable:
            row = (0,)
        self._conn.rollback()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self._conn.close()


def _plain(value: object) -> object:
    if isinstance(value, dict | list):
        import orjson

        return orjson.dumps(value).decode()
    return value


class ParquetTarget:
    def __init__(self, root: Path):
        self.root = root
        self.name = f"parquet://{root}"

    def path(self, table: str, partition_column: str, key: str) -> Path:
        return self.root / _safe(table) / f"{partition_column}={key}" / "part-0.parquet"

    def write(self, table: str, partition_column: str, key: str, rows: pa.Table) -> None:
        path = self.path(table, partition_column, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".parquet.tmp")
        pq.write_table(rows.drop_columns([c for c in [partition_column] if c in rows.column_names]), tmp)
        os.replace(tmp, path)  # atomic: readers see the old or the new partition, never half

    def count(self, table: str) -> int:
        folder = self.root / _safe(table)
        return sum(pq.ParquetFile(p).metadata.num_rows for p in folder.glob("*/part-0.parquet"))

    def close(self) -> None:
        pass


def open_target(url: str) -> Target:
    """``postgresql://…``, ``parquet:///absolute/dir`` or ``iceberg:///absolute/dir[#catalog-url]``."""
    scheme, sep, rest = url.partition("://")
    if scheme in ("postgresql", "postgres") and sep:
        return PostgresTarget(url)
    if scheme == "parquet" and rest.startswith("/"):
        return ParquetTarget(Path(rest))
    if scheme == "iceberg" and sep:
        from hexlake.lake import LakeConfigError
        from hexlake.lake.target import IcebergTarget  # pyiceberg is imported only when used

        try:
            return IcebergTarget(url)
        except LakeConfigError as exc:  # the lake names the problem; to the sync user it is a bad target
            raise SyncConfigError(exc.message, field="target") from exc
    raise SyncConfigError(f"unsupported sync target {url!r}; use postgresql://…, parquet:///dir or "
                          "iceberg:///dir", field="target")


__all__ = ["BATCH_COLUMN", "ParquetTarget", "PostgresTarget", "Target", "open_target"]
