"""Sink adapters: turn outbox payloads into idempotent writes on the stores.

* ``counters``  → ``CounterStore.apply(outbox_id, ops)`` (applied once per outbox id)
* ``online``    → ``OnlineStore.put_many`` (overwrite: replaying is harmless)
* ``offline``   → the warehouse table ``features_user_window`` (upsert on user_key + window_start)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
import pyarrow as pa

from hexlake.features.protocol import OnlineStore, user_entity
from hexlake.stream.counters import CounterStore

OFFLINE_TABLE = "features_user_window"
OFFLINE_DDL = f"""CREATE TABLE IF NOT EXISTS {OFFLINE_TABLE} (
    user_key VARCHAR NOT NULL,
    window_start TIMESTAMP NOT NULL,
    window_end TIMESTAMP NOT NULL,
    events_total INTEGER NOT NULL,
    event_counts JSON,
    distinct_places INTEGER NOT NULL,
    session_count INTEGER NOT NULL,
    session_seconds_total DOUBLE NOT NULL,
    session_seconds_max DOUBLE NOT NULL,
    last_h3_r9 VARCHAR,
    distance_m DOUBLE NOT NULL,
    computed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_key, window_start)
)"""
OFFLINE_COLUMNS = ["user_key", "window_start", "window_end", "events_total", "event_counts", "distinct_places",
                   "session_count", "session_seconds_total", "session_seconds_max", "last_h3_r9", "distance_m",
                   "computed_at"]


class SqlExecutor(Protocol):
    """What the offline sink needs from the warehouse: statements, and a DuckDB cursor for Arrow."""

    def execute(self, sql: str, params: Any = None) -> Any: ...

    def cursor(self) -> Any: ...


def counters_sink(store: CounterStore) -> Callable[[int, Any], None]:
    def deliver(outbox_id: int, ops: Any) -> None:
        store.apply(outbox_id, [tuple(op) for op in ops])

    return deliver


def online_sink(store: OnlineStore, ttl_s: float) -> Callable[[int, Any], None]:
    def deliver(outbox_id: int, items: Any) -> None:
        store.put_many([(user_entity(user), feats) for user, feats in items], ttl_s)

    return deliver


class OfflineFeatureTable:
    """Appends final windows to ``features_user_window`` (point-in-time joins use window_end)."""

    def __init__(self, db: SqlExecutor):
        self.db = db
        self.db.execute(OFFLINE_DDL)

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        """Upsert a batch in one statement (row-by-row DuckDB upserts cost ~ms each)."""
        if not rows:
            return
        now = datetime.now(UTC).replace(microsecond=0, tzinfo=None)  # warehouse times are naive UTC
        cols: dict[str, list[Any]] = {c: [] for c in OFFLINE_COLUMNS}
        for r in rows:
            for c in OFFLINE_COLUMNS:
                if c in ("window_start", "window_end"):
                    cols[c].append(_naive(r[c]))
                elif c == "event_counts":
                    cols[c].append(orjson.dumps(r[c]).decode())
                elif c == "computed_at":
                    cols[c].append(now)
                else:
                    cols[c].append(r[c])
        batch = pa.table(cols)
        cur = self.db.cursor()
        cur.register("_hexlake_feature_batch", batch)
        try:
            cur.execute(f"INSERT OR REPLACE INTO {OFFLINE_TABLE} ({', '.join(OFFLINE_COLUMNS)})"
                        f" SELECT {', '.join(OFFLINE_COLUMNS)} FROM _hexlake_feature_batch")
        finally:
            cur.unregister("_hexlake_feature_batch")

    def sink(self) -> Callable[[int, Any], None]:
        def deliver(outbox_id: int, rows: Any) -> None:
            self.write(rows)

        return deliver


def _naive(iso_z: str) -> datetime:
    return datetime.fromisoformat(iso_z.replace("Z", "+00:00")).replace(tzinfo=None)


DerivedWriter = Callable[[list[dict[str, Any]]], None]
"""Writes derived events (native input shape) back into the log, e.g. through ``ingest``."""


def derived_sink(write: DerivedWriter, webhooks: Any | None) -> Callable[[int, Any], None]:
    """Derived geofence events → the log (dedupe on their deterministic ids) and webhook queue."""

    def deliver(outbox_id: int, items: Any) -> None:
        events = [{k: v for k, v in item.items() if k != "_webhook"} for item in items]
        write(events)
        if webhooks is not None:
            for item, event in zip(items, events, strict=True):
                if item.get("_webhook"):
                    webhooks.enqueue(event["event_id"], item["_webhook"], event)

    return deliver
