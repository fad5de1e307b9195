"""``GET /v1/quality``: the latest data-quality report (checked now if none is kept yet)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from hexlake.serve.auth import require_admin
from hexlake.serve.deps import runtime_of

router = APIRouter(tags=["admin"])


@router.get("/v1/quality", dependencies=[Depends(require_admin)], summary="Data-quality monitors")
def get_quality(request: Request, refresh: bool = Query(False, description="Check now instead of "
                                                                           "returning the latest report.")
                ) -> dict[str, Any]:
    """Volume anomalies, schema drift, quarantine-rate spikes and freshness breaches of the last hour."""
    from hexlake.quality.service import latest, run_once

    runtime = runtime_of(request)
    holder = latest(runtime)
    with holder.lock:
        report = holder.report
    if report is None or refresh:
        return run_once(runtime)
    return report.to_dict()
