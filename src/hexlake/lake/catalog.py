"""Open Iceberg tables in a SQL catalog (SQLite file or PostgreSQL) and write Arrow data into them.

Tables are partitioned by ``day(<event-time column>)`` and written as zstd Parquet. Names map
``marts.daily_users`` to the Iceberg identifier ``("marts", "daily_users")`` and ``raw_events`` to
``("raw", "raw_events")``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyarrow as pa

from hexlake.lake.errors import LakeConfigError

DEFAULT_NAMESPACE = "raw"
PROPERTIES = {"write.parquet.compression-codec": "zstd", "format-version": "2"}


def open_catalog(catalog_url: str, warehouse: Path) -> Any:
    """A pyiceberg SQL catalog whose data files live under ``warehouse``."""
    from pyiceberg.catalog.sql import SqlCatalog

    scheme = catalog_url.partition("://")[0]
    if scheme == "sqlite":
        uri = catalog_url
    elif scheme in ("postgresql", "postgres"):
        uri = "postgresql+psycopg2://" + catalog_url.partition("://")[2]
    else:
        raise LakeConfigError(f"unsupported Iceberg catalog {catalog_url!r}; use sqlite:///file or postgresql://…",
                              field="catalog_url")
    warehouse.mkdir(parents=True, exist_ok=True)
    return SqlCatalog("hexlake", uri=uri, warehouse=warehouse.resolve().as_uri())


def identifier(table: str) -> tuple[str, str]:
    schema, _, name = table.rpartition(".")
    safe = [re.sub(r"[^a-z0-9_]", "_", part.lower()) for part in (schema or DEFAULT_NAMESPACE, name)]
    return safe[0], safe[1]


def _plain_type(t: pa.DataType) -> pa.DataType:
    """Arrow types Iceberg has: unsigned and small ints widen, nanoseconds become microseconds."""
    if isinstance(t, pa.ExtensionType):
        return _plain_type(t.storage_type)
    if pa.types.is_unsigned_integer(t) or t == pa.int64():
        return pa.int64()
    if pa.types.is_integer(t):
        return pa.int32()
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz="UTC" if t.tz else None)
    if pa.types.is_large_string(t):
        return pa.string()
    if pa.types.is_float16(t):
        return pa.float32()
    return t


def normalize(rows: pa.Table) -> pa.Table:
    schema = pa.schema([pa.field(f.name, _plain_type(f.type), nullable=True) for f in rows.schema])
    return rows.cast(schema)


def ensure_table(catalog: Any, table: str, rows: pa.Table, time_column: str | None) -> Any:
    """Load ``table``, or create it from ``rows``' schema partitioned by day of ``time_column``."""
    from pyiceberg.exceptions import NoSuchTableError
    from pyiceberg.transforms import DayTransform

    ident = identifier(table)
    try:
        return catalog.load_table(ident)
    except NoSuchTableError:
        pass
    catalog.create_namespace_if_not_exists(ident[0])
    created = catalog.create_table_if_not_exists(ident, schema=rows.schema, properties=PROPERTIES)
    if time_column and created.spec().is_unpartitioned():
        with created.update_spec() as spec:
            spec.add_field(time_column, DayTransform(), f"{time_column}_day")
    return catalog.load_table(ident)


def data_files(tbl: Any) -> list[str]:
    """Local paths of the Parquet files of the current snapshot (copy-on-write: no delete files)."""
    return [_local(task.file.file_path) for task in tbl.scan().plan_files()]


def _local(uri: str) -> str:
    return uri.removeprefix("file://")


def drop_unreferenced(tbl: Any, before: set[str]) -> int:
    """Expire older snapshots and unlink the data files they alone held (an erasure must not leave
    the old copy of a rewritten file on disk). Returns how many files were removed."""
    keep = set(data_files(tbl))
    current = tbl.current_snapshot()
    if current is not None:
        old = [s.snapshot_id for s in tbl.snapshots() if s.snapshot_id != current.snapshot_id]
        if old:
            tbl.maintenance.expire_snapshots().by_ids(old).commit()
    removed = 0
    for path in before - keep:
        try:
            Path(path).unlink()
            removed += 1
        except FileNotFoundError:
            pass
    return removed


__all__ = ["data_files", "drop_unreferenced", "ensure_table", "identifier", "normalize", "open_catalog"]
