"""The DuckDB warehouse file and its single owner in a process (``duckdb:///path``).

DuckDB lets one process write a database file. ``DuckDBWarehouse`` opens it once (``duckdb.connect``)
and hands each thread its own ``cursor()`` (DuckDB connections are not shared across threads), so
the loader, SQLMesh runs and API queries in one server process all go through it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

import duckdb
import pyarrow as pa

from hexlake.errors import BadRequest, ConfigError, WarehouseError
from hexlake.warehouse.protocol import Params, Row, last_per_key
from hexlake.warehouse.readonly import check_read_only
from hexlake.warehouse.schema import RAW_EVENTS_ALL_DDL, RAW_EVENTS_DDL


class DuckDBWarehouse:
    """One DuckDB database file (or ``:memory:``), used from many threads."""

    dialect: ClassVar[str] = "duckdb"
    SUPPORTS_ARROW_SCAN: ClassVar[bool] = True
    SUPPORTS_CONCURRENT_WRITERS: ClassVar[bool] = False
    SUPPORTS_DECLARATIVE_PARTITIONS: ClassVar[bool] = False

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
        self.execute(RAW_EVENTS_ALL_DDL)  # what the models read: hot (+ cold after a tier move)

    def column_type(self, canonical: str) -> str:
        return canonical  # the canonical spelling is DuckDB's

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Row],
                    then: Sequence[tuple[str, Params]] = ()) -> None:
        """One ``INSERT … SELECT`` from the rows as Arrow, plus ``then``, in one transaction."""
        names = ", ".join(f'"{c}"' for c in columns)
        with self._staged(columns, rows) as (cur, staged):
            cur.execute("BEGIN")
            try:
                cur.execute(f'INSERT INTO "{table}" ({names}) SELECT {names} FROM {staged}')
                for sql, params in then:
                    cur.execute(sql, params)
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    def upsert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Row], key: Sequence[str]) -> int:
        """``INSERT OR REPLACE`` (``table`` needs a primary key on ``key``); one statement per batch."""
        rows = last_per_key(columns, rows, key)
        if not rows:
            return 0
        names = ", ".join(f'"{c}"' for c in columns)
        with self._staged(columns, rows) as (cur, staged):
            try:
                cur.execute(f'INSERT OR REPLACE INTO "{table}" ({names}) SELECT {names} FROM {staged}')
            except duckdb.Error as exc:
                raise WarehouseError(f"upsert into {table} failed: {exc}") from exc
        return len(rows)

    @contextmanager
    def _staged(self, columns: Sequence[str], rows: Sequence[Row]
                ) -> Iterator[tuple[duckdb.DuckDBPyConnection, str]]:
        """The rows registered as an Arrow view on this thread's cursor, unregistered after."""
        cur, name = self.cursor(), f"hexlake_staged_{threading.get_ident():x}"
        cur.register(name, pa.table({c: pa.array([r[i] for r in rows]) for i, c in enumerate(columns)}))
        try:
            yield cur, name
        finally:
            cur.unregister(name)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for cur in self._cursors:
                cur.close()
            self._cursors.clear()
            self._conn.close()


def connect(url: str) -> DuckDBWarehouse:
    """``duckdb:///path/to/file.duckdb`` (or ``duckdb:///:memory:``)."""
    path = url.partition("://")[2].removeprefix("/")
    if not path:
        raise ConfigError(f"warehouse URL {url!r} has no file path; use duckdb:///path/to/warehouse.duckdb",
                          field="warehouse_url")
    return DuckDBWarehouse(path)


__all__ = ["DuckDBWarehouse", "connect"]
