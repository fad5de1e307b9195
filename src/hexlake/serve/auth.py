"""FastAPI dependencies for the two kinds of keys.

* Write keys belong to a source and may only send events (``require_write_key``).
* Read keys may only read (``require_read_key``): marts, metrics, features, places...
Keys come as ``Authorization: Bearer KEY`` or Basic auth with the key as the username.
They are async so FastAPI runs them on the event loop, not a thread hop per request: lookups are
memoised (see ``KeyStore``), so they rarely touch SQLite.
The server's own admin token (in ``server.json``, mode 0600) is accepted as a read key, so the CLI
can reach a running server without a key of its own.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from fastapi import Request

from hexlake.collect.sources import get_keystore
from hexlake.errors import Forbidden, Unauthorized
from hexlake.gate.envelope import SourceInfo
from hexlake.runtime import Runtime


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


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def require_write_key(request: Request) -> SourceInfo:
    """Resolve the request's write key to its source, or raise ``Unauthorized`` (401)."""
    key = key_from_header(request.headers.get("authorization"))
    if key is None:
        raise Unauthorized("missing write key: send 'Authorization: Bearer <write key>'")
    if key.startswith("hxr_"):
        raise Forbidden("a read key cannot send events; use the source's write key")
    return get_keystore(_runtime(request)).resolve_write_key(key)


async def require_read_key(request: Request) -> None:
    """Check the request carries a valid read key (or the server's admin token), else 401."""
    key = key_from_header(request.headers.get("authorization"))
    if key is None:
        raise Unauthorized("missing read key: send 'Authorization: Bearer <read key>'")
    if is_admin_token(request, key):
        return
    if key.startswith("hxw_"):
        raise Forbidden("a write key cannot read; use a read key (hexlake init prints one)")
    get_keystore(_runtime(request)).check_read_key(key)


def is_admin_token(request: Request, key: str) -> bool:
    token: str | None = getattr(request.app.state, "admin_token", None)
    return token is not None and hmac.compare_digest(token, key)


async def require_admin(request: Request) -> None:
    """Only the local CLI (holding the server's admin token) may call admin routes."""
    key = key_from_header(request.headers.get("authorization"))
    if key is None or not is_admin_token(request, key):
        raise Unauthorized("admin routes need the server's admin token (from server.json)")
