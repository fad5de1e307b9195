"""Read API of the spine (read key) and the admin endpoint the CLI uses on a running server."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool

from hexlake.errors import BadRequest
from hexlake.serve import operations as ops
from hexlake.serve.auth import require_admin, require_read
from hexlake.serve.deps import runtime_of

router = APIRouter()
admin = [Depends(require_admin)]
MAX_ROW_ID = 2**63 - 1  # SQLite's largest integer: bigger ids and offsets are a 400, not an OverflowError


@router.get("/v1/quarantine", dependencies=admin, tags=["admin"], summary="List quarantined events")
def get_quarantine(
    request: Request,
    status: Annotated[str | None, Query(pattern="^(open|replayed|discarded)$")] = "open",
    event_type: str | None = None,
    source: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
) -> dict[str, Any]:
    return ops.quarantine_list(runtime_of(request), status, event_type, source, limit, offset)


@router.get("/v1/quarantine/{id}", dependencies=admin, tags=["admin"], summary="One quarantined event")
def get_quarantine_item(request: Request, id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)]) -> dict[str, Any]:
    return ops.quarantine_show(runtime_of(request), id)


@router.get("/v1/log/status", dependencies=[Depends(require_read("log"))], tags=["read"], summary="Consumer group lag")
def get_log_status(request: Request) -> dict[str, Any]:
    return ops.log_status(runtime_of(request))


@router.get("/v1/schemas", dependencies=admin, tags=["admin"], summary="Registered event schemas")
def get_schemas(request: Request) -> list[dict[str, Any]]:
    return ops.schemas_list(runtime_of(request))


@router.get("/v1/schemas/{event_type}", dependencies=admin, tags=["admin"], summary="One event schema")
def get_schema(request: Request, event_type: str, version: int | None = None) -> dict[str, Any]:
    return ops.schemas_show(runtime_of(request), event_type, version)


@router.post("/v1/admin/ops/{name}", dependencies=admin, include_in_schema=False)
async def admin_op(request: Request, name: str, kwargs: Annotated[dict[str, Any], Body()]) -> Any:
    fn = ops.get(name)
    try:
        return ops.jsonable(await run_in_threadpool(lambda: fn(runtime_of(request), **kwargs)))
    except TypeError as exc:  # wrong arguments for the operation
        raise BadRequest(f"bad arguments for {name}: {exc}") from exc
