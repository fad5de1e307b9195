"""FastAPI dependencies that authenticate a key and check its scope.

Keys come as ``Authorization: Bearer KEY`` or Basic auth with the key as the username. Each
dependency resolves the key to a ``Principal`` (see ``hexlake.serve.principal``), stores it on
``request.state.principal``, checks its kind and scope, and spends a token of its rate bucket:

* ``require_write_key``        a source's write key (ingest bucket) → ``SourceInfo``
* ``require_manage(what)``     an admin, or a write key created with ``--apis what`` (places, geofences)
* ``require_read(api)``        a read key allowed ``api``, an admin, or (``subject_param``) the subject
                               token of the person named in the path (read bucket) → ``Principal``
* ``require_admin``            an admin key or the server's admin token → ``Principal``
* ``require_subject_or_admin`` an admin, or the subject token of the path's ``user_id`` → ``Principal``
* ``require_source_or_admin``  a write key (its own source's uploads/imports) or an admin → ``Principal``

The server's admin token (``server.json``, mode 0600) is an admin principal, so the local CLI can reach
a running server without a key of its own. They are async so FastAPI runs them on the event loop: lookups
are memoised in a bounded LRU (see ``KeyStore``), so they rarely touch SQLite.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request

from hexlake.collect.sources import get_keystore
from hexlake.errors import Forbidden, Unauthorized
from hexlake.gate.envelope import SourceInfo
from hexlake.runtime import Runtime
from hexlake.serve.deps import runtime_of
from hexlake.serve.principal import ADMIN_TOKEN_PRINCIPAL, Principal
from hexlake.serve.ratelimit import get_limiter


def key_from_header(value: str | None) -> str | None:
    """The key in an ``Authorization`` header (Bearer, or Basic with the key as username)."""
    if not value:
        return None
    scheme, _, rest = value.strip().partition(" ")
    rest = rest.strip()
    if scheme.lower() == "bearer" and rest:
        return rest
    if scheme.lower() == "basic" and rest:
        try:
            decoded = base64.b64decode(rest, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[0] or None
    return None


def is_admin_token(request: Request, key: str) -> bool:
    token: str | None = getattr(request.app.state, "admin_token", None)
    return token is not None and hmac.compare_digest(token.encode(), key.encode("utf-8", "surrogatepass"))


def authenticate(request: Request, *, what: str = "key") -> Principal:
    """The request's principal (also stored on ``request.state.principal``), or ``Unauthorized``."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    key = key_from_header(request.headers.get("authorization"))
    if key is None:
        raise Unauthorized(f"missing {what}: send 'Authorization: Bearer <{what}>'")
    source: SourceInfo | None = None
    if is_admin_token(request, key):
        principal = ADMIN_TOKEN_PRINCIPAL
    else:
        principal, source = get_keystore(runtime_of(request)).resolve_full(key)
    request.state.principal = principal
    request.state.source = source
    return principal


def _take(request: Request, principal: Principal, bucket: str) -> None:
    get_limiter(runtime_of(request)).take(principal, bucket)


async def require_write_key(request: Request) -> SourceInfo:
    """A source's write key → its ``SourceInfo`` (ingest rate limit); 401/403 otherwise."""
    principal = authenticate(request, what="write key")
    if principal.kind != "write":
        raise Forbidden(f"a {principal.kind} key cannot send events; use the source's write key")
    source: SourceInfo = request.state.source
    _take(request, principal, "ingest")
    return source


def require_manage(what: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency: an admin, or a write key created with ``--apis`` naming ``what`` (places, geofences).
    A plain write key ships inside apps: anyone could take it out and rename or delete every place."""

    async def dependency(request: Request) -> Principal:
        principal = authenticate(request, what="write key")
        if not principal.can_manage(what):
            hint = (f"create one with `hexlake keys create --kind write --source {principal.source} --apis {what}`"
                    if principal.kind == "write" else "use an admin key or a write key allowed to")
            raise Forbidden(f"this {principal.kind} key may not change {what}; {hint}")
        if principal.kind == "write":
            _take(request, principal, "ingest")
        return principal

    dependency.__name__ = f"require_manage_{what}"
    return dependency


def require_read(api: str, *, subject_param: str | None = None) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency: read keys allowed ``api``, admins, and (with ``subject_param``) the subject token of
    the person whose user id is that path parameter."""

    async def dependency(request: Request) -> Principal:
        principal = authenticate(request, what="read key")
        if principal.kind == "subject" and subject_param is not None and principal.can_api(api):
            _check_subject(request, principal, request.path_params.get(subject_param))
        elif not principal.can_api(api) or principal.kind == "subject":
            raise Forbidden(_refusal(principal, api))
        _take(request, principal, "read")
        return principal

    dependency.__name__ = f"require_read_{api}"
    return dependency


async def require_admin(request: Request) -> Principal:
    """An admin key or the server's admin token; 401 without a key, 403 with any other kind."""
    principal = authenticate(request, what="admin key")
    if not principal.is_admin:
        raise Forbidden(f"this route needs an admin key; a {principal.kind} key cannot call it")
    return principal


async def require_subject_or_admin(request: Request) -> Principal:
    """An admin, or the subject token of the person named by the path's ``user_id``."""
    principal = authenticate(request, what="subject token")
    if principal.is_admin:
        return principal
    if principal.kind != "subject":
        raise Forbidden(f"this route needs the person's subject token or an admin key, not a {principal.kind} key")
    _check_subject(request, principal, request.path_params.get("user_id"))
    _take(request, principal, "read")
    return principal


async def require_source_or_admin(request: Request) -> Principal:
    """A write key (for its own source's uploads and imports) or an admin."""
    principal = authenticate(request, what="write key")
    if principal.kind not in ("write", "admin"):
        raise Forbidden(f"a {principal.kind} key cannot manage uploads or imports; use the source's write key")
    _take(request, principal, "ingest")
    return principal


def subject_matches(request: Request, principal: Principal, user_id: Any) -> bool:
    """Does ``principal`` (a subject token) belong to the person ``user_id``? Compared as HMACs."""
    if principal.subject is None or user_id is None:
        return False
    return hmac.compare_digest(principal.subject, _hasher(runtime_of(request)).user_key(str(user_id)))


def _check_subject(request: Request, principal: Principal, user_id: Any) -> None:
    if not subject_matches(request, principal, user_id):
        raise Forbidden("a subject token reads only its own person's data")


def _refusal(principal: Principal, api: str) -> str:
    if principal.kind == "read":
        allowed = ", ".join(sorted(principal.apis or ()))
        return f"this read key may not call the {api!r} API (it may call: {allowed})"
    if principal.kind == "subject":
        return "a subject token reads only its own person's data, not this API"
    return f"a {principal.kind} key cannot read; use a read key"


def _hasher(runtime: Runtime) -> Any:
    from hexlake.privacy.hashing import Hasher
    from hexlake.privacy.secret import load_secret

    return runtime.resource("auth.hasher", lambda rt: Hasher(load_secret(rt.paths.secret), memo_size=10_000))


__all__ = [
    "authenticate", "is_admin_token", "key_from_header", "require_admin", "require_manage", "require_read",
    "require_source_or_admin", "require_subject_or_admin", "require_write_key", "subject_matches",
]
