"""Request bodies of the drop-in endpoints → JSON values: gzip, PostHog's ``data=`` form, limits.

Pure (bytes and header values in). gzip is detected by header, by PostHog's ``compression``
parameter or by its magic bytes; decompression stops at ``max_bytes`` so a small zip bomb cannot
inflate past the request limit.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from typing import Any
from urllib.parse import parse_qs

import orjson

from hexlake.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

_GZIP_MAGIC = b"\x1f\x8b"


def gunzip(data: bytes, max_bytes: int) -> bytes:
    """Inflate a gzip (or zlib) stream; ``PayloadTooLarge`` beyond ``max_bytes`` decoded bytes."""
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # 32: auto-detect gzip or zlib header
    try:
        out = inflater.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise BadRequest(f"body is not valid gzip: {exc}", field="body") from exc
    if len(out) > max_bytes:
        raise PayloadTooLarge(f"decoded body is larger than the {max_bytes} byte limit", field="body")
    return out


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


def decode_body(
    raw: bytes,
    *,
    max_bytes: int,
    content_encoding: str | None = None,
    content_type: str | None = None,
    compression: str | None = None,
) -> Any:
    """The JSON value of a request body (after gzip/base64 decoding), or a 400/413/415 error."""
    if content_type and content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        raw, form_compression = _form_data(raw, max_bytes)
        compression = compression or form_compression
    compression = (compression or "").lower()
    if compression == "lz64":
        raise UnsupportedMediaType(
            "lz64 compression is not supported; use gzip-js or base64", field="compression"
        )
    encoding = (content_encoding or "").lower()
    if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported; use gzip", field="body")
    if encoding in ("gzip", "x-gzip", "deflate") or "gzip" in compression or raw.startswith(_GZIP_MAGIC):
        raw = gunzip(raw, max_bytes)
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"body is larger than the {max_bytes} byte limit", field="body")
    if not raw.strip():
        raise BadRequest("body is empty; send a JSON object", field="body")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"invalid JSON: {exc}", field="body") from exc


__all__ = ["decode_body", "gunzip"]
