"""The DuckDB warehouse file and its single owner in a process.

DuckDB lets one process write a database file. ``Warehouse`` opens it once (``duckdb.connect``) and
hands each thread its own ``cursor()`` (DuckDB connections are not shared across threads), so the
loader, SQLMesh runs and API queries in one server process all go through it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import duckdb
import pyarrow as pa

from hexlake.errors import BadRequest, ConfigError, WarehouseError
from hexlake.warehouse.readonly import check_read_only
from hexlake.warehouse.schema import RAW_EVENTS_DDL

Params = Sequence[Any] | dict[str, Any] | None


class Warehouse:
    """One DuckDB database file (or ``:memory:``), used from many threads."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = duckdb.connect(self.path)
        except duckdb.Error as exc:
            raise WarehouseError(
                f"cannot open the warehouse {self.path}: {exc}. If a hexlake server is running, "
                "use its API (it owns the file) or stop it first") from exc
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._lock = threading.Lock()
        self._closed = False
        #: Per-warehouse state shared by the stages of this process (e.g. the loader's seen ids).
        self.shared: dict[str, object] = {}

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's own connection to the database."""
        cur: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cur is None:
            with self._lock:
                if self._closed:
                    raise WarehouseError(f"the warehouse {self.path} is closed")
                cur = self._conn.cursor()
                self._cursors.append(cur)
            self._local.cursor = cur
        return cur

    def execute(self, sql: str, params: Params = None) -> None:
        """Run a statement (writes allowed; for hexlake's own code, never for user SQL)."""
        try:
            self.cursor().execute(sql, params)
        except duckdb.Error as exc:
            raise WarehouseError(f"warehouse statement failed: {exc}") from exc

    def query_arrow(self, sql: str, params: Params = None) -> pa.Table:
        """Run trusted SQL and return the result as an Arrow table."""
        try:
            return self.cursor().execute(sql, params).fetch_arrow_table()
        except duckdb.Error as exc:
            raise WarehouseError(f"warehouse query failed: {exc}") from exc

    def read_query(self, sql: str, params: Params = None, limit: int | None = None) -> pa.Table:
        """Run one read-only statement from a user; at most ``limit`` rows.

        Anything that could write, change settings or read files is a ``BadRequest``; so is an
        invalid query (with DuckDB's message).
        """
        check_read_only(sql)
        try:
            result = self.cursor().execute(sql, params)
            if limit is None:
                return result.fetch_arrow_table()
            reader = result.fetch_record_batch(min(max(limit, 1), 100_000))
            batches, rows = [], 0
            for batch in reader:
                batches.append(batch)
                rows += batch.num_rows
                if rows >= limit:
                    break
            return pa.Table.from_batches(batches, schema=reader.schema).slice(0, limit)
        except duckdb.Error as exc:
            raise BadRequest(f"query failed: {exc}", field="sql") from exc

    def ensure_raw_tables(self) -> None:
        """Create the raw layer tables if missing (``hexlake.warehouse.schema``)."""
        self.execute(RAW_EVENTS_DDL)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for cur in self._cursors:
                cur.close()
            self._cursors.clear()
            self._conn.close()


def open_warehouse(url: str) -> Warehouse:
    """Open the warehouse at ``duckdb:///path/to/file.duckdb`` (or ``duckdb:///:memory:``)."""
    scheme, sep, rest = url.partition("://")
    if scheme.lower() in ("postgresql", "postgres", "postgresql+psycopg") and sep:
        from hexlake.warehouse.postgres import PostgresWarehouse  # same methods, another engine

        return cast(Warehouse, PostgresWarehouse(url))
    if scheme.lower() != "duckdb" or not sep:
        raise ConfigError(f"unsupported warehouse URL {url!r}; supported schemes: duckdb://, postgresql://",
                          field="warehouse_url")
    path = rest.removeprefix("/")
    if not path:
        raise ConfigError(f"warehouse URL {url!r} has no file path; use duckdb:///path/to/warehouse.duckdb",
                          field="warehouse_url")
    return Warehouse(path)


__all__ = ["Warehouse", "open_warehouse"]
