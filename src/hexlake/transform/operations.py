"""The transform stage's operations as plain functions returning plain data.

The CLI, the admin API and the scheduler all call these, so a command gives the same answer
whether it runs in the server or opens the files itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from prometheus_client import Gauge

from hexlake.errors import BadRequest, TransformError
from hexlake.ops.runs import DuckRunHistory
from hexlake.runtime import Runtime
from hexlake.transform import db, restate, tiers
from hexlake.transform.engine import RunReport, TransformEngine
from hexlake.transform.marts import MARTS, STAGING, model_table, tier, time_column

ENGINE = "transform.engine"
BUILT_AS_OF = Gauge("hexlake_transform_model_built_as_of_seconds",
                    "Unix time a model was last brought up to date (the end of the interval its last "
                    "successful run processed); staleness is time() minus this", ["model", "tier"])
HISTORY = "transform.history"


def engine(runtime: Runtime) -> TransformEngine:
    db.warehouse(runtime)  # open the owner first: SQLMesh then shares its DuckDB instance
    return runtime.resource(ENGINE, lambda rt: TransformEngine(rt.settings))


def models_cursor(runtime: Runtime) -> Any:
    """A cursor where the models' tables are: the warehouse's, or the Spark session's (``spark://``)."""
    if runtime.settings.resolved_warehouse_url().startswith("spark://"):
        from hexlake.transform.spark import SparkCursor

        return SparkCursor(engine(runtime).context.engine_adapter)
    return db.warehouse(runtime).cursor()


def run_history(runtime: Runtime) -> DuckRunHistory:
    return runtime.resource(
        HISTORY, lambda rt: DuckRunHistory(db.warehouse(rt), keep=rt.settings.transform.history_keep)
    )


def _when(value: datetime | str | None) -> datetime | None:
    if not isinstance(value, str):
        return value
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(
            f"execution_time must be an ISO-8601 UTC time like 2026-01-31T12:00, got {value!r}",
            field="execution_time") from None
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when


def run(runtime: Runtime, *, execution_time: datetime | str | None = None, trigger: str = "cli",
        attempt: int = 1, tier: str = "all") -> dict[str, Any]:
    """Process new and late events into the models of ``tier`` (``hexlake.transform.tiers``:
    fresh, asof, all, or scheduled = fresh plus the as-of models whose cron is due); record the
    run history; report."""
    eng = engine(runtime)
    cfg = runtime.settings.transform
    which = tiers.check_tier(tier)
    try:  # first restates the days older than the lookback that loads touched (transform.restate)
        report, restated = restate.run(eng, db.warehouse(runtime), lookback_days=cfg.lookback_days,
                                       start=cfg.start, execution_time=_when(execution_time), tier=which)
    except TransformError as exc:
        failed = _report_from(exc)
        _record(runtime, failed, trigger, attempt)
        raise
    _record(runtime, report, trigger, attempt)
    return {**report.to_dict(), "tier": which, "restated": restated.to_dict()}


def restate_range(runtime: Runtime, *, from_day: str, to_day: str, models: list[str] | None = None,
                  execution_time: datetime | str | None = None) -> dict[str, Any]:
    """Recompute the days ``from_day``..``to_day`` (inclusive) of ``models`` (default: all) and of
    every model built from them; for backfills written straight into the warehouse."""
    first, last = _day(from_day, "from_day"), _day(to_day, "to_day")
    if last < first:
        raise BadRequest(f"to_day {last} is before from_day {first}", field="to_day")
    eng = engine(runtime)
    known = set(restate.incremental_models(eng))
    unknown = sorted(set(models or []) - known)
    if unknown:
        raise BadRequest(f"no incremental model named {', '.join(unknown)}; choose from "
                         f"{', '.join(sorted(known)) or '(none built yet: run `hexlake transform run`)'}",
                         field="models")
    report, restated = restate.restate_range(
        eng, db.warehouse(runtime), first=first, end=last + timedelta(days=1), models=models or None,
        start=runtime.settings.transform.start, execution_time=_when(execution_time))
    _record(runtime, report, "restate", 1)
    return {**report.to_dict(), "restated": restated.to_dict()}


