"""The native collector: ``POST /v1/events``, plus ``/healthz`` and ``/readyz``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import ORJSONResponse

from hexlake.collect.body import decode_body
from hexlake.collect.ingest import IngestResult, ingest
from hexlake.gate.envelope import SourceInfo
from hexlake.runtime import Runtime
from hexlake.serve.auth import require_write_key

router = APIRouter()

EVENTS_DOC = """Send one event, a JSON array of events, `{"batch": [...], "sent_at": ...}` or NDJSON
(optionally gzip). Answers 200 only after accepted events are durably in the log, with
`{accepted, duplicates, quarantined, errors: [{index, event_id, messages}]}`."""


@router.post("/v1/events", summary="Collect events", description=EVENTS_DOC, tags=["collect"])
async def post_events(
    request: Request, source: Annotated[SourceInfo, Depends(require_write_key)]
) -> dict[str, Any]:
    runtime: Runtime = request.app.state.runtime
    raw = await request.body()
    received_at = datetime.now(UTC)
    body = decode_body(
        raw, request.headers.get("content-type"), request.headers.get("content-encoding"),
        runtime.settings.collect,
    )
    result: IngestResult = await run_in_threadpool(
        ingest, runtime, body.items, source=source, received_at=received_at, sent_at=body.sent_at,
        oversize=body.oversize,
    )
    return result.to_response()


@router.get("/healthz", tags=["ops"], summary="Liveness")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", tags=["ops"], summary="Readiness: data dir open and services started")
def readyz(request: Request) -> ORJSONResponse:
    ready = bool(getattr(request.app.state, "ready", False))
    return ORJSONResponse({"ready": ready}, status_code=200 if ready else 503)
