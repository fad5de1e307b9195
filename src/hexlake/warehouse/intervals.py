"""Which event-time days each load touched, so the transform can restate exactly those.

Incremental models recompute only their lookback window on a normal run; an event older than
that would stay in ``raw_events`` and never reach the marts. So every load records the days its
rows fall on in ``ops.load_intervals`` (one row per day, upserted), and the transform restates the
days outside its window, then removes the rows it handled (``transform.restate``).

``version`` grows with every load touching the day, so a restatement only clears a day when no
load touched it again while the restatement ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc

#: Events that change a user's attributes (signup date, last login) and so every later day's row
#: of that user in the per-user marts, not just their own day.
USER_EVENT_TYPES = ("signup", "identify", "login")

LOAD_INTERVALS_DDL = (
    "CREATE SCHEMA IF NOT EXISTS ops;\n"
    "CREATE TABLE IF NOT EXISTS ops.load_intervals (\n"
    "  day DATE PRIMARY KEY,\n"
    "  events BIGINT NOT NULL,\n"
    "  user_events BIGINT NOT NULL,\n"
    "  first_loaded_at TIMESTAMP NOT NULL,\n"
    "  last_loaded_at TIMESTAMP NOT NULL,\n"
    "  version BIGINT NOT NULL\n"
    ")"
)

_UPSERT = (
    "INSERT INTO ops.load_intervals AS t "
    "(day, events, user_events, first_loaded_at, last_loaded_at, version) VALUES (?, ?, ?, ?, ?, 1) "
    "ON CONFLICT (day) DO UPDATE SET events = t.events + excluded.events, "
    "user_events = t.user_events + excluded.user_events, "
    "last_loaded_at = excluded.last_loaded_at, version = t.version + 1"
)


# The PostgreSQL loader's twin of ``record``, run in the insert's transaction over its staged payloads.
PG_RECORD_SQL = (
    "INSERT INTO ops.load_intervals AS t "
    "(day, events, user_events, first_loaded_at, last_loaded_at, version) "
    "SELECT CAST((j->>'ts')::timestamptz AT TIME ZONE 'UTC' AS date), COUNT(*), "
    f"COUNT(*) FILTER (WHERE j->>'event_type' IN ({', '.join(repr(t) for t in USER_EVENT_TYPES)})), "
    "%(loaded_at)s, %(loaded_at)s, 1 "
    "FROM (SELECT convert_from(payload, 'UTF8')::jsonb AS j FROM hexlake_staged) AS s "
    "WHERE j->>'ts' IS NOT NULL GROUP BY 1 "
    "ON CONFLICT (day) DO UPDATE SET events = t.events + excluded.events, "
    "user_events = t.user_events + excluded.user_events, "
    "last_loaded_at = excluded.last_loaded_at, version = t.version + 1"
)


class _Executes(Protocol):
    def execute(self, sql: str, params: Any = None) -> Any: ...


@dataclass(frozen=True)
class TouchedDay:
    """One event-time day that loads touched since it was last restated."""

    day: date
    events: int
    user_events: int
    version: int


def ensure(cur: _Executes) -> None:
    """Create ``ops.load_intervals`` if missing (idempotent)."""
    for statement in LOAD_INTERVALS_DDL.split(";\n"):
        cur.execute(statement)


def days_of(table: pa.Table) -> list[tuple[date, int, int]]:
    """(day, events, user events) of an Arrow table with ``ts`` and ``event_type`` columns."""
    if table.num_rows == 0:
        return []
    days = pc.cast(table.column("ts"), pa.date32())
    user = pc.is_in(table.column("event_type"), pa.array(USER_EVENT_TYPES)).cast(pa.int64())
    grouped = pa.table({"day": days, "user": user}).group_by("day").aggregate(
        [("user", "count"), ("user", "sum")])
    return [(d, int(n), int(u or 0)) for d, n, u in zip(
        grouped.column("day").to_pylist(), grouped.column("user_count").to_pylist(),
        grouped.column("user_sum").to_pylist(), strict=True) if d is not None]


def record(warehouse: _Executes, table: pa.Table, now: datetime | None = None) -> None:
    """Upsert the event-time days of ``table``'s rows, after they were inserted.

    Call it with the whole batch, duplicates included: after a crash between the insert and this
    call the redelivered batch is all duplicates and must still record its days.
    """
    at = now or datetime.now(UTC).replace(tzinfo=None)
    for day, events, user_events in days_of(table):
        try:
            warehouse.execute(_UPSERT, [day, events, user_events, at, at])
        except Exception:  # the first load into this warehouse: create the table, retry once
            ensure(warehouse)
            warehouse.execute(_UPSERT, [day, events, user_events, at, at])


def touched(cur: Any) -> list[TouchedDay]:
    """Every day waiting to be restated, oldest first."""
    ensure(cur)
    rows = cur.execute(
        "SELECT day, events, user_events, version FROM ops.load_intervals ORDER BY day").fetchall()
    return [TouchedDay(r[0], int(r[1]), int(r[2]), int(r[3])) for r in rows]


def clear(cur: Any, days: list[TouchedDay]) -> None:
    """Forget days once restated, unless a load touched them again meanwhile (version changed)."""
    for d in days:
        cur.execute("DELETE FROM ops.load_intervals WHERE day = ? AND version = ?", [d.day, d.version])


__all__ = ["LOAD_INTERVALS_DDL", "PG_RECORD_SQL", "USER_EVENT_TYPES", "TouchedDay", "clear", "days_of", "ensure",
           "record", "touched"]
