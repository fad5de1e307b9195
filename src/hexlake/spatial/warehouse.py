"""Read access to the warehouse (``raw_events`` and the marts) for the spatial queries.

Goes through ``hexlake.warehouse.get_warehouse(runtime)`` (the process's one warehouse owner, DuckDB
or PostgreSQL); the spatial stage never opens the warehouse file itself. Values are inlined as
checked literals so that only ``query_arrow(sql)`` is needed of the backend.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Protocol

import pyarrow as pa

from hexlake.errors import BadRequest, WarehouseError
from hexlake.runtime import Runtime

_NAME = re.compile(r"^[A-Za-z0-9_.:\-]{1,100}$")


class ArrowReader(Protocol):
    """The one ability the spatial queries need of a warehouse."""

    def query_arrow(self, sql: str) -> pa.Table:
        """Run a read-only SQL query and return the result as Arrow."""
        ...


def reader(runtime: Runtime) -> ArrowReader:
    """The warehouse reader of this process."""
    from hexlake.warehouse import get_warehouse

    return get_warehouse(runtime)


def query(wh: ArrowReader, sql: str) -> pa.Table:
    """Run ``sql``; warehouse failures become a 503 that says what to do next."""
    try:
        return wh.query_arrow(sql)
    except Exception as exc:
        raise WarehouseError(f"warehouse query failed ({exc}); check `hexlake status` and retry.") from exc


def find_table(wh: ArrowReader, name: str) -> tuple[str, list[str]] | None:
    """``(qualified name, columns)`` of a table or view called ``name`` in any schema, else None."""
    rows = query(wh, (
        "SELECT table_schema, table_name FROM information_schema.tables "
        f"WHERE lower(table_name) = '{name.lower()}' AND table_schema NOT LIKE 'sqlmesh%' "
        "ORDER BY CASE WHEN table_schema IN ('main', 'marts') THEN 0 ELSE 1 END, table_schema LIMIT 1"
    )).to_pylist()
    if not rows:
        return None
    schema, table = rows[0]["table_schema"], rows[0]["table_name"]
    cols = query(wh, (
        "SELECT column_name FROM information_schema.columns "
        f"WHERE table_schema = '{schema}' AND table_name = '{table}' ORDER BY ordinal_position"
    )).column("column_name").to_pylist()
    return f'"{schema}"."{table}"', [c.lower() for c in cols]


def pick(columns: list[str], *candidates: str) -> str | None:
    """The first candidate column name present (marts are written by another stage)."""
    return next((c for c in candidates if c in columns), None)


def ts_literal(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return f"TIMESTAMP '{value.isoformat(sep=' ')}'"


def name_literal(value: str, field: str) -> str:
    """A quoted SQL literal of an event type / id, refusing anything that is not a plain name."""
    if not _NAME.match(value):
        raise BadRequest(f"{field} may only hold letters, digits and _ . : - (got {value!r}).", field=field)
    return f"'{value}'"


def str_literal(value: str) -> str:
    """A standard SQL string literal (quotes doubled; DuckDB has no backslash escapes)."""
    return "'" + value.replace("'", "''").replace("\x00", "") + "'"


def strs_literal(values: list[str]) -> str:
    return "(" + ", ".join(str_literal(v) for v in values) + ")" if values else "(NULL)"


def names_literal(values: list[str], field: str) -> str:
    return "(" + ", ".join(name_literal(v, field) for v in values) + ")" if values else "(NULL)"


__all__ = [
    "ArrowReader", "find_table", "name_literal", "names_literal", "pick", "query", "reader", "str_literal",
    "strs_literal", "ts_literal",
]
