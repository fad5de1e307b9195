"""Per-key token buckets: one for ingest, one for reads (``429`` with ``Retry-After`` when empty).

A key's own rate (``keys create --rate 100/s``) wins over the defaults ``serve.ingest_rate`` and
``serve.read_rate``. Buckets live in process memory, in a bounded LRU: a key whose bucket was evicted
starts again full, which only ever errs towards letting a request through. The server's admin token
is never limited (the local CLI must always get through).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from hexlake.errors import TooManyRequests
from hexlake.runtime import Runtime
from hexlake.serve.principal import Principal, Rate, parse_rate

_MAX_BUCKETS = 100_000


class RateLimiter:
    """Token buckets keyed by ``(key id, bucket)``; ``take`` spends one token or raises 429."""

    def __init__(self, ingest: Rate | None, read: Rate | None, *, clock: object = time.monotonic):
        self._defaults = {"ingest": ingest, "read": read}
        self._clock = clock
        self._buckets: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()
        self._rates: dict[str, Rate | None] = {}
        self._lock = threading.Lock()

    def take(self, principal: Principal, bucket: str) -> None:
        """Spend one token of ``principal``'s ``bucket`` ("ingest" or "read"), or raise ``TooManyRequests``."""
        if principal.key_id == "server-admin-token":
            return
        rate = self._rate(principal, bucket)
        if rate is None:
            return
        now = self._clock()  # type: ignore[operator]
        k = (principal.key_id, bucket)
        with self._lock:
            tokens, at = self._buckets.pop(k, (rate.burst, now))
            tokens = min(rate.burst, tokens + (now - at) * rate.per_second)
            if tokens < 1.0:
                self._store(k, tokens, now)
                wait = (1.0 - tokens) / rate.per_second
                raise TooManyRequests(
                    f"rate limit of key {principal.key_id} ({rate} for {bucket}) reached; retry in {wait:.2f} s",
                    retry_after=wait,
                )
            self._store(k, tokens - 1.0, now)

    def _store(self, k: tuple[str, str], tokens: float, now: float) -> None:
        self._buckets[k] = (tokens, now)
        if len(self._buckets) > _MAX_BUCKETS:
            self._buckets.popitem(last=False)

    def _rate(self, principal: Principal, bucket: str) -> Rate | None:
        if principal.rate is None:
            return self._defaults.get(bucket)
        if principal.rate not in self._rates:
            self._rates[principal.rate] = parse_rate(principal.rate)
        return self._rates[principal.rate]


def get_limiter(runtime: Runtime) -> RateLimiter:
    serve = runtime.settings.serve
    return runtime.resource("ratelimiter", lambda rt: RateLimiter(
        parse_rate(serve.ingest_rate, field="serve.ingest_rate"), parse_rate(serve.read_rate, field="serve.read_rate")))


__all__ = ["RateLimiter", "get_limiter"]
