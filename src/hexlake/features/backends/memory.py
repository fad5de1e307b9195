"""In-memory online store: the fake for unit tests, same semantics as the SQLite one."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Sequence

from hexlake.features.protocol import FeatureRow


class MemoryOnlineStore:
    def __init__(self, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._data: dict[str, tuple[FeatureRow, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> FeatureRow | None:
        hit = self._data.get(key)
        if hit is None or hit[1] <= self._clock():
            return None
        return copy.deepcopy(hit[0])

    def get_many(self, keys: Sequence[str]) -> dict[str, FeatureRow]:
        out = {}
        for key in keys:
            value = self.get(key)
            if value is not None:
                out[key] = value
        return out

    def put_many(self, items: Sequence[tuple[str, FeatureRow]], ttl_s: float) -> None:
        expires = self._clock() + ttl_s
        with self._lock:
            for key, value in items:
                self._data[key] = (copy.deepcopy(value), expires)

    def delete(self, keys: Sequence[str]) -> int:
        with self._lock:
            return sum(self._data.pop(k, None) is not None for k in keys)

    def close(self) -> None:
        pass
