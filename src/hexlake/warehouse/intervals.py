"""Which event-time days each load touched, so the transform can restate exactly those.

Incremental models recompute only their lookback window on a normal run; an event older than
that would stay in ``raw_events`` and never reach the marts. So every load appends one row per
event-time day of its batch to ``ops.load_touches``, and the transform restates the days outside
its window, then deletes exactly the rows it read (``transform.restate``).

Append-only on purpose: a load never updates a row the transform may be deleting (on DuckDB a
concurrent upsert and delete of one row can lose the upsert), so a day touched while a
restatement runs keeps its new row and is restated by the next run.
"""

from __future__ import annotations

from collections import defaultdict
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
    "CREATE SEQUENCE IF NOT EXISTS ops.load_touches_seq;\n"
    "CREATE TABLE IF NOT EXISTS ops.load_touches (\n"
    "  seq BIGINT NOT NULL DEFAULT nextval('ops.load_touches_seq'),\n"
    "  day DATE NOT NULL,\n"
    "  events BIGINT NOT NULL,\n"
    "  user_events BIGINT NOT NULL,\n"
    "  loaded_at TIMESTAMP NOT NULL\n"
    ")"
)

_INSERT = "INSERT INTO ops.load_touches (day, events, user_events, loaded_at) VALUES (?, ?, ?, ?)"

# The PostgreSQL loader's twin of ``record``, run in the insert's transaction over its staged payloads.
PG_RECORD_SQL = (
    "INSERT INTO ops.load_touches (day, events, user_events, loaded_at) "
    "SELECT CAST((j->>'ts')::timestamptz AT TIME ZONE 'UTC' AS date), COUNT(*), "
    f"COUNT(*) FILTER (WHERE j->>'event_type' IN ({', '.join(repr(t) for t in USER_EVENT_TYPES)})), "
    "%(loaded_at)s "
    "FROM (SELECT convert_from(payload, 'UTF8')::jsonb AS j FROM hexlake_staged) AS s "
    "WHERE j->>'ts' IS NOT NULL GROUP BY 1"
)


class _Executes(Protocol):
    def execute(self, sql: str, params: Any = None) -> Any: ...


@dataclass(frozen=True)
class TouchedDay:
    """One event-time day that loads touched since it was last restated; ``seqs`` are its rows."""

    day: date
    events: int
    user_events: int
    seqs: tuple[int, ...] = ()


def ensure(cur: _Executes) -> None:
    """Create ``ops.load_touches`` if missing (idempotent)."""
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
    """Append the event-time days of ``table``'s rows, after they were inserted.

    Call it with the whole batch, duplicates included: after a crash between the insert and this
    call the redelivered batch is all duplicates and must still record its days.
    """
    record_days(warehouse, days_of(table), now)


def record_days(warehouse: _Executes, days: list[tuple[date, int, int]], now: datetime | None = None) -> None:
    """Append (day, events, user events) rows: a load's days, or the days an erasure deleted rows
    from, so the next transform run recomputes them like late data."""
    at = now or datetime.now(UTC).replace(tzinfo=None)
    for day, events, user_events in days:
        try:
            warehouse.execute(_INSERT, [day, events, user_events, at])
        except Exception:  # the first load into this warehouse: create the table, retry once
            ensure(warehouse)
            warehouse.execute(_INSERT, [day, events, user_events, at])


def touched(cur: Any) -> list[TouchedDay]:
    """Every day waiting to be restated, oldest first, with the rows that recorded it."""
    ensure(cur)
    rows = cur.execute("SELECT seq, day, events, user_events FROM ops.load_touches").fetchall()
    per_day: dict[date, list[tuple[int, int, int]]] = defaultdict(list)
    for seq, day, events, user_events in rows:
        per_day[day].append((int(seq), int(events), int(user_events)))
    return [TouchedDay(day, sum(r[1] for r in rs), sum(r[2] for r in rs), tuple(sorted(r[0] for r in rs)))
            for day, rs in sorted(per_day.items())]


def clear(cur: Any, days: list[TouchedDay]) -> None:
    """Forget the rows that recorded ``days`` once restated; rows added meanwhile stay."""
    seqs = [s for d in days for s in d.seqs]
    if seqs:
        cur.execute("DELETE FROM ops.load_touches WHERE seq IN (SELECT unnest(?))", [seqs])


__all__ = ["LOAD_INTERVALS_DDL", "PG_RECORD_SQL", "USER_EVENT_TYPES", "TouchedDay", "clear", "days_of", "ensure",
           "record", "record_days", "touched"]
