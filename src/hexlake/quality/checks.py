"""Gather the monitors' numbers from the stages and run them: one ``QualityReport`` per check.

The window is the last complete hour of arrival time (``received_at``): counts of a partial hour
would always look like a drop. Volumes count distinct event ids, so duplicates in ``raw_events``
(a replayed log) never look like a spike.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hexlake.quality import monitors
from hexlake.quality.config import QualityConfig
from hexlake.quality.monitors import Alert
from hexlake.runtime import Runtime

HOUR = timedelta(hours=1)
WEEK = timedelta(days=7)
#: Models checked for freshness: event-time grain fine enough to be near the raw layer.
FRESHNESS_MODELS = ("staging.stg_events",)


@dataclass
class QualityReport:
    checked_at: datetime
    window_start: datetime
    window_end: datetime
    alerts: list[Alert] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked_at": self.checked_at.isoformat(),
            "window": {"start": self.window_start.isoformat(), "end": self.window_end.isoformat()},
            "ok": not self.alerts,
            "alerts": [a.to_dict() for a in self.alerts],
            "summary": self.summary,
        }


def last_hour(now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the last complete hour before ``now`` (naive UTC)."""
    end = now.replace(minute=0, second=0, microsecond=0)
    return end - HOUR, end


def check(runtime: Runtime, now: datetime | None = None) -> QualityReport:
    """Run every monitor over the last complete hour."""
    cfg: QualityConfig = runtime.settings.quality
    now = now or datetime.now(UTC).replace(tzinfo=None)
    start, end = last_hour(now)
    label = start.isoformat()
    report = QualityReport(now, start, end)
    wh = _warehouse(runtime)
    cur = wh.cursor()
    counts, baselines = hourly_volumes(cur, start, cfg.volume_weeks)
    report.alerts += monitors.volume(counts, baselines, z=cfg.volume_z, min_weeks=cfg.volume_min_weeks,
                                     window_start=label)
    new_keys = new_property_keys(cur, start, end, cfg.drift_baseline_days, wh.dialect)
    report.alerts += monitors.schema_drift(new_keys, declared_properties(runtime, new_keys), window_start=label)
    accepted, accepted_before = _arrivals(cur, start, end), _arrivals(cur, start - WEEK, start)
    store = _quarantine(runtime)
    quarantined, quarantined_before = store.count_between(start, end), store.count_between(start - WEEK, start)
    report.alerts += monitors.quarantine_spike(
        quarantined, accepted, quarantined_before, accepted_before, rate=cfg.quarantine_rate,
        factor=cfg.quarantine_factor, minimum=cfg.quarantine_min, window_start=label)
    lags = model_lags(runtime, now, cur)
    report.alerts += monitors.freshness(lags, max_lag_s=cfg.max_lag_s, window_start=label)
    report.summary = {"events": accepted, "quarantined": quarantined, "series": len(set(counts) | set(baselines)),
                      "new_property_keys": {k: sorted(v) for k, v in new_keys.items()}, "lag_seconds": lags}
    return report


def hourly_volumes(cur: Any, start: datetime, weeks: int) -> tuple[dict[tuple[str, str], float],
                                                                    dict[tuple[str, str], list[float]]]:
    """This hour's distinct events per (event type, source), and the same hour of earlier weeks
    that had any events at all (weeks before the first event are no baseline)."""
    hours = [start - k * WEEK for k in range(weeks + 1)]
    rows = cur.execute(
        "SELECT event_type, source, date_trunc('hour', received_at) AS h, COUNT(DISTINCT event_id) "
        "FROM raw_events WHERE received_at >= ? AND received_at < ? "
        "AND date_trunc('hour', received_at) IN (SELECT unnest(?)) GROUP BY 1, 2, 3",
        [hours[-1], start + HOUR, hours]).fetchall()
    by_hour: dict[datetime, dict[tuple[str, str], float]] = defaultdict(dict)
    for event_type, source, hour, n in rows:
        by_hour[hour][(event_type, source)] = float(n)
    counts = by_hour.get(start, {})
    earlier = [h for h in hours[1:] if by_hour.get(h)]
    keys = set(counts) | {k for h in earlier for k in by_hour[h]}
    return counts, {k: [by_hour[h].get(k, 0.0) for h in earlier] for k in keys}


_KEYS = {"duckdb": "unnest(json_keys(properties))", "postgres": "jsonb_object_keys(properties)"}


def new_property_keys(cur: Any, start: datetime, end: datetime, baseline_days: int,
                      dialect: str = "duckdb") -> dict[str, set[str]]:
    """Per event type, the top-level property keys first seen in ``[start, end)``."""
    rows = cur.execute(
        f"SELECT event_type, k FROM (SELECT event_type, received_at, {_KEYS[dialect]} AS k "
        "FROM raw_events WHERE received_at >= ? AND received_at < ? AND properties IS NOT NULL) AS p "
        "GROUP BY 1, 2 HAVING MIN(received_at) >= ?",
        [start - timedelta(days=baseline_days), end, start]).fetchall()
    out: dict[str, set[str]] = defaultdict(set)
    for event_type, key in rows:
        out[event_type].add(key)
    return dict(out)


def declared_properties(runtime: Runtime, event_types: Any) -> dict[str, set[str] | None]:
    """The top-level properties each type's latest schema declares (None: no schema)."""
    from hexlake.gate.resources import runtime_registry

    registry = runtime_registry(runtime)
    out: dict[str, set[str] | None] = {}
    for event_type in event_types:
        record = registry.get(event_type)
        out[event_type] = None if record is None else set(record.schema.get("properties", {}))
    return out


def model_lags(runtime: Runtime, now: datetime, cur: Any) -> dict[str, float | None]:
    """Seconds each freshness model is behind the newest raw event up to ``now`` (None before the
    first build): an event stamped in the allowed future (gate.max_future_s) is not due yet."""
    from hexlake.transform import operations

    row = cur.execute("SELECT MAX(ts) FROM raw_events WHERE ts <= ?", [now]).fetchone()
    raw_newest = row[0] if row else None
    rows = {r["model"]: r for r in operations.freshness(runtime, now=now)}
    out: dict[str, float | None] = {}
    for model in FRESHNESS_MODELS:
        newest = rows.get(model, {}).get("newest_event_time")
        out[model] = None if newest is None or raw_newest is None else max(
            (raw_newest.replace(tzinfo=None) - datetime.fromisoformat(newest)).total_seconds(), 0.0)
    return out


def _arrivals(cur: Any, start: datetime, end: datetime) -> int:
    row = cur.execute("SELECT COUNT(DISTINCT event_id) FROM raw_events WHERE received_at >= ? "
                      "AND received_at < ?", [start, end]).fetchone()
    return int(row[0]) if row else 0


def _warehouse(runtime: Runtime) -> Any:
    from hexlake.warehouse import get_warehouse

    return get_warehouse(runtime)


def _quarantine(runtime: Runtime) -> Any:
    from hexlake.gate.resources import runtime_quarantine

    return runtime_quarantine(runtime)


__all__ = ["FRESHNESS_MODELS", "QualityReport", "check", "hourly_volumes", "last_hour", "new_property_keys"]
