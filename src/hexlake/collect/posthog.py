"""PostHog capture API: ``/capture/``, ``/batch/``, ``/e/``, ``/i/v0/e/`` (with or without the slash).

An app instrumented with a PostHog library works by changing its host and project key. The key is
``api_key`` or ``token`` in the body (or in the first event / its properties, as posthog-js sends
it, or ``?token=``). Bodies: one event, an array of events, or ``{"batch": [...], "sent_at": ...}``;
raw JSON, gzip (``Content-Encoding: gzip`` or ``?compression=gzip-js``) or the form-encoded
``data=<base64 JSON>`` variant. Answers PostHog's 200 ``{"status": 1}``; error bodies carry
PostHog's ``detail`` and hexlake's ``error`` object. Events that cannot be mapped (no distinct_id,
no event name) are listed in ``errors`` without failing the rest of a batch.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from hexlake.collect.body import decode_json
from hexlake.collect.ingest import ingest
from hexlake.collect.mapping.batch import first_error, map_items
from hexlake.collect.mapping.posthog import map_event
from hexlake.collect.openapi_bodies import POSTHOG_BODY
from hexlake.collect.segment import json_response
from hexlake.collect.sources import resolve_write_key
from hexlake.errors import BadRequest, HexlakeError, Unauthorized
from hexlake.gate.envelope import SourceInfo
from hexlake.runtime import Runtime
from hexlake.serve.auth import key_from_header
from hexlake.serve.deps import runtime_of

router = APIRouter(tags=["posthog"])

PATHS = ("/capture/", "/capture", "/batch/", "/batch", "/e/", "/e", "/i/v0/e/", "/i/v0/e")


def posthog_error(exc: HexlakeError) -> Response:
    body = {"type": "validation_error" if exc.status < 500 else "server_error", "code": type(exc).__name__,
            "detail": exc.message, **exc.to_body()}
    return json_response(body, exc.status, getattr(exc, "headers", None))  # 429 keeps its Retry-After


def _events(body: Any) -> tuple[list[Any], Any, bool]:
    """(events, request sent_at, is_single) of any accepted body shape."""
    if isinstance(body, list):
        return body, None, False
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object or array", field="body")
    if "batch" in body:
        if not isinstance(body["batch"], list):
            raise BadRequest("'batch' must be an array of events", field="batch")
        # A historical migration's timestamps are trusted as is (no skew correction).
        sent_at = None if body.get("historical_migration") else body.get("sent_at")
        return body["batch"], sent_at, False
    return [body], body.get("sent_at"), True


def _key(request: Request, body: Any, events: list[Any]) -> str | None:
    candidates: list[Any] = []
    if isinstance(body, dict):
        candidates += [body.get("api_key"), body.get("token")]
    first: dict[str, Any] = events[0] if events and isinstance(events[0], dict) else {}
    props: dict[str, Any] = first["properties"] if isinstance(first.get("properties"), dict) else {}
    candidates += [first.get("api_key"), first.get("token"), props.get("token"),
                   request.query_params.get("token"), request.query_params.get("api_key"),
                   key_from_header(request.headers.get("authorization"))]
    return next((c for c in candidates if isinstance(c, str) and c), None)


def _source(runtime: Runtime, key: str | None) -> SourceInfo:
    if key is None:
        raise Unauthorized("missing project key: send 'api_key' (or 'token') in the body")
    return resolve_write_key(runtime, key)


async def capture(request: Request) -> Response:
    """Capture one event or a batch in any of PostHog's body shapes."""
    received_at = datetime.now(UTC)
    runtime = runtime_of(request)
    try:
        body = decode_json(
            await request.body(), max_bytes=runtime.settings.collect.max_request_bytes,
            content_encoding=request.headers.get("content-encoding"),
            content_type=request.headers.get("content-type"),
            compression=request.query_params.get("compression"),
        )
        events, sent_at, single = _events(body)
        source = _source(runtime, _key(request, body, events))
        where = "body" if single else "batch[{}]"
        mapped = map_items(events, lambda ev, i: map_event(
            ev, sent_at=sent_at, received_at=received_at, where=where.format(i)))
        if single and (bad := first_error(mapped.errors)) is not None:
            raise bad
        result = await run_in_threadpool(
            ingest, runtime, mapped.items, source=source, received_at=received_at
        )
    except HexlakeError as exc:
        return posthog_error(exc)
    errors = mapped.remap(result.errors)
    if single and (bad := first_error(errors)) is not None:
        return posthog_error(bad)
    answer: dict[str, Any] = {"status": 1, "accepted": result.accepted, "duplicates": result.duplicates,
                              "quarantined": result.quarantined}
    if errors:
        answer["errors"] = [
            {"index": e.index, "uuid": e.event_id, "messages": [m.message for m in e.messages]}
            for e in errors
        ]
    return json_response(answer)


for _path in PATHS:
    router.add_api_route(_path, capture, methods=["POST"], summary=f"PostHog capture ({_path})",
                         include_in_schema=_path.endswith("/"), openapi_extra=POSTHOG_BODY)

__all__ = ["router"]
