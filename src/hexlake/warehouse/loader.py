"""The raw loader: EventLog → ``raw_events``, idempotent on ``event_id``, at-least-once acks.

One micro-batch: lease up to ``loader_batch`` messages, drop the ids already stored (``SeenIds``
pre-filter, confirmed against the table), hand the payloads to DuckDB as one Arrow column, let
DuckDB parse them (``from_json``, C++ on all cores — about half the cost of decoding and rebuilding
columns in Python) and insert them in ONE statement (duplicates within the batch were dropped by the same id check).
Only after that statement committed are the messages acked, so a crash in between means
redelivery, which the id check makes harmless.

If DuckDB refuses the batch (a payload that is not an envelope), each payload is decoded with
``decode_event``: the undecodable ones are nacked with the error (they retry, then dead-letter)
and the rest are loaded, so one poison message never blocks the stream.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import msgspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from hexlake.errors import WarehouseError
from hexlake.gate.envelope import decode_event
from hexlake.log.protocol import EventLog, LogMessage
from hexlake.warehouse.config import WarehouseConfig
from hexlake.warehouse.duck import Warehouse
from hexlake.warehouse.schema import RAW_EVENTS_COLUMNS
from hexlake.warehouse.seen import SeenIds, seen_ids

log = logging.getLogger(__name__)

#: How DuckDB reads each envelope field (``hexlake.gate.envelope.Event``) from the payload JSON.
ENVELOPE_JSON_TYPES: dict[str, str] = {
    "event_id": "VARCHAR", "event_type": "VARCHAR", "schema_version": "INTEGER", "source": "VARCHAR",
    "ts": "TIMESTAMPTZ", "received_at": "TIMESTAMPTZ", "user_key": "VARCHAR",
    "anonymous_key": "VARCHAR", "session_id": "VARCHAR", "properties": "JSON", "context": "JSON",
    "lat": "DOUBLE", "lng": "DOUBLE", "accuracy_m": "DOUBLE", "h3_r6": "VARCHAR", "h3_r9": "VARCHAR",
    "h3_r12": "VARCHAR", "consent": "JSON", "retention": "VARCHAR",
}

_EXPRESSIONS: dict[str, str] = {
    **{name: f"j.{name}" for name in ENVELOPE_JSON_TYPES},
    # the log message's event_id is what the dedupe checked: a payload disagreeing is poison
    "event_id": "CASE WHEN j.event_id IS DISTINCT FROM s.event_id THEN error('payload event_id "
                "differs from the log message event_id ' || s.event_id) ELSE j.event_id END",
    "ts": "timezone('UTC', j.ts)",
    "received_at": "timezone('UTC', j.received_at)",
    "properties": "COALESCE(j.properties, '{}')",
    "context": "COALESCE(j.context, '{}')",
    "consent": "COALESCE(j.consent, '{}')",
    "log_offset": "s.log_offset",
    "load_date": "$load_date",
    "loaded_at": "$loaded_at",
}


def insert_sql(staged: str) -> str:
    """The statement loading a staged ``(log_offset, event_id, payload)`` table into raw_events."""
    names = [name for name, _ in RAW_EVENTS_COLUMNS]
    shape = json.dumps(ENVELOPE_JSON_TYPES).replace("'", "''")
    return (
        f"INSERT INTO raw_events ({', '.join(names)})\n"
        f"SELECT {', '.join(_EXPRESSIONS[n] for n in names)}\n"
        f"FROM (SELECT from_json(payload, '{shape}') AS j, log_offset, event_id FROM {staged}) AS s"
    )


@dataclass
class LoadProgress:
    """Running totals of one ``run_once`` call, passed to the progress callback after each batch."""

    batches: int = 0
    messages: int = 0
    inserted: int = 0
    poisoned: int = 0


class RawLoader:
    """Moves events from one consumer group of the log into ``raw_events``."""

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
        self._staged = f"hexlake_staged_{id(self):x}"
        self._sql = insert_sql(self._staged)
        warehouse.ensure_raw_tables()
        log.create_group(group, from_start=True)

    def run_once(self, max_batches: int | None = None) -> int:
        """Load until the log is drained (or ``max_batches``); return the rows inserted."""
        progress = LoadProgress()
        for _ in itertools.count() if max_batches is None else range(max_batches):
            messages = self.log.read(self.group, self.consumer, self.config.loader_batch)
            if not messages:
                break
            inserted, poisoned = self.load_batch(messages)
            progress.batches += 1
            progress.messages += len(messages)
            progress.inserted += inserted
            progress.poisoned += poisoned
            if self._on_progress:
                self._on_progress(progress)
        return progress.inserted

    def load_batch(self, messages: Sequence[LogMessage]) -> tuple[int, int]:
        """Insert one leased batch and ack it; return (rows inserted, poison messages nacked)."""
        try:
            inserted = self._insert(messages)
            good: Sequence[LogMessage] = messages
            poisoned = 0
        except (duckdb.Error, pa.ArrowInvalid) as exc:  # ArrowInvalid: payload is not UTF-8
            good, bad = _sort_out_poison(messages)
            if not bad:
                raise WarehouseError(f"loading {len(messages)} events into raw_events failed: {exc}") from exc
            for message, error in bad:
                self.log.nack(self.group, [message.offset], f"undecodable event payload: {error}")
            log.warning("raw loader: %d undecodable messages nacked (first: %s)", len(bad), bad[0][1])
            inserted, poisoned = (self._insert(good) if good else 0), len(bad)
        self.log.ack(self.group, [m.offset for m in good])
        return inserted, poisoned

    def _insert(self, messages: Sequence[LogMessage]) -> int:
        """Insert the messages whose event_id is not stored yet, in one DuckDB statement."""
        staged = pa.table({
            "log_offset": pa.array([m.offset for m in messages], pa.int64()),
            "event_id": pa.array([m.event_id for m in messages], pa.string()),
            "payload": pa.array([m.payload for m in messages], pa.binary()).cast(pa.string()),
        })
        now = datetime.fromtimestamp(self._clock(), UTC).replace(tzinfo=None)
        cur = self.warehouse.cursor()
        seen = seen_ids(self.warehouse)
        with seen.lock:
            hashes = _hashes(cur, self._staged, staged)
            keep = self._not_stored(cur, seen, staged, hashes)
            if not keep.any():
                return 0
            cur.register(self._staged, staged.filter(pa.array(keep)))
            try:
                row = cur.execute(self._sql, {"load_date": now.date(), "loaded_at": now}).fetchone()
            finally:
                cur.unregister(self._staged)
            seen.add(hashes[keep])
        return int(row[0]) if row else 0

    @staticmethod
    def _not_stored(cur: duckdb.DuckDBPyConnection, seen: SeenIds, staged: pa.Table,
                    hashes: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
        """Mask of staged rows to insert: the first of each event_id, not already in raw_events.

        Both checks work on the hashes and confirm hits with the ids themselves, so a hash collision
        never drops an event.
        """
        keep = _first_of_each_id(hashes, staged)
        maybe = seen.maybe_contains(hashes) & keep
        if maybe.any():
            ids = staged.column("event_id").to_pylist()
            candidates = sorted({ids[i] for i in np.flatnonzero(maybe)})
            rows = cur.execute("SELECT DISTINCT event_id FROM raw_events WHERE event_id IN (SELECT unnest(?))",
                               [candidates]).fetchall()
            stored = {r[0] for r in rows}
            for i in np.flatnonzero(maybe):
                keep[i] = ids[i] not in stored
        return keep


def _first_of_each_id(hashes: npt.NDArray[np.uint64], staged: pa.Table) -> npt.NDArray[np.bool_]:
    """True for the first row of every event_id in the batch (rows are in log order)."""
    unique, first, counts = np.unique(hashes, return_index=True, return_counts=True)
    keep = np.zeros(len(hashes), dtype=bool)
    keep[first] = True
    if (counts > 1).any():  # a hash seen twice: decide by the ids themselves, in row order
        ids = staged.column("event_id").to_pylist()
        repeated = np.flatnonzero(np.isin(hashes, unique[counts > 1]))
        taken: set[str] = set()
        for i in repeated:
            keep[i] = ids[i] not in taken
            taken.add(ids[i])
    return keep


def _hashes(cur: duckdb.DuckDBPyConnection, name: str, staged: pa.Table) -> npt.NDArray[np.uint64]:
    """DuckDB's ``hash(event_id)`` per staged row, in row order (the hash ``SeenIds`` stores)."""
    cur.register(name, staged.select(["event_id"]))
    try:
        column = cur.execute(f"SELECT hash(event_id) AS h FROM {name}").fetchnumpy()["h"]
    finally:
        cur.unregister(name)
    return np.asarray(column, dtype=np.uint64)


def _sort_out_poison(messages: Sequence[LogMessage]) -> tuple[list[LogMessage], list[tuple[LogMessage, str]]]:
    good: list[LogMessage] = []
    bad: list[tuple[LogMessage, str]] = []
    for message in messages:
        try:
            event = decode_event(message.payload)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            bad.append((message, str(exc)))
            continue
        if event.event_id != message.event_id:
            bad.append((message, f"payload event_id {event.event_id!r} differs from the log's "
                                 f"{message.event_id!r}"))
        else:
            good.append(message)
    return good, bad


__all__ = ["ENVELOPE_JSON_TYPES", "LoadProgress", "RawLoader", "insert_sql"]
