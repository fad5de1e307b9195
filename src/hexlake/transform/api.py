"""Read API over the marts (read keys scoped to ``marts``/``metrics``/``freshness``), plus admin routes
for the transform runs (admin keys only).

* ``GET /v1/metrics/active-users?grain=day|week|month&from=YYYY-MM-DD&to=YYYY-MM-DD``
* ``GET /v1/marts/{name}?limit=&offset=&<column>=<value>...`` (filters validated per mart)
* ``GET /v1/freshness`` — per model: tier, newest event time, lag to now, lag behind raw, staleness
* ``POST /v1/admin/transform/run``, ``GET /v1/admin/transform/status``,
  ``GET /v1/admin/transform/history``
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request

from hexlake.errors import BadRequest, Forbidden, NotFound
from hexlake.runtime import Runtime
from hexlake.serve.auth import require_admin, require_read
from hexlake.serve.deps import runtime_of
from hexlake.serve.principal import Principal
from hexlake.transform import db, operations
from hexlake.transform.marts import MARTS, ORDER_BY, model_table
from hexlake.values import jsonable

router = APIRouter(tags=["marts"])
admin = [Depends(require_admin)]

MAX_LIMIT = 10_000
_PAGING = {"limit", "offset"}


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {raw!r}", field=name) from None
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must be between {lo} and {hi}, got {value}", field=name)
    return value


def _date_param(request: Request, name: str, default: date) -> date:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a date like 2026-01-31, got {raw!r}", field=name) from None


def _columns(runtime: Runtime, table: str) -> list[str]:
    try:
        # LIMIT 0 rather than DESCRIBE: the same on DuckDB and PostgreSQL
        cur = db.models(runtime).cursor().execute(f"SELECT * FROM {table} LIMIT 0")
        names = [d[0] for d in cur.description]
        cur.fetchall()
    except Exception as exc:  # the view does not exist until the first plan
        raise NotFound(
            f"{table} is not built yet; run `hexlake transform run` (or wait for the scheduler)"
        ) from exc
    return names


def _query(runtime: Runtime, sql: str, params: list[Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
    cur = db.models(runtime).cursor().execute(sql, params)
    return [d[0] for d in cur.description], cur.fetchall()


@router.get("/v1/marts/{name}")
def read_mart(
    name: str, request: Request, principal: Principal = Depends(require_read("marts"))
) -> dict[str, Any]:
    """Rows of one mart, in its grain order, paged with limit/offset, filtered by ?column=value.
    A key limited to some marts gets 403 for the others; one limited to some columns sees only those."""
    if name not in MARTS:
        raise NotFound(f"unknown mart {name!r}; marts: {', '.join(MARTS)}", field="name")
    if not principal.can_mart(name):
        raise Forbidden(f"this read key may not read mart {name!r}", field="name")
    runtime = runtime_of(request)
    table = model_table(name)
    columns = principal.visible_columns(name, _columns(runtime, table))
    if not columns:
        raise Forbidden(f"this read key may read no column of mart {name!r}", field="name")
    limit = _int_param(request, "limit", 100, 1, MAX_LIMIT)
    offset = _int_param(request, "offset", 0, 0, 10**12)
    where, params = [], []
    for key, value in request.query_params.multi_items():
        if key in _PAGING:
            continue
        if key not in columns:
            raise BadRequest(
                f"unknown column {key!r} for mart {name}; columns: {', '.join(columns)}", field=key
            )
        where.append(f'"{key}" = ?')
        params.append(value)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    try:
        total = db.models(runtime).cursor().execute(
            f"SELECT COUNT(*) FROM {table}{clause}", params).fetchone()
        select = ", ".join(f'"{c}"' for c in columns)
        cols, rows = _query(
            runtime, f"SELECT {select} FROM {table}{clause} ORDER BY {ORDER_BY[name]} LIMIT ? OFFSET ?",
            [*params, limit, offset])
    except Exception as exc:  # e.g. a filter value that does not cast to the column's type
        raise BadRequest(f"bad filter value for mart {name}: {exc}") from exc
    count = int(total[0]) if total else 0
    return {
        "mart": name,
        "columns": cols,
        "rows": [jsonable(dict(zip(cols, r, strict=True))) for r in rows],
        "limit": limit,
        "offset": offset,
        "total": count,
        "next_offset": offset + len(rows) if offset + len(rows) < count else None,
    }


@router.get("/v1/metrics/active-users", dependencies=[Depends(require_read("metrics"))])
def active_users(request: Request) -> dict[str, Any]:
    """DAU (grain=day, with rolling WAU/MAU and stickiness) or distinct users per ISO week/month."""
    grain = request.query_params.get("grain", "day")
    if grain not in ("day", "week", "month"):
        raise BadRequest(f"grain must be day, week or month, got {grain!r}", field="grain")
    runtime = runtime_of(request)
    to = _date_param(request, "to", date.today())
    frm = _date_param(request, "from", to - timedelta(days=30))
    if frm > to:
        raise BadRequest(f"from ({frm}) is after to ({to})", field="from")
    if grain == "day":
        _columns(runtime, "marts.metrics_active_users")
        cols, rows = _query(
            runtime,
            "SELECT activity_date AS period_start, dau AS active_users, dau, wau, mau, stickiness "
            "FROM marts.metrics_active_users WHERE activity_date BETWEEN ? AND ? ORDER BY 1",
            [frm, to])
    else:
        _columns(runtime, "marts.marts_core_user_activity_daily")
        cols, rows = _query(
            runtime,
            f"SELECT CAST(date_trunc('{grain}', activity_date) AS DATE) AS period_start, "
            "COUNT(DISTINCT user_id) AS active_users FROM marts.marts_core_user_activity_daily "
            "WHERE activity_date BETWEEN ? AND ? GROUP BY 1 ORDER BY 1",
            [frm, to])
    return {
        "grain": grain,
        "from": frm.isoformat(),
        "to": to.isoformat(),
        "series": [jsonable(dict(zip(cols, r, strict=True))) for r in rows],
    }


@router.get("/v1/freshness", dependencies=[Depends(require_read("freshness"))])
def freshness(request: Request) -> dict[str, Any]:
    """Per model: newest event time it holds, lag to now, and how far it trails raw_events."""
    return {"models": operations.freshness(runtime_of(request))}


@router.post("/v1/admin/transform/run", tags=["admin"], dependencies=admin)
def admin_run(request: Request) -> dict[str, Any]:
    """Run the models now (``?tier=fresh|asof|all``, default all); 500 TransformError names a
    failed audit."""
    tier = request.query_params.get("tier", "all")
    result: dict[str, Any] = jsonable(operations.run(runtime_of(request), trigger="api", tier=tier))
    return result


@router.get("/v1/admin/transform/status", tags=["admin"], dependencies=admin)
def admin_status(request: Request) -> dict[str, Any]:
    """Per model: kind, intervals, rows, newest event time, last successful run."""
    result: dict[str, Any] = jsonable(operations.status(runtime_of(request)))
    return result


@router.get("/v1/admin/transform/history", tags=["admin"], dependencies=admin)
def admin_history(request: Request) -> dict[str, Any]:
    """Run history, newest first (``?limit=&model=&status=``)."""
    limit = _int_param(request, "limit", 100, 1, 10_000)
    rows = operations.history(
        runtime_of(request), limit=limit, model=request.query_params.get("model"),
        status=request.query_params.get("status"))
    return {"runs": jsonable(rows)}
