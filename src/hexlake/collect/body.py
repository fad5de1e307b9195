"""Decode collector request bodies, enforcing the size limits: the one body decoder of ``collect``.

* ``decode_body`` (native ``/v1/events``): one JSON object, a JSON array of objects,
  ``{"batch": [...], "sent_at": ...}``, or NDJSON → a list of JSON values.
* ``decode_json`` (Segment / PostHog drop-in endpoints): the body's one JSON value, also from
  PostHog's ``data=<base64>`` form and its ``compression`` parameter.

Both undo compression with ``unwrap``: gzip/zlib by ``Content-Encoding``, by PostHog's
``compression`` or by the gzip magic bytes, never inflating past the request limit (zip bombs).
Pure (bytes and header values in); nothing here is stored: a body that fails to decode is a
400/413/415 and the request has no effect.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from typing import Any
from urllib.parse import parse_qs

import msgspec
import orjson

from hexlake.collect.config import CollectConfig
from hexlake.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

JSON_TYPES = {"application/json", "text/plain", ""}
NDJSON_TYPES = {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/json-lines"}
FORM_TYPE = "application/x-www-form-urlencoded"
_GZIP_MAGIC = b"\x1f\x8b"


class DecodedBody(msgspec.Struct):
    items: list[Any]
    sent_at: Any = None
    # Sizes of items known to exceed max_event_bytes, by index (checked only for large bodies).
    oversize: dict[int, int] = msgspec.field(default_factory=dict)


def gunzip(raw: bytes, limit: int) -> bytes:
    """Inflate gzip (or zlib) without ever holding more than ``limit`` bytes (defuses gzip bombs)."""
    inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 32)  # 32: gzip or zlib header, detected
    try:
        out = inflater.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise BadRequest(f"body is not valid gzip: {exc}", field="body") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"decompressed body exceeds the {limit} byte limit", field="body")
    return out


def unwrap(raw: bytes, *, max_bytes: int, content_encoding: str | None = None, content_type: str | None = None,
           compression: str | None = None) -> bytes:
    """The body's JSON bytes: form field ``data`` decoded, gzip inflated; 400/413/415 otherwise."""
    if _mime(content_type) == FORM_TYPE:
        raw, form_compression = _form_data(raw, max_bytes)
        compression = compression or form_compression
    compression = (compression or "").lower()
    if compression == "lz64":
        raise UnsupportedMediaType("lz64 compression is not supported; use gzip-js or base64", field="compression")
    encoding = (content_encoding or "").strip().lower()
    if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
        raise UnsupportedMediaType(f"unsupported Content-Encoding {encoding!r}; use gzip or none", field="body")
    if encoding in ("gzip", "x-gzip", "deflate") or "gzip" in compression or raw.startswith(_GZIP_MAGIC):
        raw = gunzip(raw, max_bytes)
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"body is larger than the {max_bytes} byte limit", field="body")
    return raw


def decode_json(raw: bytes, *, max_bytes: int, content_encoding: str | None = None,
                content_type: str | None = None, compression: str | None = None) -> Any:
    """The JSON value of a drop-in endpoint's body (after ``unwrap``), or a 400/413/415 error."""
    raw = unwrap(raw, max_bytes=max_bytes, content_encoding=content_encoding, content_type=content_type,
                 compression=compression)
    if not raw.strip():
        raise BadRequest("body is empty; send a JSON object", field="body")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"invalid JSON: {exc}", field="body") from exc


def _form_data(raw: bytes, max_bytes: int) -> tuple[bytes, str | None]:
    """PostHog's ``data=<base64 JSON>`` form body → (JSON bytes, form compression)."""
    form = parse_qs(raw.decode("latin-1"), keep_blank_values=True)
    data = form.get("data", [None])[0]
    if not data:
        raise BadRequest("form body needs a 'data' field (base64 JSON)", field="data")
    compression = form.get("compression", [None])[0]
    # Clients differ: url-safe alphabet, missing padding, '+' turned into ' ' by form decoding.
    text = data.strip().replace(" ", "+").replace("-", "+").replace("_", "/")
    try:
        decoded = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest("form field 'data' is not valid base64", field="data") from exc
    if len(decoded) > max_bytes and not decoded.startswith(_GZIP_MAGIC):
        raise PayloadTooLarge(f"decoded body is larger than the {max_bytes} byte limit", field="body")
    return decoded, compression


def _mime(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def decode_body(
    raw: bytes, content_type: str | None, content_encoding: str | None, limits: CollectConfig
) -> DecodedBody:
    """The events of a native request body (see the module doc), with per-event sizes checked."""
    if len(raw) > limits.max_request_bytes:
        raise PayloadTooLarge(f"request body exceeds the {limits.max_request_bytes} byte limit", field="body")
    mime = _mime(content_type)
    if mime not in NDJSON_TYPES and mime not in JSON_TYPES:
        raise UnsupportedMediaType(
            f"unsupported Content-Type {mime!r}; send application/json or application/x-ndjson",
            field="content-type",
        )
    raw = unwrap(raw, max_bytes=limits.max_request_bytes, content_encoding=content_encoding)
    body = _decode_ndjson(raw, limits) if mime in NDJSON_TYPES else _decode_json(raw, limits)
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


__all__ = ["DecodedBody", "decode_body", "decode_json", "gunzip", "unwrap"]
