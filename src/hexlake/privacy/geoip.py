"""Offline IP → country, for sources that enable ``geoip``: the IP itself is never stored.

Uses the data file shipped inside the ``geoip2fast`` package (no download, no network). Loaded once,
on first use, so sources without ``geoip`` pay nothing.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

_lock = threading.Lock()
_db: Any = None


def _lookup_db() -> Any:
    global _db
    with _lock:
        if _db is None:
            from geoip2fast import GeoIP2Fast

            _db = GeoIP2Fast(verbose=False)
    return _db


@lru_cache(maxsize=65_536)
def ip_country(ip: Any) -> str | None:
    """ISO country code of a public IPv4/IPv6 address, or None (private, malformed, unknown)."""
    if not isinstance(ip, str) or not 2 < len(ip) < 46:
        return None
    try:
        code = _lookup_db().lookup(ip).country_code
    except Exception:  # the library raises assorted errors on malformed input
        return None
    return code if isinstance(code, str) and len(code) == 2 and code.isalpha() else None


__all__ = ["ip_country"]
