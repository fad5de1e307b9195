"""Decode a collector request body into a list of JSON values, enforcing the size limits.

Accepted: one JSON object, a JSON array of objects, ``{"batch": [...], "sent_at": ...}``, or NDJSON;
optionally gzip-compressed (``Content-Encoding: gzip``). Nothing here is stored: a body that fails
to decode is a 400 and the request has no effect.
"""

from __future__ import annotations

import zlib
from typing import Any

import msgspec
import orjson

from hexlake.collect.config import CollectConfig
from hexlake.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

JSON_TYPES = {"application/json", "text/plain", ""}
NDJSON_TYPES = {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/json-lines"}


class DecodedBody(msgspec.Struct):
    items: list[Any]
    sent_at: Any = None
    # Sizes of items known to exceed max_event_bytes, by index (checked only for large bodies).
    oversize: dict[int, int] = msgspec.field(default_factory=dict)


def gunzip(raw: bytes, limit: int) -> bytes:
    """Decompress without ever holding more than ``limit`` bytes (defuses gzip bombs)."""
    inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
    try:
        out = inflater.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise BadRequest(f"body is not valid gzip: {exc}", field="body") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"decompressed body exceeds the {limit} byte limit", field="body")
    return out


def decode_body(
    raw: bytes, content_type: str | None, content_encoding: str | None, limits: CollectConfig
) -> DecodedBody:
    if len(raw) > limits.max_request_bytes:
        raise PayloadTooLarge(f"request body exceeds the {limits.max_request_bytes} byte limit", field="body")
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        raw = gunzip(raw, limits.max_request_bytes)
    elif encoding not in ("", "identity"):
        raise UnsupportedMediaType(f"unsupported Content-Encoding {encoding!r}; use gzip or none")
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime in NDJSON_TYPES:
        body = _decode_ndjson(raw, limits)
    elif mime in JSON_TYPES:
        body = _decode_json(raw, limits)
    else:
        raise UnsupportedMediaType(
            f"unsupported Content-Type {mime!r}; send application/json or application/x-ndjson",
            field="content-type",
        )
    if not body.items:
        raise BadRequest("body holds no events", field="body")
    if len(body.items) > limits.max_batch_events:
        raise PayloadTooLarge(
            f"{len(body.items)} events in one request; the limit is {limits.max_batch_events}", field="body"
        )
    if len(body.items) == 1 and body.oversize:
        raise PayloadTooLarge(
            f"event is {body.oversize[0]} bytes; the limit is {limits.max_event_bytes}", field="body"
        )
    return body


def _decode_json(raw: bytes, limits: CollectConfig) -> DecodedBody:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        # NDJSON sent as application/json is common; accept it when every line parses.
        if b"\n" in raw.strip():
            try:
                return _decode_ndjson(raw, limits)
            except BadRequest:
                pass
        raise BadRequest(f"body is not valid JSON: {exc}", field="body") from exc
    sent_at = None
    if isinstance(value, dict) and isinstance(value.get("batch"), list):
        sent_at = value.get("sent_at", value.get("sentAt"))
        value = value["batch"]
    items = value if isinstance(value, list) else [value]
    oversize: dict[int, int] = {}
    if len(raw) > limits.max_event_bytes:
        for i, item in enumerate(items):
            size = len(orjson.dumps(item))
            if size > limits.max_event_bytes:
                oversize[i] = size
    return DecodedBody(items=items, sent_at=sent_at, oversize=oversize)


def _decode_ndjson(raw: bytes, limits: CollectConfig) -> DecodedBody:
    items: list[Any] = []
    oversize: dict[int, int] = {}
    for lineno, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"line {lineno} is not valid JSON: {exc}", field="body") from exc
        if len(line) > limits.max_event_bytes:
            oversize[len(items) - 1] = len(line)
    return DecodedBody(items=items, oversize=oversize)


__all__ = ["DecodedBody", "decode_body", "gunzip"]
