"""Seed 001's multi-level cache for recommendation lists.

L1: in-process, TTL + LRU (``OrderedDict``; a hit costs a dict lookup). L2: Redis when configured
(shared by every server process; values are orjson, with the same TTL). Keys start with the user
key, so one person's entries can be dropped (``invalidate_user``) when their features change or
they are erased; a model change clears L1 and moves L2 to a new key generation.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

import orjson


class RecommendationCache:
    def __init__(
        self, *, ttl_s: float = 60.0, max_entries: int = 10_000, redis: Any = None, prefix: str = "hexlake:ml:rec:"
    ) -> None:
        self.ttl_s, self.max_entries, self.redis, self.prefix = ttl_s, max_entries, redis, prefix
        self._l1: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.stats = {"l1_hits": 0, "l2_hits": 0, "misses": 0}

    def get(self, key: str) -> Any | None:
        """The value from L1, else from L2 (kept in L1 then), else None."""
        value = self.get_local(key)
        if value is not None:
            return value
        if self.redis is not None:
            raw = self.redis.get(self.prefix + key)
            if raw is not None:
                value = orjson.loads(raw)
                self._put_l1(key, value, time.monotonic())
                self.stats["l2_hits"] += 1
                return value
        self.stats["misses"] += 1
        return None

    def get_local(self, key: str) -> Any | None:
        """The unexpired L1 value, or None: no I/O, so an event loop may call it."""
        with self._lock:
            item = self._l1.get(key)
            if item is not None and item[0] > time.monotonic():
                self._l1.move_to_end(key)
                self.stats["l1_hits"] += 1
                return item[1]
            if item is not None:
                del self._l1[key]
        return None

    def put(self, key: str, value: Any) -> None:
        self._put_l1(key, value, time.monotonic())
        if self.redis is not None:
            self.redis.set(self.prefix + key, orjson.dumps(value), px=int(self.ttl_s * 1000))

    def _put_l1(self, key: str, value: Any, now: float) -> None:
        with self._lock:
            self._l1[key] = (now + self.ttl_s, value)
            self._l1.move_to_end(key)
            while len(self._l1) > self.max_entries:
                self._l1.popitem(last=False)

    def invalidate_user(self, user_key: str) -> int:
        """Drop every entry of ``user_key`` (L1 and L2); returns how many were dropped."""
        mark = f"{user_key}|"
        with self._lock:
            gone = [k for k in self._l1 if k.startswith(mark)]
            for k in gone:
                del self._l1[k]
        n = len(gone)
        if self.redis is not None:
            keys = list(self.redis.scan_iter(match=f"{self.prefix}{user_key}|*", count=500))
            if keys:
                n += int(self.redis.delete(*keys))
        return n

    def count_user(self, user_key: str) -> int:
        mark = f"{user_key}|"
        with self._lock:
            n = sum(1 for k in self._l1 if k.startswith(mark))
        if self.redis is not None:
            n += sum(1 for _ in self.redis.scan_iter(match=f"{self.prefix}{user_key}|*", count=500))
        return n

    def clear(self) -> None:
        """Forget L1; L2 entries of the old model stop matching because keys carry the model generation."""
        with self._lock:
            self._l1.clear()

    def __len__(self) -> int:
        return len(self._l1)


__all__ = ["RecommendationCache"]
