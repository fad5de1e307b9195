"""The ``Warehouse`` protocol: what every stage may ask of the warehouse, whatever the engine.

Backends live in ``hexlake.warehouse.backends`` (``duckdb``: the embedded file, one writing process;
``postgres``: any number of processes). Statements use DuckDB-style ``?`` placeholders on both
engines, and column types are written in the canonical DuckDB spelling of ``warehouse.schema``
(``column_type`` translates them). Where engines differ the backend says so with a ``SUPPORTS_*``
class flag instead of callers testing its class.

Importing this module loads neither duckdb nor psycopg.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

import pyarrow as pa

Params = Sequence[Any] | dict[str, Any] | None
Row = Sequence[Any]


class Cursor(Protocol):
    """A thread's cursor: ``execute`` then fetch, like DB-API (DuckDB's cursor already is one)."""

    def execute(self, sql: str, params: Params = None) -> Any:
        """Run one statement; returns the cursor (for chained fetches)."""
        ...

    def executemany(self, sql: str, rows: Sequence[Row]) -> Any:
        """Run one statement per parameter row."""
        ...

    def fetchone(self) -> tuple[Any, ...] | None:
        """The next row of the last result, or None."""
        ...

    def fetchall(self) -> list[tuple[Any, ...]]:
        """The remaining rows of the last result."""
        ...

    def fetch_arrow_table(self) -> pa.Table:
        """The remaining rows of the last result as Arrow."""
        ...

    @property
    def description(self) -> Any:
        """DB-API column descriptions of the last result (``[0]`` of each is the name)."""
        ...


@runtime_checkable
class Warehouse(Protocol):
    """A SQL warehouse holding ``raw_events`` and the marts; safe to use from many threads."""

    #: SQL dialect (also SQLMesh's): ``duckdb`` | ``postgres``.
    dialect: ClassVar[str]
    #: Arrow tables can be scanned by name in SQL (DuckDB ``register``).
    SUPPORTS_ARROW_SCAN: ClassVar[bool]
    #: Several processes may write at once (``hexlake worker`` scale-out).
    SUPPORTS_CONCURRENT_WRITERS: ClassVar[bool]
    #: ``CREATE TABLE … PARTITION BY RANGE`` with ``PARTITION OF`` children.
    SUPPORTS_DECLARATIVE_PARTITIONS: ClassVar[bool]

    #: Where the data is (file path or URL without credentials' fragment), for messages.
    path: str
    #: Per-warehouse state shared by the stages of this process (e.g. the loader's seen ids).
    shared: dict[str, object]

    def cursor(self) -> Cursor:
        """This thread's own cursor."""
        ...

    def execute(self, sql: str, params: Params = None) -> None:
        """Run a trusted statement (writes allowed; never for user SQL)."""
        ...

    def query_arrow(self, sql: str, params: Params = None) -> pa.Table:
        """Run trusted SQL and return the result as Arrow."""
        ...

    def read_query(self, sql: str, params: Params = None, limit: int | None = None) -> pa.Table:
        """Run one read-only statement from a user, at most ``limit`` rows; refusals are ``BadRequest``."""
        ...

    def ensure_raw_tables(self) -> None:
        """Create the raw layer (``raw_events``) if missing."""
        ...

    def column_type(self, canonical: str) -> str:
        """The engine's spelling of a canonical column type (``DOUBLE NOT NULL`` → ``DOUBLE PRECISION …``)."""
        ...

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Row],
                    then: Sequence[tuple[str, Params]] = ()) -> None:
        """Append ``rows`` to ``table``, then run ``then``, all in one transaction."""
        ...

    def upsert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Row], key: Sequence[str]) -> int:
        """Insert ``rows``, replacing stored rows with the same ``key`` (last row wins); return rows written."""
        ...

    def close(self) -> None:
        """Release connections; idempotent."""
        ...


def last_per_key(columns: Sequence[str], rows: Sequence[Row], key: Sequence[str]) -> list[Row]:
    """``rows`` with only the last row of each key (an upsert statement may touch a row once)."""
    idx = [list(columns).index(k) for k in key]
    by_key = {tuple(row[i] for i in idx): row for row in rows}
    return list(by_key.values())


__all__ = ["Cursor", "Params", "Row", "Warehouse", "last_per_key"]
