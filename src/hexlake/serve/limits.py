"""A body-size cap on every route, counted as the body streams in.

``Content-Length`` is only a claim: a client can lie or send ``Transfer-Encoding: chunked``. The
middleware refuses a declared size over the cap at once (413, body unread) and otherwise counts the
bytes as the app reads them; past the cap the read raises ``PayloadTooLarge`` and whatever the app
was about to answer is replaced by the 413, so no route ever buffers more than its cap.

Caps: ``/v1/uploads/{id}/chunks/{n}`` → ``importers.upload_chunk_max_bytes``; the collectors (native,
Segment, PostHog) → ``collect.max_request_bytes``; ``/v1/admin/*`` → ``serve.max_admin_body_bytes`` when
the request carries the server's admin token (the CLI; anyone else gets the default cap there, so no
unauthenticated client can make the server buffer that much);
everything else → ``serve.max_body_bytes``.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from hexlake.config import Settings
from hexlake.errors import PayloadTooLarge

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


class BodyTooLarge(PayloadTooLarge):
    """Raised from ``receive`` once a body passes its route's cap."""


def cap_for(settings: Settings, ingest_paths: frozenset[str]) -> Callable[[str], int]:
    """The body cap of a request path."""
    serve = settings.serve
    ingest = max(settings.collect.max_request_bytes, settings.collect.segment_max_batch_bytes)
    chunk = settings.importers.upload_chunk_max_bytes + 64 * 1024  # headroom: the route reports exact sizes

    def cap(path: str) -> int:
        if path.startswith("/v1/uploads/") and "/chunks/" in path:
            return chunk
        if path in ingest_paths:
            return ingest
        if path.startswith("/v1/admin/"):
            return serve.max_admin_body_bytes
        return serve.max_body_bytes

    return cap


def _too_large_response(cap: int) -> tuple[dict[str, Any], dict[str, Any]]:
    body = orjson.dumps(PayloadTooLarge(f"request body exceeds this route's {cap} byte limit", field="body").to_body())
    start = {"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close")]}
    return start, {"type": "http.response.body", "body": body}


class BodyLimitMiddleware:
    """Pure ASGI middleware (no buffering of its own): see the module docstring."""

    def __init__(self, app: Any, cap: Callable[[str], int], trusted: Callable[[bytes], bool] = lambda _: False,
                 default_cap: int = 1024 * 1024):
        self.app = app
        self.cap = cap
        self.trusted = trusted  # does this Authorization header hold the server's admin token?
        self.default_cap = default_cap

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        cap = self.cap(path)
        if path.startswith("/v1/admin/") and not self.trusted(_header(scope, b"authorization") or b""):
            cap = min(cap, self.default_cap)
        declared = _content_length(scope)
        if declared is not None and declared > cap:
            for message in _too_large_response(cap):
                await send(message)
            return
        state = {"received": 0, "exceeded": False, "started": False}

        async def limited_receive() -> Any:
            if state["exceeded"]:
                raise BodyTooLarge(f"request body exceeds this route's {cap} byte limit", field="body")
            message = await receive()
            if message.get("type") == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > cap:
                    state["exceeded"] = True
                    raise BodyTooLarge(f"request body exceeds this route's {cap} byte limit", field="body")
            return message

        async def guarded_send(message: dict[str, Any]) -> None:
            if state["exceeded"]:  # whatever the app answers after the overflow becomes the 413
                if not state["started"]:
                    state["started"] = True
                    for m in _too_large_response(cap):
                        await send(m)
                return
            if message.get("type") == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            if not state["started"]:
                for m in _too_large_response(cap):
                    await send(m)


def _header(scope: Scope, wanted: bytes) -> bytes | None:
    for name, value in scope.get("headers", ()):
        if name == wanted:
            return bytes(value)
    return None


def _content_length(scope: Scope) -> int | None:
    value = _header(scope, b"content-length")
    return int(value) if value is not None and value.isdigit() else None


def _admin_token_check(app: Any) -> Callable[[bytes], bool]:
    def trusted(authorization: bytes) -> bool:
        token: str | None = getattr(app.state, "admin_token", None)
        return token is not None and hmac.compare_digest(authorization, b"Bearer " + token.encode())

    return trusted


def ingest_paths(app: Any) -> frozenset[str]:
    """Paths served by the collectors (``hexlake.collect.*`` endpoints): they have their own, larger cap."""
    routes = _routes(getattr(app, "routes", ()))
    return frozenset(path for path, module in routes if module.startswith("hexlake.collect."))


def _routes(routes: Any) -> Iterator[tuple[str, str]]:
    """``(path, endpoint module)`` of every route, looking inside included routers (FastAPI keeps them lazy)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes)
        elif hasattr(route, "path"):
            yield route.path, getattr(getattr(route, "endpoint", None), "__module__", "") or ""


def install_body_limit(app: Any, settings: Settings) -> None:
    """Cap every route's body (call after the routers are included)."""
    app.add_middleware(BodyLimitMiddleware, cap=cap_for(settings, ingest_paths(app)),
                       trusted=_admin_token_check(app), default_cap=settings.serve.max_body_bytes)


__all__ = ["BodyLimitMiddleware", "BodyTooLarge", "cap_for", "install_body_limit"]
