"""A compact pre-filter of the event ids already in ``raw_events``.

The loader must never store an ``event_id`` twice. Asking DuckDB for every batch (an anti-join
against the whole ``event_id`` column) costs O(table) per batch: measured 2.4x slower than no check
at 3M rows, worse as the table grows, and a DuckDB ART unique index was slower still (bench/log.py).
Instead the loader keeps the 64-bit ``hash(event_id)`` (DuckDB's hash, so the set can be rebuilt
from the table) of every stored id in sorted numpy arrays: 8 bytes per event, a batch check is a
binary search. A hash hit is only a *candidate*: the loader confirms candidates against the table,
so hash collisions and rows deleted since (GDPR erasure) never drop a new event.
"""

from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt

from hexlake.warehouse.backends.duckdb import DuckDBWarehouse

Hashes = npt.NDArray[np.uint64]

#: Merge the small per-batch arrays into the big one when there are this many.
MERGE_EVERY = 32


class SeenIds:
    """Sorted arrays of id hashes: one big, plus recent per-batch ones merged now and then."""

    def __init__(self, hashes: Hashes | None = None):
        self._base: Hashes = np.sort(hashes) if hashes is not None else np.empty(0, np.uint64)
        self._recent: list[Hashes] = []
        self.lock = threading.Lock()  # held by a loader across check → insert → add

    @classmethod
    def load(cls, warehouse: DuckDBWarehouse) -> SeenIds:
        """Build from the ids already in ``raw_events``."""
        column = warehouse.cursor().execute("SELECT hash(event_id) AS h FROM raw_events").fetchnumpy()["h"]
        return cls(np.asarray(column, dtype=np.uint64))

    def __len__(self) -> int:
        return len(self._base) + sum(len(r) for r in self._recent)

    def maybe_contains(self, hashes: Hashes) -> npt.NDArray[np.bool_]:
        """True where the hash was added before (the id is *probably* stored)."""
        found = np.zeros(len(hashes), dtype=bool)
        for arr in (self._base, *self._recent):
            if len(arr):
                pos = np.minimum(np.searchsorted(arr, hashes), len(arr) - 1)
                found |= arr[pos] == hashes
        return found

    def add(self, hashes: Hashes) -> None:
        # np.sort, not np.unique: numpy 2's hash-based unique took seconds on millions of ids, and
        # repeated values do not disturb the binary search.
        if len(hashes):
            self._recent.append(np.sort(hashes))
        if len(self._recent) >= MERGE_EVERY:
            self._base = np.sort(np.concatenate([self._base, *self._recent]))
            self._recent = []


_registry_lock = threading.Lock()


def seen_ids(warehouse: DuckDBWarehouse) -> SeenIds:
    """The one ``SeenIds`` of ``warehouse`` in this process (shared by every loader using it)."""
    with _registry_lock:
        found = warehouse.shared.get("seen_ids")
        if not isinstance(found, SeenIds):
            found = SeenIds.load(warehouse)
            warehouse.shared["seen_ids"] = found
        return found


__all__ = ["SeenIds", "seen_ids"]
