"""Restate exactly the event-time days that received late data, in every affected model.

A normal run recomputes each incremental model's lookback window (``transform.lookback_days``).
The loader records every day it touched (``warehouse.intervals``); before a run, the days older
than the window are turned into per-model ranges (``reach``: how far one day's change spreads in
that model), and those ranges are removed from SQLMesh's processed intervals. The run that
follows fills them again, in DAG order, together with the normal window, in one pass; after it
succeeded the days are cleared. So after any run every mart equals a from-scratch rebuild, and a
late day costs a few days of each model, not a rebuild.

Removing processed intervals and letting ``run`` refill them is what SQLMesh's own
``plan(restate_models=..., start=, end=)`` does in prod; doing it directly lets every model get
its own range (a week for the weekly aggregates, 30 days for MAU) and avoids a plan per run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hexlake.transform import tiers
from hexlake.transform.engine import ENVIRONMENT, RunReport, TransformEngine, _short_name
from hexlake.transform.tiers import Tier
from hexlake.warehouse import intervals
from hexlake.warehouse.intervals import TouchedDay

DAY = timedelta(days=1)
Span = tuple[date, date]  # [first day, end day)

#: Incremental models whose rows depend on more than their own event-time day.
WEEKLY = {"marts.event_aggregations"}  # hour/day/week rows, upserted per ISO week
TRAILING_30 = {"marts.metrics_active_users"}  # MAU: a day counts in the 30 days after it
#: Rows carry the user's signup date and last login, so a late signup/identify/login changes every
#: row of that user: restate the whole model (one model, not the staging layer under it).
USER_ATTRIBUTES = {"marts.marts_core_user_activity_daily"}


@dataclass
class Restatement:
    """Per model, the day ranges whose processed intervals were removed (to be refilled)."""

    spans: dict[str, list[Span]] = field(default_factory=dict)
    days: list[TouchedDay] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "days": [d.day.isoformat() for d in self.days],
            "models": {m: [[a.isoformat(), b.isoformat()] for a, b in s] for m, s in sorted(self.spans.items())},
        }


def reach(model: str, day: date, *, user_events: bool, first: date) -> Span:
    """The days of ``model`` that a change to the events of ``day`` can alter."""
    if model in WEEKLY:
        monday = day - timedelta(days=day.weekday())
        return monday, monday + 7 * DAY
    if model in TRAILING_30:
        return day, day + 30 * DAY
    if model in USER_ATTRIBUTES and user_events:
        return first, date.max
    return day, day + DAY


def merge(spans: Iterable[Span]) -> list[Span]:
    """Sorted, overlapping or touching spans joined."""
    out: list[Span] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def window_start(execution_time: datetime, lookback_days: int) -> date:
    """First day a normal run recomputes (SQLMesh re-runs ``lookback`` intervals before the last)."""
    return execution_time.date() - timedelta(days=lookback_days)


def late_days(days: Sequence[TouchedDay], execution_time: datetime, lookback_days: int) -> list[TouchedDay]:
    """The touched days a normal run at ``execution_time`` would not recompute."""
    first = window_start(execution_time, lookback_days)
    return [d for d in days if d.day < first]


def plan_spans(days: Sequence[TouchedDay], models: Iterable[str], *, first: date) -> dict[str, list[Span]]:
    """Per incremental model, the merged spans that ``days`` reach (days before ``first``, the
    models' start, reach nothing: no model covers them)."""
    spans: dict[str, list[Span]] = defaultdict(list)
    covered = [d for d in days if d.day >= first]
    for model in models:
        for d in covered:
            spans[model].append(reach(model, d.day, user_events=d.user_events > 0, first=first))
    return {m: merge(s) for m, s in spans.items() if s}


def _ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def _prod_snapshots(engine: TransformEngine) -> dict[str, Any]:
    ctx = engine.context
    env = ctx.state_reader.get_environment(ENVIRONMENT)
    if env is None:
        return {}
    snapshots = ctx.state_reader.get_snapshots(env.snapshots)
    return {_short_name(s.name): s for s in snapshots.values() if s.is_model and not s.model.kind.is_external}


def incremental_models(engine: TransformEngine) -> dict[str, Any]:
    """Short name -> prod snapshot of every incremental model (empty before the first build)."""
    return {m: s for m, s in _prod_snapshots(engine).items() if s.model.kind.is_incremental}


def downstream(engine: TransformEngine, models: Iterable[str]) -> set[str]:
    """``models`` and every model built from them (short names)."""
    ctx = engine.context
    by_short = {_short_name(fqn): fqn for fqn in ctx.dag}
    out: set[str] = set()
    for m in models:
        fqn = by_short.get(m)
        if fqn is None:
            continue
        out.add(m)
        out.update(_short_name(d) for d in ctx.dag.downstream(fqn))
    return out


def remove_intervals(engine: TransformEngine, spans: dict[str, list[Span]],
                     full: set[str] | None = None) -> dict[str, list[Span]]:
    """Mark ``spans`` unprocessed so the next run recomputes them; returns what was removed.

    Spans are clipped to what the model has processed: later days are new data the run fills
    anyway, and removing nothing is a no-op. ``full`` names the FULL models the coming run
    rebuilds (default all; a fresh-tier run leaves the as-of tier to its cron).
    """
    snapshots = _prod_snapshots(engine)
    pairs: list[tuple[Any, tuple[int, int]]] = []
    removed: dict[str, list[Span]] = {}
    for model, model_spans in spans.items():
        snap = snapshots.get(model)
        if snap is None or not snap.intervals:
            continue
        lo, hi = snap.intervals[0][0], snap.intervals[-1][1]
        for a, b in model_spans:
            start, end = max(_ms(a), lo), min(_ms(b) if b < date.max else hi, hi)
            if start < end:
                pairs.append((snap, (start, end)))
                removed.setdefault(model, []).append(_span_of(start, end))
    if pairs:
        # FULL models rebuild from everything, but only when an interval is missing: a run at the
        # same execution time as the last one would skip them, so drop their latest interval too.
        pairs += [(s, s.intervals[-1]) for m, s in snapshots.items()
                  if s.model.kind.is_full and s.intervals and (full is None or m in full)]
        # remove_shared_versions would keep one interval per snapshot (it maps version -> interval)
        engine.context.state_sync.remove_intervals(pairs, remove_shared_versions=False)
    return removed


def _span_of(start_ms: int, end_ms: int) -> Span:
    a = datetime.fromtimestamp(start_ms / 1000, UTC).date()
    b = datetime.fromtimestamp(end_ms / 1000, UTC)
    return a, b.date() + (DAY if b.time() != datetime.min.time() else timedelta(0))


def pending_late(cur: Any, execution_time: datetime, lookback_days: int) -> list[TouchedDay]:
    """Touched days a normal run would miss, still waiting to be restated."""
    return late_days(intervals.touched(cur), execution_time, lookback_days)


def run(engine: TransformEngine, warehouse: Any, *, lookback_days: int, start: str,
        execution_time: datetime | None = None, tier: Tier = "all") -> tuple[RunReport, Restatement]:
    """A transform run of ``tier`` that first restates the late days the loader recorded; then
    clears them. Every incremental model is in the fresh tier, which every tier's run includes
    (``asof`` alone restates nothing).

    If the run fails the days stay recorded (and their intervals stay unprocessed in SQLMesh), so
    the next run restates them again.
    """
    when = execution_time or datetime.now(UTC).replace(tzinfo=None)
    with engine.exclusive():
        cur = warehouse.cursor()
        touched = intervals.touched(cur)
        if tier == "asof":  # the incremental models do not run: the days wait for the next fresh run
            return tiers.run(engine, tier, execution_time=execution_time), Restatement()
        late = late_days(touched, when, lookback_days)
        spans = plan_spans(late, incremental_models(engine), first=date.fromisoformat(start)) if late else {}
        removed = remove_intervals(engine, spans, tiers.full_models(engine, tier)) if spans else {}
        report = tiers.run(engine, tier, execution_time=execution_time)
        intervals.clear(cur, [d for d in touched if d.day <= when.date()])
    return report, Restatement(removed, late)


def restate_range(engine: TransformEngine, warehouse: Any, *, first: date, end: date,
                  models: Sequence[str] | None, start: str,
                  execution_time: datetime | None = None) -> tuple[RunReport, Restatement]:
    """Recompute the days ``[first, end)`` of ``models`` (default all) and of every model built
    from them, then run. For backfills written straight into ``raw_events``."""
    with engine.exclusive():
        snapshots = incremental_models(engine)
        targets = downstream(engine, models) if models else set(snapshots)
        user_events = _has_user_events(warehouse, first, end)
        days = [TouchedDay(first + i * DAY, 0, int(user_events)) for i in range((end - first).days)]
        spans = plan_spans(days, sorted(targets & set(snapshots)), first=date.fromisoformat(start))
        removed = remove_intervals(engine, spans)
        report = engine.run(execution_time=execution_time)
    return report, Restatement(removed, days)


def _has_user_events(warehouse: Any, first: date, end: date) -> bool:
    types = ", ".join(f"'{t}'" for t in intervals.USER_EVENT_TYPES)
    row = warehouse.cursor().execute(
        f"SELECT COUNT(*) FROM raw_events_all WHERE ts >= ? AND ts < ? AND event_type IN ({types})",
        [first, end]).fetchone()
    return bool(row and row[0])


__all__ = [
    "DAY", "TRAILING_30", "USER_ATTRIBUTES", "WEEKLY", "Restatement", "downstream", "incremental_models",
    "late_days", "merge", "pending_late", "plan_spans", "reach", "remove_intervals", "restate_range", "run",
    "window_start",
]
