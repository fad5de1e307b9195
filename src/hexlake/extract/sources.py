"""Operational databases to extract from: PostgreSQL (psycopg) and MySQL/MariaDB (pymysql).

A source lists a table's columns with a canonical warehouse type and streams its rows in batches,
ordered by the cursor column when there is one (server-side cursors: memory stays flat).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from hexlake.extract.errors import ExtractConfigError, ExtractError

#: Canonical column types in the warehouse (valid in DuckDB and PostgreSQL).
TYPES = ("BIGINT", "DOUBLE", "BOOLEAN", "TIMESTAMP", "DATE", "JSON", "VARCHAR")


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # one of TYPES


class Source(Protocol):
    """One operational database."""

    name: str

    def columns(self, table: str) -> list[Column]:
        """The table's columns in order; ``ExtractConfigError`` if the table does not exist."""
        ...

    def batches(self, table: str, columns: Sequence[str], cursor: str | None, after: Any,
                size: int) -> Iterator[list[tuple[Any, ...]]]:
        """Rows (in ``columns`` order) with ``cursor > after``, ordered by ``cursor``."""
        ...

    def primary_key(self, table: str) -> list[str]:
        """The table's primary key columns in key order (empty without one)."""
        ...

    def close(self) -> None: ...


def _pg_type(data_type: str) -> str:
    t = data_type.lower()
    if t in ("smallint", "integer", "bigint"):
        return "BIGINT"
    if t in ("numeric", "real", "double precision"):
        return "DOUBLE"
    if t == "boolean":
        return "BOOLEAN"
    if t.startswith("timestamp"):
        return "TIMESTAMP"
    if t == "date":
        return "DATE"
    if t in ("json", "jsonb", "array"):  # arrays land as JSON lists
        return "JSON"
    return "VARCHAR"


def _mysql_type(data_type: str, column_type: str) -> str:
    t = data_type.lower()
    if column_type.lower().startswith("tinyint(1)"):
        return "BOOLEAN"
    if t in ("tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year"):
        return "BIGINT"
    if t in ("decimal", "float", "double"):
        return "DOUBLE"
    if t in ("datetime", "timestamp"):
        return "TIMESTAMP"
    if t == "date":
        return "DATE"
    if t == "json":
        return "JSON"
    return "VARCHAR"


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def check_ident(name: str, what: str) -> str:
    if not _IDENT.match(name):
        raise ExtractConfigError(f"{what} {name!r} is not a plain identifier (letters, digits, _)", field=what)
    return name


def source_name(url: str) -> str:
    """Default source name: the database name, as an identifier (``raw_<name>_<table>``)."""
    db = urlparse(url).path.strip("/") or urlparse(url).hostname or "source"
    return re.sub(r"[^a-z0-9_]", "_", db.lower())


class PostgresSource:
    def __init__(self, url: str, name: str):
        import psycopg

        self.name = name
        try:
            self._conn = psycopg.connect(url, autocommit=False)
        except psycopg.Error as exc:
            raise ExtractError(f"cannot connect to the source {url!r}: {exc}", field="source") from exc

    def columns(self, table: str) -> list[Column]:
        return [Column(name, _pg_type(t)) for name, t in self._column_types(table)]

    def _column_types(self, table: str) -> list[tuple[str, str]]:
        """``(name, information_schema data_type)`` of ``table``'s columns, in order."""
        rows = self._conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
            (table,)).fetchall()
        self._conn.rollback()
        if not rows:
            raise ExtractConfigError(f"table {table!r} does not exist in the source {self.name}", field="tables")
        return [(str(name), str(t)) for name, t in rows]

    def batches(self, table: str, columns: Sequence[str], cursor: str | None, after: Any,
                size: int) -> Iterator[list[tuple[Any, ...]]]:
        cols = ", ".join(f'"{c}"' for c in columns)
        sql = f'SELECT {cols} FROM "{table}"'
        params: list[Any] = []
        if cursor is not None:
            if after is not None:
                sql += f' WHERE "{cursor}" > %s'
                params.append(after)
            sql += f' ORDER BY "{cursor}"'
        with self._conn.cursor(name=f"hexlake_extract_{table}") as cur:
            cur.itersize = size
            cur.execute(sql, params)
            while rows := cur.fetchmany(size):
                yield rows
        self._conn.rollback()

    def primary_key(self, table: str) -> list[str]:
        rows = self._conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = to_regclass(%s) AND i.indisprimary "
            "ORDER BY array_position(i.indkey::int2[], a.attnum)", (f'"{table}"',)).fetchall()
        self._conn.rollback()
        return [r[0] for r in rows]

    def close(self) -> None:
        self._conn.close()


class MySQLSource:
    def __init__(self, url: str, name: str):
        import pymysql

        parsed = urlparse(url)
        self.name = name
        try:
            self._conn = pymysql.connect(
                host=parsed.hostname or "127.0.0.1", port=parsed.port or 3306,
                user=unquote(parsed.username or "root"), password=unquote(parsed.password or ""),
                database=parsed.path.strip("/"), charset="utf8mb4")
        except pymysql.MySQLError as exc:
            raise ExtractError(f"cannot connect to the source {url!r}: {exc}", field="source") from exc

    def columns(self, table: str) -> list[Column]:
        with self._conn.cursor() as cur:
            cur.execute("SELECT column_name, data_type, column_type FROM information_schema.columns "
                        "WHERE table_schema = DATABASE() AND table_name = %s ORDER BY ordinal_position", (table,))
            rows = cur.fetchall()
        if not rows:
            raise ExtractConfigError(f"table {table!r} does not exist in the source {self.name}", field="tables")
        return [Column(name, _mysql_type(t, ct)) for name, t, ct in rows]

    def batches(self, table: str, columns: Sequence[str], cursor: str | None, after: Any,
                size: int) -> Iterator[list[tuple[Any, ...]]]:
        import pymysql.cursors

        cols = ", ".join(f"`{c}`" for c in columns)
        sql = f"SELECT {cols} FROM `{table}`"
        params: list[Any] = []
        if cursor is not None:
            if after is not None:
                sql += f" WHERE `{cursor}` > %s"
                params.append(after)
            sql += f" ORDER BY `{cursor}`"
        with self._conn.cursor(pymysql.cursors.SSCursor) as cur:
            cur.execute(sql, params)
            while rows := cur.fetchmany(size):
                yield list(rows)
        self._conn.commit()  # end the snapshot so the next run sees new rows

    def primary_key(self, table: str) -> list[str]:
        with self._conn.cursor() as cur:
            cur.execute("SELECT column_name FROM information_schema.key_column_usage WHERE table_schema = DATABASE() "
                        "AND table_name = %s AND constraint_name = 'PRIMARY' ORDER BY ordinal_position", (table,))
            return [r[0] for r in cur.fetchall()]

    def close(self) -> None:
        self._conn.close()


def open_source(url: str, name: str | None = None) -> Source:
    """``postgresql://…`` or ``mysql://…`` (MariaDB too)."""
    scheme = url.partition("://")[0].lower()
    label = check_ident(name or source_name(url), "name")
    if scheme in ("postgresql", "postgres"):
        return PostgresSource(url, label)
    if scheme in ("mysql", "mariadb", "mysql+pymysql"):
        return MySQLSource(url, label)
    raise ExtractConfigError(f"unsupported source URL {url!r}; use postgresql://… or mysql://…", field="source")


__all__ = ["TYPES", "Column", "MySQLSource", "PostgresSource", "Source", "check_ident", "open_source",
           "source_name"]
