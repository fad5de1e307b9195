"""Segment HTTP Tracking API: ``/v1/{track,identify,page,screen,group,alias,batch,import}``.

An app instrumented with a Segment library works by changing its host and write key. The write key
comes as the Basic-auth username (what the libraries send) or ``writeKey`` in the body. Answers are
Segment's: 200 ``{"success": true}``; 400 for invalid JSON or a message/batch over the size limits
(32 KB / 500 KB by default, ``collect.segment_max_*``). Error bodies carry both Segment's
``code``/``message`` (read by its libraries) and hexlake's ``error`` object. Messages of a batch that
cannot be mapped (no userId/anonymousId, track without event...) do not fail the batch: they are
listed in ``errors`` with their index, the rest is stored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from hexlake.collect.body import decode_json
from hexlake.collect.ingest import ingest
from hexlake.collect.mapping.batch import MappedBatch, first_error, map_items
from hexlake.collect.mapping.segment import CALL_TYPES, map_message
from hexlake.collect.openapi_bodies import SEGMENT_BATCH_BODY, SEGMENT_BODY
from hexlake.collect.sources import resolve_write_key
from hexlake.errors import BadRequest, HexlakeError, PayloadTooLarge, Unauthorized
from hexlake.gate.envelope import SourceInfo
from hexlake.runtime import Runtime
from hexlake.serve.auth import key_from_header
from hexlake.serve.deps import runtime_of

router = APIRouter(tags=["segment"])


def json_response(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def segment_error(exc: HexlakeError) -> Response:
    """Segment's error answer: oversize is a 400 (as Segment), the rest keeps its status."""
    status = 400 if isinstance(exc, PayloadTooLarge) else exc.status
    code = "invalid_request" if status < 500 else "server_error"
    body = {"success": False, "code": code, "message": exc.message, **exc.to_body()}
    return json_response(body, status, getattr(exc, "headers", None))  # 429 keeps its Retry-After


def _source(runtime: Runtime, request: Request, body: dict[str, Any]) -> SourceInfo:
    key = key_from_header(request.headers.get("authorization"))
    if key is None:
        body_key = body.get("writeKey")
        key = body_key if isinstance(body_key, str) and body_key else None
    if key is None:
        raise Unauthorized("missing write key: use Basic auth with the write key as username, or 'writeKey'")
    return resolve_write_key(runtime, key)


def _check_message_sizes(messages: list[Any], limit: int) -> None:
    for index, message in enumerate(messages):
        size = len(orjson.dumps(message))
        if size > limit:
            raise PayloadTooLarge(
                f"batch[{index}] is {size} bytes; Segment's limit is {limit} bytes per message",
                field=f"batch[{index}]",
            )


def _merge_batch_context(message: Any, context: Any) -> Any:
    """A batch's top-level ``context`` applies to each message (the message's keys win)."""
    if isinstance(message, dict) and isinstance(context, dict) and context:
        return {**message, "context": {**context, **(message.get("context") or {})}}
    return message


def _map_batch(body: dict[str, Any], historical: bool, limit: int) -> MappedBatch:
    messages = body.get("batch")
    if not isinstance(messages, list):
        raise BadRequest("body needs a 'batch' array of messages", field="batch")
    _check_message_sizes(messages, limit)
    sent_at, context = body.get("sentAt"), body.get("context")

    def mapper(message: Any, index: int) -> list[dict[str, Any]]:
        merged = _merge_batch_context(message, context)
        return [map_message(merged, batch_sent_at=sent_at, historical=historical, where=f"batch[{index}]")]

    return map_items(messages, mapper)


async def _handle(request: Request, call: str | None, historical: bool = False) -> Response:
    received_at = datetime.now(UTC)
    runtime = runtime_of(request)
    config = runtime.settings.collect
    limit = config.segment_max_batch_bytes if call is None else config.segment_max_event_bytes
    try:
        body = decode_json(await request.body(), max_bytes=limit,
                           content_encoding=request.headers.get("content-encoding"))
        if not isinstance(body, dict):
            raise BadRequest("body must be a JSON object", field="body")
        source = _source(runtime, request, body)
        if call is None:
            mapped = _map_batch(body, historical, config.segment_max_event_bytes)
        else:
            mapped = map_items([body], lambda m, _: [map_message(m, call=call)])
            if (bad := first_error(mapped.errors)) is not None:
                raise bad
        result = await run_in_threadpool(
            ingest, runtime, mapped.items, source=source, received_at=received_at
        )
    except HexlakeError as exc:
        return segment_error(exc)
    errors = mapped.remap(result.errors)
    if call is not None and (bad := first_error(errors)) is not None:
        return segment_error(bad)
    answer: dict[str, Any] = {"success": True, "accepted": result.accepted, "duplicates": result.duplicates,
                              "quarantined": result.quarantined}
    if errors:
        answer["errors"] = [{"index": e.index, "messageId": e.event_id,
                             "messages": [m.message for m in e.messages]} for e in errors]
    return json_response(answer)


def _single(call: str) -> Any:
    async def endpoint(request: Request) -> Response:
        return await _handle(request, call)

    endpoint.__name__ = f"segment_{call}"
    return endpoint


for _call in CALL_TYPES:
    router.add_api_route(
        f"/v1/{_call}", _single(_call), methods=["POST"], summary=f"Segment {_call}", openapi_extra=SEGMENT_BODY,
        description=f"Segment HTTP Tracking API `{_call}` call (one message).",
    )


@router.post("/v1/batch", summary="Segment batch", description="Up to 500 KB of Segment messages.",
             openapi_extra=SEGMENT_BATCH_BODY)
async def segment_batch(request: Request) -> Response:
    return await _handle(request, None)


@router.post("/v1/import", summary="Segment import", openapi_extra=SEGMENT_BATCH_BODY,
             description="Like /v1/batch for historical data: timestamps are trusted, not skew corrected.")
async def segment_import(request: Request) -> Response:
    return await _handle(request, None, historical=True)


__all__ = ["router", "segment_error"]
