"""``GET /v1/pipelines`` (pipelines and their last run) and ``GET /v1/pipelines/{name}/runs``: any
read key allowed the ``pipelines`` API, or admin (run errors name source hosts and tables)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from hexlake.pipeline import operations
from hexlake.serve.auth import require_read
from hexlake.serve.deps import runtime_of

router = APIRouter(tags=["pipelines"], dependencies=[Depends(require_read("pipelines"))])


@router.get("/v1/pipelines")
def pipelines(request: Request) -> dict[str, Any]:
    return {"pipelines": operations.pipeline_list(runtime_of(request))}


@router.get("/v1/pipelines/{name}/runs")
def runs(request: Request, name: str, limit: int = Query(50, ge=1, le=1000)) -> dict[str, Any]:
    return {"runs": operations.pipeline_history(runtime_of(request), name, limit)}
