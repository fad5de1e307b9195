"""Retention enforced: events older than their ``x-retention`` class are deleted in every layer.

Classes and durations are settings (``privacy.retention_classes``; ``<n>d|w|m|y``). For each class,
the events with ``retention = class`` and ``ts`` before now minus its duration are deleted from
``raw_events`` and from every row-level table built from them (any table with an ``event_id``
column: staging, row-level marts, SQLMesh's snapshot tables), and from the log (messages every
consumer group has finished, on backends declaring ``SUPPORTS_PURGE_EXPIRED``). Aggregate marts have no ``event_id``
and keep their numbers: aggregates, not rows. ``dry_run`` counts without deleting.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from hexlake.errors import ConfigError
from hexlake.runtime import Runtime

_DURATION = re.compile(r"^(\d+)([dwmy])$")
_DAYS = {"d": 1, "w": 7, "m": 30, "y": 365}


def duration(text: str) -> timedelta:
    m = _DURATION.match(text)
    if m is None:
        raise ConfigError(f"retention duration {text!r} must look like 90d, 6w, 12m or 7y",
                          field="privacy.retention_classes")
    return timedelta(days=int(m.group(1)) * _DAYS[m.group(2)])


def event_tables(wh: Any) -> list[str]:
    """``schema.table`` of every base table with an ``event_id`` column, raw_events last."""
    rows = wh.cursor().execute(
        "SELECT c.table_schema, c.table_name FROM information_schema.columns c JOIN information_schema.tables t "
        "ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
        "WHERE c.column_name = 'event_id' AND t.table_type = 'BASE TABLE' ORDER BY 1, 2").fetchall()
    names = [f'"{s}"."{t}"' for s, t in rows if s not in ("information_schema", "pg_catalog")]
    raw = [n for n in names if n.endswith('"raw_events"')]
    return [n for n in names if n not in raw] + raw


def _policies(wh: Any, classes: dict[str, str]) -> dict[str, str]:
    """The classes, plus literal durations (``x-retention: 30d``) found on stored events."""
    rows = wh.cursor().execute("SELECT DISTINCT retention FROM raw_events WHERE retention IS NOT NULL").fetchall()
    literal = {r[0]: r[0] for r in rows if r[0] not in classes and _DURATION.match(r[0])}
    return {**classes, **literal}


def _log(runtime: Runtime, wh: Any, when: datetime, dry_run: bool) -> int | None:
    """Messages of the log whose class ended (None: the backend has no such ability; Redis and
    PostgreSQL logs also drop finished entries by themselves, see ``hexlake worker``)."""
    from hexlake.log import get_log
    from hexlake.log.protocol import as_retention_purger

    purger = as_retention_purger(get_log(runtime))
    if purger is None:
        return None
    policies = _policies(wh, runtime.settings.privacy.retention_classes)
    cutoffs = {cls: (when - duration(text)).strftime("%Y-%m-%dT%H:%M:%S") for cls, text in policies.items()}
    return purger.purge_expired(cutoffs, dry_run=dry_run)


def enforce(runtime: Runtime, *, dry_run: bool = False, now: datetime | None = None) -> dict[str, Any]:
    """Delete (or with ``dry_run`` count) what outlived its class; a report per class and table."""
    from hexlake.warehouse import get_warehouse

    wh = get_warehouse(runtime)
    when = (now or datetime.now(UTC)).replace(tzinfo=None)
    tables = event_tables(wh)
    report: dict[str, Any] = {"dry_run": dry_run, "as_of": when.isoformat(), "classes": {},
                              "log": _log(runtime, wh, when, dry_run)}
    for cls, text in sorted(_policies(wh, runtime.settings.privacy.retention_classes).items()):
        cutoff = when - duration(text)
        expired = "SELECT event_id FROM raw_events WHERE retention = ? AND ts < ?"
        counts: dict[str, int] = {}
        for table in tables:
            where = f"event_id IN ({expired})"
            row = wh.cursor().execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", [cls, cutoff]).fetchone()
            n = int(row[0]) if row else 0
            if n:
                counts[table.replace('"', "")] = n
                if not dry_run:
                    wh.execute(f"DELETE FROM {table} WHERE {where}", [cls, cutoff])
        report["classes"][cls] = {"keep": text, "cutoff": cutoff.isoformat(), "deleted" if not dry_run
                                  else "would_delete": counts}
    return report


__all__ = ["duration", "enforce", "event_tables"]
