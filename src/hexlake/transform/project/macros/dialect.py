"""Dialect-specific SQL, kept here so the models stay portable (DuckDB today, PostgreSQL next).

Every macro branches on the model dialect (``evaluator.dialect``): a PostgreSQL gateway sets
``model_defaults.dialect = "postgres"`` and gets the PostgreSQL spelling of the same expression.
The model bodies themselves only use standard SQL (CAST, CASE, window functions, COUNT DISTINCT).
"""

from __future__ import annotations

import typing as t

from sqlglot import exp
from sqlmesh import macro


def _sql(evaluator: t.Any, node: t.Any) -> str:
    return node.sql(dialect=evaluator.dialect) if isinstance(node, exp.Expression) else str(node)


def _literal(node: t.Any) -> str:
    return node.this if isinstance(node, exp.Literal) else str(node)


def _parse(evaluator: t.Any, sql: str) -> exp.Expression:
    # non-PostgreSQL spellings are DuckDB's: parsed as DuckDB, SQLGlot writes them for the model dialect
    return exp.maybe_parse(sql, dialect="postgres" if _is_pg(evaluator) else "duckdb")


def _is_pg(evaluator: t.Any) -> bool:
    return evaluator.dialect in ("postgres", "postgresql")


@macro()
def json_str(evaluator: t.Any, column: t.Any, path: t.Any) -> exp.Expression:
    """Text value at a dotted ``path`` of a JSON column (NULL when absent)."""
    col, keys = _sql(evaluator, column), _literal(path).split(".")
    if _is_pg(evaluator):
        # explicit TEXT: SQLMesh would otherwise type the column from #>> as JSONB
        return _parse(evaluator, f"CAST((CAST({col} AS JSONB) #>> '{{{','.join(keys)}}}') AS TEXT)")
    return _parse(evaluator, f"json_extract_string({col}, '$.{'.'.join(keys)}')")


@macro()
def json_num(evaluator: t.Any, column: t.Any, path: t.Any) -> exp.Expression:
    """Numeric value at a dotted ``path`` of a JSON column (NULL when absent or not a number)."""
    text = json_str(evaluator, column, path).sql(dialect=evaluator.dialect)
    if _is_pg(evaluator):
        return _parse(evaluator, f"CAST(NULLIF(({text}), '') AS DOUBLE PRECISION)")
    return _parse(evaluator, f"TRY_CAST({text} AS DOUBLE)")


@macro()
def json_bool(evaluator: t.Any, column: t.Any, path: t.Any) -> exp.Expression:
    """Boolean at a dotted ``path`` of a JSON column (``true``/``false`` text; NULL otherwise)."""
    text = json_str(evaluator, column, path).sql(dialect=evaluator.dialect)
    return _parse(
        evaluator,
        f"CASE LOWER({text}) WHEN 'true' THEN TRUE WHEN 'false' THEN FALSE ELSE NULL END",
    )


@macro()
def add_days(evaluator: t.Any, value: t.Any, days: t.Any) -> exp.Expression:
    """``value`` (date or timestamp) plus ``days`` whole days (may be negative)."""
    n = int(_literal(days))
    v = _sql(evaluator, value)
    if _is_pg(evaluator):
        return _parse(evaluator, f"({v} + INTERVAL '{n} days')")
    return _parse(evaluator, f"({v} + INTERVAL '{n}' DAY)")


@macro()
def add_hours(evaluator: t.Any, value: t.Any, hours: t.Any) -> exp.Expression:
    """``value`` (timestamp) plus ``hours`` whole hours (may be negative)."""
    n = int(_literal(evaluator.eval_expression(hours) if hasattr(evaluator, "eval_expression") else hours))
    v = _sql(evaluator, value)
    if _is_pg(evaluator):
        return _parse(evaluator, f"({v} + INTERVAL '{n} hours')")
    return _parse(evaluator, f"({v} + INTERVAL '{n}' HOUR)")


@macro()
def day_diff(evaluator: t.Any, start: t.Any, end: t.Any) -> exp.Expression:
    """Whole days from ``start`` to ``end`` (calendar dates, end minus start)."""
    a, b = _sql(evaluator, start), _sql(evaluator, end)
    if _is_pg(evaluator):
        return _parse(evaluator, f"CAST((CAST({b} AS DATE) - CAST({a} AS DATE)) AS INTEGER)")  # typed for SQLMesh
    return _parse(evaluator, f"date_diff('day', CAST({a} AS DATE), CAST({b} AS DATE))")


@macro()
def trunc(evaluator: t.Any, unit: t.Any, value: t.Any) -> exp.Expression:
    """Start of the ``unit`` (hour, day, week = ISO Monday, month) containing ``value``, a timestamp."""
    u, v = _literal(unit).lower(), _sql(evaluator, value)
    return _parse(evaluator, f"CAST(date_trunc('{u}', CAST({v} AS TIMESTAMP)) AS TIMESTAMP)")


@macro()
def sorted_set(evaluator: t.Any, column: t.Any) -> exp.Expression:
    """Aggregate: sorted list of the distinct non-null values of ``column``."""
    c = _sql(evaluator, column)
    if _is_pg(evaluator):
        return _parse(evaluator, f"ARRAY_AGG(DISTINCT {c} ORDER BY {c}) FILTER (WHERE {c} IS NOT NULL)")
    return _parse(evaluator, f"list_sort(list_distinct(list({c})))")


@macro()
def signup_cohort(evaluator: t.Any, value: t.Any) -> exp.Expression:
    """Cohort label year-month-week-of-month, e.g. '2026-01-W4' for 2026-01-25 (seed 004)."""
    v = _sql(evaluator, value)
    if _is_pg(evaluator):
        return _parse(
            evaluator,
            f"(to_char({v}, 'YYYY-MM') || '-W' "
            f"|| CAST(CAST(ceil(EXTRACT(DAY FROM {v}) / 7.0) AS INTEGER) AS TEXT))",
        )
    return _parse(
        evaluator,
        f"(strftime(CAST({v} AS TIMESTAMP), '%Y-%m') || '-W' "
        f"|| CAST(CAST(ceil(EXTRACT(DAY FROM {v}) / 7.0) AS INTEGER) AS VARCHAR))",
    )


@macro()
def as_double(evaluator: t.Any, value: t.Any) -> exp.Expression:
    """Cast to a double-precision float (integer division differs between engines)."""
    v = _sql(evaluator, value)
    typ = "DOUBLE PRECISION" if _is_pg(evaluator) else "DOUBLE"
    return _parse(evaluator, f"CAST({v} AS {typ})")
