"""The extracted users table (``hexlake extract``, seed 004) as seen by the core marts.

The variable ``extracted_users`` (set by the transform engine from the data dir's generated
project) names the generated staging model and its raw table, or is empty. Empty: both macros
return a typed query with no rows, so the marts compute exactly what they compute from events only.
"""

from __future__ import annotations

import json
import typing as t

from sqlglot import exp
from sqlmesh import macro

USER_COLUMNS = {
    "user_key": "VARCHAR", "email_domain": "VARCHAR", "auth_methods": "VARCHAR[]",
    "preferred_auth_method": "VARCHAR", "two_factor_enabled": "BOOLEAN", "is_account_locked": "BOOLEAN",
    "created_at": "TIMESTAMP", "deleted_at": "TIMESTAMP", "last_login_at": "TIMESTAMP", "_is_deleted": "BOOLEAN",
}


def _binding(evaluator: t.Any) -> dict[str, t.Any] | None:
    raw = evaluator.var("extracted_users") or ""
    return json.loads(raw) if raw else None


def _parse(evaluator: t.Any, sql: str) -> exp.Expression:
    return exp.maybe_parse(sql, dialect=evaluator.dialect)


def _column(name: str, typ: str, present: set[str], pg: bool) -> str:
    if name not in present:
        return f"CAST(NULL AS {typ}) AS {name}"
    if name == "auth_methods":  # a JSON list at landing
        if pg:  # the JSON list as a sorted TEXT[], NULL stays NULL (like DuckDB's list_sort)
            return ("CASE WHEN auth_methods IS NULL THEN NULL ELSE ARRAY(SELECT m FROM "
                    "jsonb_array_elements_text(CAST(auth_methods AS JSONB)) AS j(m) ORDER BY m) END AS auth_methods")
        return "list_sort(CAST(auth_methods AS VARCHAR[])) AS auth_methods"
    return f"CAST({name} AS {typ}) AS {name}"


@macro()
def extracted_users(evaluator: t.Any) -> exp.Expression:
    """One row per extracted user: user_key (the events' key), auth profile, lifecycle dates, deleted flag."""
    bound = _binding(evaluator)
    pg = evaluator.dialect in ("postgres", "postgresql")
    present = set(bound["columns"]) if bound else set()
    cols = ", ".join(_column(n, ("TEXT[]" if pg else typ) if n == "auth_methods" else typ, present, pg)
                     for n, typ in USER_COLUMNS.items())
    if bound is None:
        return _parse(evaluator, f"SELECT {cols} WHERE FALSE")
    return _parse(evaluator, f"SELECT {cols} FROM {bound['model']} WHERE user_key IS NOT NULL")


@macro()
def extracted_logins(evaluator: t.Any) -> exp.Expression:
    """Every distinct ``last_login_at`` seen for a user across the raw history: one login each."""
    bound = _binding(evaluator)
    if bound is None or "last_login_at" not in bound["columns"]:
        return _parse(evaluator, "SELECT CAST(NULL AS VARCHAR) AS user_key, CAST(NULL AS TIMESTAMP) AS login_at "
                                 "WHERE FALSE")
    return _parse(evaluator, f"SELECT DISTINCT CAST(user_key AS VARCHAR) AS user_key, "
                             f"CAST(last_login_at AS TIMESTAMP) AS login_at FROM {bound['raw']} "
                             "WHERE user_key IS NOT NULL AND last_login_at IS NOT NULL")
