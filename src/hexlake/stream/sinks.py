"""Sink adapters: turn outbox payloads into idempotent writes on the stores.

* ``counters``  → ``CounterStore.apply(outbox_id, ops)`` (applied once per outbox id)
* ``online``    → ``OnlineStore.put_many`` (overwrite: replaying is harmless)
* ``offline``   → the warehouse table ``features_user_window`` (upsert on user_key + window_start,
  through ``Warehouse.upsert_rows``: DuckDB or PostgreSQL)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from hexlake.features.protocol import OnlineStore, user_entity
from hexlake.stream.counters import CounterStore
from hexlake.warehouse.protocol import Warehouse

OFFLINE_TABLE = "features_user_window"
#: Columns in canonical (DuckDB) types; ``Warehouse.column_type`` spells them for the engine.
OFFLINE_SCHEMA = [
    ("user_key", "VARCHAR NOT NULL"), ("window_start", "TIMESTAMP NOT NULL"), ("window_end", "TIMESTAMP NOT NULL"),
    ("events_total", "INTEGER NOT NULL"), ("event_counts", "JSON"), ("distinct_places", "INTEGER NOT NULL"),
    ("session_count", "INTEGER NOT NULL"), ("session_seconds_total", "DOUBLE NOT NULL"),
    ("session_seconds_max", "DOUBLE NOT NULL"), ("last_h3_r9", "VARCHAR"), ("distance_m", "DOUBLE NOT NULL"),
    ("computed_at", "TIMESTAMP NOT NULL"),
]
OFFLINE_COLUMNS = [name for name, _ in OFFLINE_SCHEMA]
OFFLINE_KEY = ("user_key", "window_start")


def offline_ddl(wh: Warehouse) -> str:
    body = ",\n    ".join(f"{name} {wh.column_type(typ)}" for name, typ in OFFLINE_SCHEMA)
    return f"CREATE TABLE IF NOT EXISTS {OFFLINE_TABLE} (\n    {body},\n    PRIMARY KEY ({', '.join(OFFLINE_KEY)})\n)"


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

    def __init__(self, db: Warehouse):
        self.db = db
        self.db.execute(offline_ddl(db))

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        """Upsert a batch in one statement (row-by-row upserts cost ~ms each); replays overwrite."""
        if not rows:
            return
        now = datetime.now(UTC).replace(microsecond=0, tzinfo=None)  # warehouse times are naive UTC
        self.db.upsert_rows(OFFLINE_TABLE, OFFLINE_COLUMNS, [_offline_row(r, now) for r in rows], OFFLINE_KEY)

    def sink(self) -> Callable[[int, Any], None]:
        def deliver(outbox_id: int, rows: Any) -> None:
            self.write(rows)

        return deliver


def _offline_row(r: dict[str, Any], now: datetime) -> tuple[Any, ...]:
    values = {**r, "window_start": _naive(r["window_start"]), "window_end": _naive(r["window_end"]),
              "event_counts": orjson.dumps(r["event_counts"]).decode(), "computed_at": now}
    return tuple(values[c] for c in OFFLINE_COLUMNS)


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
