"""FastAPI dependencies for the two kinds of keys.

* Write keys belong to a source and may only send events (``require_write_key``).
* Read keys may only read (``require_read_key``): marts, metrics, features, places...
Keys come as ``Authorization: Bearer KEY`` or Basic auth with the key as the username.
"""

from __future__ import annotations

from fastapi import Request

from hexlake.gate.envelope import SourceInfo


def require_write_key(request: Request) -> SourceInfo:
    """Resolve the request's write key to its source, or raise ``Unauthorized`` (401)."""
    raise NotImplementedError


def require_read_key(request: Request) -> None:
    """Check the request carries a valid read key, or raise ``Unauthorized`` (401)."""
    raise NotImplementedError