def _day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise BadRequest(f"{name} must be a date like 2026-01-31, got {value!r}", field=name) from None


def pending(runtime: Runtime, *, now: datetime | None = None) -> dict[str, Any]:
    """Late data the next run will restate: days older than the lookback that loads touched."""
    cfg = runtime.settings.transform
    days = restate.pending_late(db.warehouse(runtime).cursor(), now or datetime.utcnow(), cfg.lookback_days)
    return {"days": [d.day.isoformat() for d in days], "events": sum(d.events for d in days),
            "oldest_day": days[0].day.isoformat() if days else None}


def plan(runtime: Runtime, *, execution_time: datetime | str | None = None) -> dict[str, Any]:
    """Apply model/variable changes to the warehouse and backfill what they need."""
    report = engine(runtime).plan(execution_time=_when(execution_time))
    _record(runtime, report, "cli", 1)
    if not report.ok:
        raise TransformError(report.error or "the plan failed", details=[report.to_dict()])
    return report.to_dict()


def status(runtime: Runtime) -> dict[str, Any]:
    """Per model: tier, kind, processed intervals, rows, newest event time, last successful run."""
    eng = engine(runtime)
    models = eng.status()
    split = tiers.split(eng)
    last = {r["model"]: r for r in reversed(run_history(runtime).list(limit=500, status="success"))}
    fresh = {f["model"]: f for f in freshness(runtime)}
    for m in models:
        m["tier"] = split.tier_of(m["model"])
        m["last_success"] = last.get(m["model"], {}).get("finished_at")
        m["rows"] = fresh.get(m["model"], {}).get("rows")
        m["newest_event_time"] = fresh.get(m["model"], {}).get("newest_event_time")
    return {"environment": "prod", "needs_plan": eng.needs_plan(), "models": models}


def history(runtime: Runtime, *, limit: int = 100, model: str | None = None,
            status: str | None = None) -> list[dict[str, Any]]:
    """Newest run-history rows first."""
    return run_history(runtime).list(limit=limit, model=model, status=status)


