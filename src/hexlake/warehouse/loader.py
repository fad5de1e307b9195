"""The raw loader: EventLog → ``raw_events``, idempotent on ``event_id``, at-least-once acks.

One micro-batch: lease up to ``loader_batch`` messages; decode them column-wise into an Arrow table
(``frames.fast_table``); keep the first row of every event_id that ``raw_events`` does not hold yet
(``SeenIds`` hash pre-filter, hits confirmed against the table); insert the rest with ONE
``INSERT … SELECT * FROM arrow``. Only after that statement committed are the messages acked, so a
crash in between means redelivery, which the id check makes harmless.

If the fast path refuses the batch, each payload is decoded with ``decode_event``: undecodable
ones are dead-lettered at once with the error (decoding again cannot help) and the rest are
loaded, so one poison message never blocks the stream. A batch that fails as a whole is settled
by ``hexlake.log.failures``: retried later if the error is transient, split message by message
if it is terminal.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from hexlake.errors import WarehouseError
from hexlake.log.failures import settle_failed_batch
from hexlake.log.protocol import EventLog, LogMessage
from hexlake.warehouse import intervals
from hexlake.warehouse.backends.duckdb import DuckDBWarehouse
from hexlake.warehouse.config import WarehouseConfig
from hexlake.warehouse.frames import RAW_SCHEMA, FastPathRefused, fast_table, slow_table
from hexlake.warehouse.protocol import Warehouse
from hexlake.warehouse.seen import SeenIds, seen_ids

log = logging.getLogger(__name__)


@dataclass
class LoadProgress:
    """Running totals of one ``run_once`` call, passed to the progress callback after each batch."""

    batches: int = 0
    messages: int = 0
    inserted: int = 0
    poisoned: int = 0


class LoaderBase:
    """Moves events from one consumer group of the log into ``raw_events``; engines give ``load_batch``."""

    def __init__(self, log: EventLog, warehouse: Warehouse, config: WarehouseConfig | None = None,
                 group: str = "raw_loader", *, consumer: str = "raw_loader-1",
                 clock: Callable[[], float] = time.time,
                 on_progress: Callable[[LoadProgress], None] | None = None):
        self.log = log
        self.warehouse = warehouse
        self.config = config or WarehouseConfig.model_validate({})
        self.group = group
        self.consumer = consumer
        self._clock = clock
        self._on_progress = on_progress
        warehouse.ensure_raw_tables()
        log.create_group(group, from_start=True)

    def run_once(self, max_batches: int | None = None) -> int:
        """Load until the log is drained (or ``max_batches``); return the rows inserted."""
        progress = LoadProgress()
        for _ in itertools.count() if max_batches is None else range(max_batches):
            messages = self.log.read(self.group, self.consumer, self.config.loader_batch)
            if not messages:
                break
            inserted, poisoned = self.load_leased(messages)
            progress.batches += 1
            progress.messages += len(messages)
            progress.inserted += inserted
            progress.poisoned += poisoned
            if self._on_progress:
                self._on_progress(progress)
        return progress.inserted

    def load_batch(self, messages: Sequence[LogMessage]) -> tuple[int, int]:
        """Insert one leased batch and ack it; return (rows inserted, poison messages dead-lettered)."""
        raise NotImplementedError

    def load_leased(self, messages: Sequence[LogMessage]) -> tuple[int, int]:
        """``load_batch`` with the failure rule of every consumer: a transient error nacks the batch
        and re-raises; a terminal one dead-letters only the messages that cause it."""
        try:
            return self.load_batch(messages)
        except Exception as exc:
            done = [0]

            def one(message: LogMessage) -> None:
                done[0] += self.load_batch([message])[0]

            buried = settle_failed_batch(self.log, self.group, messages, exc, one)
            return done[0], buried

    def bury_poison(self, bad: Sequence[tuple[LogMessage, str]]) -> None:
        """Dead-letter undecodable messages at once: decoding them again cannot succeed."""
        for message, error in bad:
            self.log.nack(self.group, [message.offset], f"undecodable event payload: {error}", retry=False)
        if bad:
            log.warning("raw loader: %d undecodable messages dead-lettered (first: %s)", len(bad), bad[0][1])


class RawLoader(LoaderBase):
    """The DuckDB loader: Arrow batches, deduplicated against ``SeenIds`` (see the module doc)."""

    def __init__(self, log: EventLog, warehouse: DuckDBWarehouse, config: WarehouseConfig | None = None,
                 group: str = "raw_loader", **kwargs: Any):
        super().__init__(log, warehouse, config, group, **kwargs)
        self.duck = warehouse
        self._staged = f"hexlake_staged_{id(self):x}"
        self._columns = ", ".join(RAW_SCHEMA.names)

    def load_batch(self, messages: Sequence[LogMessage]) -> tuple[int, int]:
        now = datetime.fromtimestamp(self._clock(), UTC).replace(tzinfo=None)
        try:
            table = fast_table(messages, now)
            inserted = self.insert_table(table)
            good: Sequence[LogMessage] = messages
            bad: list[tuple[LogMessage, str]] = []
        except (FastPathRefused, duckdb.Error) as exc:
            log.debug("raw loader: batch takes the per-message path: %s", exc)
            table, good, bad = slow_table(messages, now)
            self.bury_poison(bad)
            try:
                inserted = self.insert_table(table) if good else 0
            except duckdb.Error as exc2:
                raise WarehouseError(f"loading {len(good)} events into raw_events failed: {exc2}; "
                                     "they stay in the log and are retried") from exc2
        # Before the ack, duplicates included: a redelivered batch records its days again.
        intervals.record(self.warehouse, table)
        self.log.ack(self.group, [m.offset for m in good])
        return inserted, len(bad)

    def insert_table(self, table: pa.Table) -> int:
        """Insert rows (``RAW_SCHEMA``) whose event_id is not stored yet; return how many."""
        cur = self.duck.cursor()
        seen = seen_ids(self.duck)
        with seen.lock:
            hashes = _hashes(cur, self._staged, table)
            keep = _not_stored(cur, seen, table, hashes)
            if not keep.any():
                return 0
            cur.register(self._staged, table if keep.all() else table.filter(pa.array(keep)))
            try:
                cur.execute(f"INSERT INTO raw_events ({self._columns}) "
                            f"SELECT {self._columns} FROM {self._staged}")
            finally:
                cur.unregister(self._staged)
            seen.add(hashes[keep])
        return int(keep.sum())


def _not_stored(cur: duckdb.DuckDBPyConnection, seen: SeenIds, table: pa.Table,
                hashes: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
    """Mask of rows to insert: the first of each event_id, not already in raw_events.

    Both checks work on hashes and confirm hits with the ids themselves, so a hash collision never
    drops an event.
    """
    keep = _first_of_each_id(hashes, table)
    maybe = seen.maybe_contains(hashes) & keep
    if maybe.any():
        ids = table.column("event_id").to_pylist()
        candidates = sorted({ids[i] for i in np.flatnonzero(maybe)})
        rows = cur.execute("SELECT DISTINCT event_id FROM raw_events WHERE event_id IN (SELECT unnest(?))",
                           [candidates]).fetchall()
        stored = {r[0] for r in rows}
        for i in np.flatnonzero(maybe):
            keep[i] = ids[i] not in stored
    return keep


def _first_of_each_id(hashes: npt.NDArray[np.uint64], table: pa.Table) -> npt.NDArray[np.bool_]:
    """True for the first row of every event_id in the batch (rows are in log order)."""
    keep = np.ones(len(hashes), dtype=bool)
    ordered = np.sort(hashes)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if len(repeated):  # a hash seen twice: decide by the ids themselves, in row order
        ids = table.column("event_id").to_pylist()
        taken: set[str] = set()
        for i in np.flatnonzero(np.isin(hashes, repeated, kind="sort")):
            keep[i] = ids[i] not in taken
            taken.add(ids[i])
    return keep


def _hashes(cur: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> npt.NDArray[np.uint64]:
    """DuckDB's ``hash(event_id)`` per row, in row order (the hash ``SeenIds`` stores)."""
    cur.register(name, table.select(["event_id"]))
    try:
        column = cur.execute(f"SELECT hash(event_id) AS h FROM {name}").fetchnumpy()["h"]
    finally:
        cur.unregister(name)
    return np.asarray(column, dtype=np.uint64)


__all__ = ["LoadProgress", "LoaderBase", "RawLoader"]
