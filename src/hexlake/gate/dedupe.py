"""A bounded memory of recent event ids: retries of a batch are answered as duplicates.

Why not a UNIQUE index in the log: a B-tree on random client ids makes SQLite appends degrade from
41k to 13k rows/s as the table grows (DESIGN.md). The window catches the common case (a client
retrying within minutes); anything older that slips through is absorbed by the raw loader, which is
idempotent on ``event_id``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence


class DedupeWindow:
    """The newest ``capacity`` event ids, oldest evicted first. Thread-safe."""

    def __init__(self, capacity: int):
        if capacity < 0:
            raise ValueError("capacity must be >= 0")
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def reserve(self, ids: Sequence[str]) -> list[bool]:
        """Remember ``ids``; ``True`` for each new one, ``False`` for a duplicate (also within ``ids``)."""
        out = []
        with self._lock:
            seen = self._ids
            for event_id in ids:
                if event_id in seen:
                    out.append(False)
                    continue
                seen[event_id] = None
                out.append(True)
            self._evict()
        return out

    def release(self, ids: Iterable[str]) -> None:
        """Forget ``ids`` (their append failed, so a retry must not be called a duplicate)."""
        with self._lock:
            for event_id in ids:
                self._ids.pop(event_id, None)

    def seed(self, ids: Iterable[str]) -> None:
        """Remember ids already stored (the log's tail, oldest first) at start-up."""
        with self._lock:
            for event_id in ids:
                self._ids[event_id] = None
                self._ids.move_to_end(event_id)
            self._evict()

    def _evict(self) -> None:
        excess = len(self._ids) - self.capacity
        for _ in range(max(0, excess)):
            self._ids.popitem(last=False)


__all__ = ["DedupeWindow"]
