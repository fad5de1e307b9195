"""One JSON error shape for every API error: ``{"error": {"type", "message", "field"?, "details"?}}``."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hexlake.errors import HexlakeError, error_body

log = logging.getLogger("hexlake.serve")


class FastJSONResponse(JSONResponse):
    """JSON rendered with orjson (datetimes, numpy scalars and UUIDs included)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=str, option=orjson.OPT_SERIALIZE_NUMPY)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HexlakeError)
    async def _hexlake(request: Request, exc: HexlakeError) -> FastJSONResponse:
        if exc.status >= 500:
            log.error("request failed", extra={"path": request.url.path, "error": exc.message})
        # e.g. TooManyRequests carries ``Retry-After``
        headers: dict[str, str] | None = getattr(exc, "headers", None)
        return FastJSONResponse(exc.to_body(), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> FastJSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body", "header")]
        field = ".".join(loc) or None
        message = f"{field}: {first.get('msg', 'invalid value')}" if field else str(first.get("msg"))
        kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if "body" in first.get("loc", ()) and kind and kind != "application/json":  # curl -d sends a form
            message += f" (the body was sent as {kind}; send JSON with Content-Type: application/json)"
            field = field or "body"
        details = [{"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg")} for e in errors]
        return FastJSONResponse(error_body("BadRequest", message, field, details), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> FastJSONResponse:
        names = {404: "NotFound", 405: "MethodNotAllowed"}
        return FastJSONResponse(
            error_body(names.get(exc.status_code, "HTTPError"), str(exc.detail)), status_code=exc.status_code
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> FastJSONResponse:
        log.exception("unexpected error", extra={"path": request.url.path})
        return FastJSONResponse(
            error_body("InternalError", "internal error; see the server log"), status_code=500
        )
