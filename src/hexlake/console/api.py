"""The console's routes: its pages and assets, ``/docs`` and ``/redoc``, ``/v1/whoami``, ``/v1/live``
(Server-Sent Events), and the two admin actions no JSON API had yet (geofences by an admin key,
discarding a quarantined event)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, Response, StreamingResponse

from hexlake.console.docs import redoc_page, swagger_page
from hexlake.errors import NotFound
from hexlake.serve.auth import authenticate, require_admin, require_read
from hexlake.serve.deps import runtime_of

STATIC = Path(__file__).parent / "static"
MAX_ROW_ID = 2**63 - 1
router = APIRouter()
admin = [Depends(require_admin)]
# The browser itself enforces "no external request": every fetch, script, style, image and worker is
# same-origin (the docs pages need inline scripts: FastAPI's HTML starts Swagger UI / ReDoc inline).
CSP = ("default-src 'self'; script-src 'self'{inline}; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
CONSOLE_CSP = CSP.format(inline="")
DOCS_CSP = CSP.format(inline=" 'unsafe-inline'")


@router.get("/", include_in_schema=False)
def console_page() -> HTMLResponse:
    """The console's one page (the views are client-side; each calls the JSON APIs with the user's key)."""
    headers = {"Cache-Control": "no-cache", "Content-Security-Policy": CONSOLE_CSP}
    return HTMLResponse((STATIC / "index.html").read_bytes(), headers=headers)


@router.get("/console/static/{path:path}", include_in_schema=False)
def console_asset(path: str) -> FileResponse:
    """A packaged asset; never a file outside ``static/``."""
    target = (STATIC / path).resolve()
    if not target.is_relative_to(STATIC.resolve()) or not target.is_file():
        raise NotFound(f"no console asset {path!r}", field="path")
    cache = "public, max-age=86400" if path.startswith("vendor/") else "no-cache"  # vendor files are pinned
    return FileResponse(target, headers={"Cache-Control": cache})


@router.get("/docs", include_in_schema=False)
def docs(request: Request) -> HTMLResponse:
    page = swagger_page(request.app.openapi_url, request.app.title)
    page.headers["Content-Security-Policy"] = DOCS_CSP
    return page


@router.get("/redoc", include_in_schema=False)
def redoc(request: Request) -> HTMLResponse:
    page = redoc_page(request.app.openapi_url, request.app.title)
    page.headers["Content-Security-Policy"] = DOCS_CSP
    return page


@router.get("/v1/whoami", tags=["read"], summary="The calling key's kind and scopes")
def whoami(request: Request) -> dict[str, Any]:
    """What the console shows: read pages for any key allowed them, admin pages for admin keys."""
    p = authenticate(request)
    return {
        "key_id": p.key_id, "kind": p.kind, "name": p.name, "source": p.source, "is_admin": p.is_admin,
        "apis": sorted(p.apis) if p.apis is not None else None,
        "marts": sorted(p.marts) if p.marts is not None else None,
    }


def live_snapshot(request: Request) -> dict[str, Any]:
    """Activity of the last minutes: events per minute by type (geofence enters/exits included), active
    users, and live place / H3 r6 cell counts from which groups of fewer than k people are removed."""
    from hexlake.stream.realtime import metrics_snapshot
    from hexlake.stream.runner import get_counter_store

    rt = runtime_of(request)
    k = rt.settings.transform.heatmap_k
    snap = metrics_snapshot(get_counter_store(rt), time.time(), minutes=15, live_minutes=15, top=200, k=k)
    geofence = [r for r in snap["events_per_minute"] if r["event_type"].startswith("geofence_")]
    return {**snap, "geofence_events": geofence, "k": k}


async def _sse(request: Request, interval_s: float, count: int | None) -> AsyncIterator[bytes]:
    sent = 0
    yield b"retry: 3000\n\n"
    while count is None or sent < count:
        snap = await run_in_threadpool(live_snapshot, request)
        yield b"event: activity\ndata: " + orjson.dumps(snap) + b"\n\n"
        sent += 1
        if count is not None and sent >= count:
            break
        for _ in range(int(interval_s * 10)):  # notice a closed tab within 0.1 s
            if await request.is_disconnected():
                return
            await asyncio.sleep(0.1)


@router.get("/v1/live", tags=["realtime"], summary="Live k-anonymous activity (Server-Sent Events)",
            dependencies=[Depends(require_read("realtime"))],
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "`event: activity` messages, one per interval."}})
def live(
    request: Request,
    interval_s: Annotated[float, Query(ge=0.5, le=60, description="Seconds between messages.")] = 2.0,
    count: Annotated[int | None, Query(ge=1, le=100_000, description="Stop after this many messages.")] = None,
) -> StreamingResponse:
    """A ``text/event-stream`` of ``activity`` messages: events per minute by type, active users,
    geofence enter/exit counts, and place / cell counts with at least ``k`` distinct people
    (``transform.heatmap_k``). Per-person geofence events go to the fence's webhook, never here."""
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(_sse(request, interval_s, count), media_type="text/event-stream", headers=headers)


@router.post("/v1/admin/geofences", dependencies=admin, tags=["admin"], status_code=201,
             summary="Create a geofence (admin key)")
def admin_create_geofence(request: Request, body: Annotated[Any, Body(examples=[
        {"name": "HQ", "lat": 37.7749, "lng": -122.4194, "radius_m": 150}])]) -> dict[str, Any]:
    """``POST /v1/geofences`` for the console's admins (that route takes admin keys as well)."""
    from hexlake.stream.runner import get_geofence_store

    return get_geofence_store(runtime_of(request)).create(body).public()


@router.delete("/v1/admin/geofences/{fence_id}", dependencies=admin, tags=["admin"], status_code=204,
               summary="Delete a geofence (admin key)")
def admin_delete_geofence(request: Request, fence_id: str) -> Response:
    from hexlake.stream.runner import get_geofence_store

    get_geofence_store(runtime_of(request)).delete(fence_id)
    return Response(status_code=204)


@router.post("/v1/quarantine/{id}/discard", dependencies=admin, tags=["admin"],
             summary="Discard a quarantined event")
def discard_quarantined(request: Request, id: Annotated[int, PathParam(ge=1, le=MAX_ROW_ID)]) -> dict[str, Any]:
    from hexlake.gate.resources import runtime_quarantine
    from hexlake.serve.operations import quarantine_show

    rt = runtime_of(request)
    quarantine_show(rt, id)  # 404 when unknown
    runtime_quarantine(rt).mark([id], "discarded")
    return {"id": id, "status": "discarded"}


__all__ = ["live_snapshot", "router"]
