"""``POST /v1/query`` (user SQL through the sandbox) and ``GET /v1/admin/audit`` (the query audit log).

A query is interrupted when the client disconnects: the route polls the connection while the query
runs in a worker thread and cancels it through its ``Running`` handle.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from hexlake.ops.audit import OUTCOMES, get_audit_log
from hexlake.runtime import Runtime
from hexlake.serve.auth import require_admin, require_read
from hexlake.serve.deps import runtime_of
from hexlake.serve.operations import jsonable
from hexlake.serve.principal import Principal
from hexlake.warehouse.query import get_sandbox
from hexlake.warehouse.readonly import allowed_function_keys
from hexlake.warehouse.sandbox import CLI_CALLER, Caller, QueryResult, Running

router = APIRouter()
DISCONNECT_POLL_S = 0.2
# The server imports this module at start: build the function allowlist (~0.2 s) now, beside start-up,
# rather than on the first query.
threading.Thread(target=allowed_function_keys, name="hexlake-query-allowlist", daemon=True).start()


@router.post("/v1/query", tags=["read"], summary="Read-only SQL on the warehouse (sandboxed, audited)")
async def post_query(
    request: Request,
    principal: Annotated[Principal, Depends(require_read("query"))],
    sql: Annotated[str, Body(embed=True, min_length=1)],
    limit: Annotated[int, Body(embed=True, ge=1, le=100_000)] = 1000,
) -> dict[str, Any]:
    """Rows as lists; ``truncated`` is true when the result had more rows than ``limit`` (or ``query.max_rows``)."""
    sandbox = get_sandbox(runtime_of(request))
    handles: list[Running] = []
    task = asyncio.ensure_future(run_in_threadpool(
        sandbox.run, sql, Caller.from_principal(principal), limit, handles.append))
    while not task.done():
        await asyncio.wait({task}, timeout=DISCONNECT_POLL_S)
        if not task.done() and await request.is_disconnected():
            for handle in handles:
                handle.cancel("the client disconnected")
            break
    result: QueryResult = await task
    return jsonable(result.to_response())


@router.get("/v1/admin/audit", dependencies=[Depends(require_admin)], tags=["admin"],
            summary="The query audit log, newest first")
def get_audit(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    key_id: Annotated[str | None, Query(max_length=200)] = None,
    outcome: Annotated[str | None, Query(pattern=f"^({'|'.join(OUTCOMES)})$")] = None,
    since: Annotated[str | None, Query(max_length=40, description="ISO timestamp (UTC)")] = None,
) -> dict[str, Any]:
    return audit_list(runtime_of(request), limit=limit, key_id=key_id, outcome=outcome, since=since)


def query(runtime: Runtime, sql: str, limit: int | None = 1000) -> dict[str, Any]:
    """The CLI's ``hexlake query``: the same sandbox and audit, as the local admin (``key_id="cli"``)."""
    return dict(jsonable(get_sandbox(runtime).run(sql, CLI_CALLER, limit).to_response()))


def audit_list(runtime: Runtime, limit: int = 100, key_id: str | None = None, outcome: str | None = None,
               since: str | None = None) -> dict[str, Any]:
    audit = get_audit_log(runtime)
    audit.flush()
    return {"items": audit.entries(limit=limit, key_id=key_id, outcome=outcome, since=since)}


def audit_purge(runtime: Runtime) -> dict[str, Any]:
    """Delete audit records older than ``query.audit_retention_days``."""
    audit = get_audit_log(runtime)
    audit.flush()
    return {"deleted": audit.purge(), "retention_days": runtime.settings.query.audit_retention_days}


OPERATIONS = {"audit_list": audit_list, "audit_purge": audit_purge}

__all__ = ["OPERATIONS", "audit_list", "audit_purge", "query", "router"]
