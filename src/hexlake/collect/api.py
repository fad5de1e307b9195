"""The native collector: ``POST /v1/events``, plus ``/healthz`` and ``/readyz``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import msgspec
import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from hexlake.collect.body import decode_body
from hexlake.collect.ingest import IngestResult, ingest
from hexlake.collect.openapi_bodies import EVENTS_BODY
from hexlake.errors import HexlakeError
from hexlake.gate.envelope import SourceInfo
from hexlake.serve.auth import authenticate, require_write_key
from hexlake.serve.deps import runtime_of
from hexlake.serve.errors import FastJSONResponse

router = APIRouter()

EVENTS_DOC = """Send one event, a JSON array of events, `{"batch": [...], "sent_at": ...}` or NDJSON
(optionally gzip). Answers 200 only after accepted events are durably in the log, with
`{accepted, duplicates, quarantined, errors: [{index, event_id, messages}]}`."""


EXAMPLE = {"accepted": 2, "duplicates": 0, "quarantined": 1, "errors": [{"index": 1, "event_id": "e-2", "messages": [
    {"path": "/properties/location/lat", "keyword": "maximum", "message": "999 is greater than the maximum of 90"}]}]}


@router.post("/v1/events", summary="Collect events", description=EVENTS_DOC, tags=["collect"],
             openapi_extra=EVENTS_BODY, responses={
    200: {"description": "Counts; accepted events are durable", "content": {"application/json": {"example": EXAMPLE}}},
    400: {"description": "Body is not JSON; nothing stored"}, 401: {"description": "Missing/unknown/revoked key"},
    413: {"description": "Too large"}, 415: {"description": "Unsupported content type or encoding"}})
async def post_events(
    request: Request, source: Annotated[SourceInfo, Depends(require_write_key)]
) -> Response:
    runtime = runtime_of(request)
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
    return Response(orjson.dumps(result.to_response()), media_type="application/json")


@router.get("/healthz", tags=["ops"], summary="Liveness")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _is_admin(request: Request) -> bool:
    try:
        return request.headers.get("authorization") is not None and authenticate(request).is_admin
    except HexlakeError:  # a wrong key on a public route: answered like no key
        return False


@router.get("/readyz", tags=["ops"], summary="Readiness: data dir open and services started")
def readyz(request: Request) -> FastJSONResponse:
    """200 once started. ``services`` lists each background service's health; an unhealthy one
    (say, the loader while the warehouse is down) does not make the collector unready."""
    ready = bool(getattr(request.app.state, "ready", False))
    services = [msgspec.to_builtins(st) for svc in getattr(request.app.state, "services", [])
                for st in svc.statuses()]
    if not _is_admin(request):  # a probe sends no key; an error's text can name hosts, paths or a value
        for st in services:
            st.pop("last_error", None)
    body = {"ready": ready, "healthy": all(st["healthy"] for st in services), "services": services}
    return FastJSONResponse(body, status_code=200 if ready else 503)