def freshness(runtime: Runtime, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per model with an event-time column: its tier, newest event time it holds, the lag to
    ``now``, and when it was last brought up to date (``built_as_of``: the end of the interval its
    last successful run processed) and how long ago that was (``stale_seconds``)."""
    spark = runtime.settings.resolved_warehouse_url().startswith("spark://")
    now = now or datetime.utcnow()
    cur = models_cursor(runtime)
    # on Spark the raw events the models read are the lake's (main.raw_events_all)
    raw_newest = _scalar(cur, f"SELECT MAX(ts) FROM main.{'raw_events_all' if spark else 'raw_events'}")
    late = pending(runtime, now=now)
    built = last_built(runtime)
    out = []
    for name in [*[f"staging.{m}" for m in STAGING], *[f"marts.{m}" for m in MARTS]]:
        col = time_column(name)
        try:
            rows, newest = cur.execute(
                f"SELECT COUNT(*), MAX({col}) FROM {model_table(name)}").fetchone() or (0, None)
        except Exception:  # not built yet
            rows, newest = None, None
        if newest is not None and not isinstance(newest, datetime):
            newest = datetime.combine(newest, datetime.min.time())
        as_of = built.get(name)
        out.append({
            "model": name,
            "tier": tier(name),
            "time_column": col,
            "rows": rows,
            "newest_event_time": newest.isoformat() if newest else None,
            "lag_seconds": round((now - newest).total_seconds(), 3) if newest else None,
            "behind_raw_seconds": (
                round((raw_newest - newest).total_seconds(), 3) if newest and raw_newest else None
            ),
            "built_as_of": as_of.isoformat() if as_of else None,
            "stale_seconds": round((now - as_of).total_seconds(), 3) if as_of else None,
            # late events loaded but not yet restated (older than the lookback; the next run does)
            "late_events_pending": late["events"],
            "oldest_late_day": late["oldest_day"],
        })
    from hexlake.pipeline.operations import pipeline_freshness  # scheduled pipelines: last success, failing

    return out + pipeline_freshness(runtime, now)


_BUILT_DDL = ("CREATE TABLE IF NOT EXISTS ops.transform_built "
              "(model VARCHAR PRIMARY KEY, built_as_of TIMESTAMP NOT NULL)")


def last_built(runtime: Runtime) -> dict[str, datetime]:
    """Per model, the end of the newest interval a successful run processed: its "as of" time.

    Kept in its own small table (``ops.transform_built``, one row per model), not read from the
    run history, which back-to-back load-triggered runs prune within minutes."""
    try:
        rows = db.warehouse(runtime).cursor().execute(
            "SELECT model, built_as_of FROM ops.transform_built").fetchall()
    except Exception:  # no run yet
        return {}
    return {str(m): end for m, end in rows}


def _record_built(runtime: Runtime, report: RunReport) -> None:
    newest: dict[str, datetime] = {}
    for e in report.evaluations:
        newest[e.model] = max(newest.get(e.model, e.interval_end), e.interval_end)
    if not newest:
        return
    cur = db.warehouse(runtime).cursor()
    cur.execute("CREATE SCHEMA IF NOT EXISTS ops")
    cur.execute(_BUILT_DDL)
    known = last_built(runtime)
    rows = [(m, max(end, known.get(m, end))) for m, end in sorted(newest.items())]
    marks = ", ".join("?" * len(rows))
    cur.execute(f"DELETE FROM ops.transform_built WHERE model IN ({marks})", [m for m, _ in rows])
    cur.executemany("INSERT INTO ops.transform_built VALUES (?, ?)", rows)
    for model, end in rows:  # /metrics: staleness = time() - this
        BUILT_AS_OF.labels(model, tier(model)).set(end.replace(tzinfo=UTC).timestamp())


def _scalar(cur: Any, sql: str) -> Any:
    try:
        row = cur.execute(sql).fetchone()
    except Exception:
        return None
    return row[0] if row else None


def _report_from(exc: TransformError) -> RunReport:
    for d in exc.details:
        if isinstance(d, dict) and "kind" in d:
            rep = RunReport(d["kind"], datetime.fromisoformat(d["started_at"]), ok=False,
                            failed_models=list(d["failed_models"]), error=d["error"])
            rep.finished_at = datetime.now()
            return rep
    return RunReport("run", datetime.now(), datetime.now(), ok=False, error=exc.message)


def _record(runtime: Runtime, report: RunReport, trigger: str, attempt: int) -> None:
    cur = models_cursor(runtime) if report.evaluations else None
    counts: dict[str, Any] = {}
    run_id = str(uuid.uuid4())
    rows: list[dict[str, Any]] = []
    for e in report.evaluations:
        if e.model not in counts:  # a model evaluated in several batches is counted once
            counts[e.model] = _scalar(cur, f"SELECT COUNT(*) FROM {model_table(e.model)}")
        started = report.started_at
        rows.append({
            "run_id": run_id, "model": e.model, "interval_start": e.interval_start,
            "interval_end": e.interval_end, "started_at": started,
            "finished_at": started + timedelta(milliseconds=e.duration_ms or 0),
            "status": "warning" if e.audits_failed else "success",  # blocking audits raise
            "rows": counts[e.model],
            "error": None, "attempt": attempt, "trigger": trigger,
        })
    failed: list[str | None] = [*report.failed_models] or ([] if report.ok else [None])
    for model in failed:
        rows.append({
            "run_id": run_id, "model": model, "interval_start": None, "interval_end": None,
            "started_at": report.started_at, "finished_at": report.finished_at,
            "status": "failed", "rows": None, "error": report.error, "attempt": attempt,
            "trigger": trigger,
        })
    run_history(runtime).record(rows)
    if report.ok:
        _record_built(runtime, report)


# What the CLI calls through ``cli_common.call`` (listed in ``plugins.OPERATIONS``).
OPERATIONS: dict[str, Callable[..., Any]] = {
    "transform_run": run,
    "transform_plan": plan,
    "transform_status": status,
    "transform_history": history,
    "transform_freshness": freshness,
    "transform_restate": restate_range,
}

__all__ = ["engine", "freshness", "history", "models_cursor", "pending", "plan", "restate_range", "run",
           "run_history", "status"]
