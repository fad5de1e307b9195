"""Decide whether a SQL string is a single read-only statement (parsed with SQLGlot, DuckDB dialect).

Allowed: SELECT / WITH … SELECT / set operations / DESCRIBE / SHOW / SUMMARIZE / EXPLAIN of those,
and a few catalogue PRAGMAs. Refused: anything that writes or changes settings, and reads outside
the warehouse (``read_csv``, ``'file.parquet'`` replacement scans, ``query()``, ``getenv``...),
because ``read_query`` serves untrusted API callers.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp

from hexlake.errors import BadRequest

READ_ONLY_MESSAGE = "only read-only queries are allowed"

_TOP_LEVEL = (exp.Select, exp.SetOperation, exp.Describe, exp.Show, exp.Summarize)
_WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter,
           exp.Command, exp.Set, exp.Copy, exp.TruncateTable, exp.Attach, exp.Detach, exp.Use)
_PRAGMAS = {"table_info", "show_tables", "show_tables_expanded", "database_size", "storage_info", "show"}
_FORBIDDEN_FUNC = re.compile(
    r"^(read_.*|parquet_.*|sniff_csv|glob|query|query_table|getenv|.*_scan|iceberg_.*|delta_.*"
    r"|json_execute_serialized_sql|load|install|duckdb_secrets|current_setting)$")
_EXPLAIN = re.compile(r"^\s*EXPLAIN(\s+ANALY[SZ]E)?\b", re.IGNORECASE)
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def check_read_only(sql: str) -> None:
    """Raise ``BadRequest`` unless ``sql`` is exactly one read-only statement."""
    explain = _EXPLAIN.match(sql)
    if explain:  # SQLGlot has no EXPLAIN node: check the explained statement instead
        check_read_only(sql[explain.end():])
        return
    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except sqlglot.errors.ParseError as exc:
        detail = exc.errors[0].get("description", str(exc)) if exc.errors else str(exc)
        raise BadRequest(f"could not parse the query: {detail}", field="sql") from exc
    except sqlglot.errors.SqlglotError as exc:
        raise BadRequest(f"could not parse the query: {exc}", field="sql") from exc
    if len(statements) != 1:
        raise BadRequest(f"send exactly one statement (got {len(statements)})", field="sql")
    _check(statements[0], sql)


def _check(stmt: exp.Expr, sql: str) -> None:
    if isinstance(stmt, exp.Pragma):
        this = stmt.this
        name = this.name.lower() if isinstance(this, exp.Anonymous | exp.Column | exp.Var) else ""
        if name not in _PRAGMAS:
            _refuse(" ".join(sql.split()[:2]).rstrip(";"))
        return
    if not isinstance(stmt, _TOP_LEVEL):
        _refuse(sql.split()[0].upper() if sql.split() else "an empty statement")
    for node in stmt.walk():
        if isinstance(node, _WRITES):
            _refuse(type(node).__name__.upper())
        if isinstance(node, exp.Func) and _forbidden_func(node):
            _refuse(f"function {_func_name(node)}()")
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier) \
                and not _TABLE_NAME.match(node.this.name):
            _refuse(f"table {node.this.name!r} (files cannot be read)")


def _func_name(node: exp.Func) -> str:
    return (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()


def _forbidden_func(node: exp.Func) -> bool:
    return type(node).__name__.startswith("Read") or bool(_FORBIDDEN_FUNC.match(_func_name(node)))


def _refuse(what: str) -> None:
    raise BadRequest(f"{READ_ONLY_MESSAGE} ({what} is not)", field="sql")


__all__ = ["READ_ONLY_MESSAGE", "check_read_only"]
