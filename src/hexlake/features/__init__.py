"""Online features: the ``OnlineStore`` protocol and its embedded backends.

``open_online_store(url)`` picks a backend by URL (``sqlite:///path`` or ``memory://``);
``get_online_store(runtime)`` is the process-wide store of a server/CLI runtime.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from hexlake.errors import ConfigError
from hexlake.features.backends.memory import MemoryOnlineStore
from hexlake.features.backends.sqlite import SqliteOnlineStore
from hexlake.features.protocol import FeatureRow, OnlineStore, user_entity
from hexlake.runtime import Runtime

if TYPE_CHECKING:
    from hexlake.features.backends.redis import RedisCounterStore


def open_online_store(url: str, clock: Callable[[], float] = time.time) -> OnlineStore:
    """Open the online store named by ``url`` (``sqlite:///file`` or ``memory://``)."""
    if url.startswith("sqlite:///"):
        return SqliteOnlineStore(url.removeprefix("sqlite:///"), clock=clock)
    if url.startswith("memory://"):
        return MemoryOnlineStore(clock=clock)
    if url.startswith(("redis://", "rediss://")):
        from hexlake.features.backends.redis import RedisOnlineStore

        return RedisOnlineStore(url, clock=clock)
    raise ConfigError(
        f"online_url {url!r} is not supported; use sqlite:///path (default) or memory://",
        field="online_url",
    )


def open_redis_counters(url: str, namespace: str) -> RedisCounterStore:
    """Realtime counters kept in the online store's Redis (the stream stage's ``CounterStore``)."""
    from hexlake.features.backends.redis import RedisCounterStore

    return RedisCounterStore(url, namespace=namespace)


def get_online_store(runtime: Runtime) -> OnlineStore:
    """The runtime's online store, opened on first use and closed with the runtime."""
    return runtime.resource(
        "features.online_store", lambda rt: open_online_store(rt.settings.resolved_online_url())
    )


__all__ = [
    "FeatureRow",
    "MemoryOnlineStore",
    "OnlineStore",
    "SqliteOnlineStore",
    "get_online_store",
    "open_online_store",
    "open_redis_counters",
    "user_entity",
]
