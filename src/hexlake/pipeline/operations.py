"""``pipeline_run``, ``pipeline_list``, ``pipeline_history``: operations the CLI calls directly or
through the running server (which owns the warehouse, so a run works while it serves)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from hexlake.errors import NotFound
from hexlake.pipeline.config import Pipeline, load_pipelines
from hexlake.runtime import Runtime


def _pipeline(runtime: Runtime, name: str) -> Pipeline:
    pipelines = load_pipelines(runtime.settings.data_dir)
    if name not in pipelines:
        known = ", ".join(sorted(pipelines)) or "none: define them in <data_dir>/pipelines.toml"
        raise NotFound(f"no pipeline {name!r}; pipelines: {known}", field="name")
    return pipelines[name]


def pipeline_run(runtime: Runtime, name: str) -> dict[str, Any]:
    """Run pipeline ``name`` now (trigger ``manual``); the run record."""
    from hexlake.pipeline.runner import run_pipeline

    return run_pipeline(runtime, _pipeline(runtime, name), trigger="manual")


def pipeline_list(runtime: Runtime) -> list[dict[str, Any]]:
    """Every pipeline with its schedule, steps and last run."""
    from hexlake.pipeline.runner import history

    out = []
    for name, p in sorted(load_pipelines(runtime.settings.data_dir).items()):
        last = history(runtime, name, limit=1)
        out.append({"name": name, "cron": p.cron, "steps": p.steps(), "retries": p.retries,
                    "webhook": bool(p.webhook), "last_status": last[0]["status"] if last else None,
                    "last_run_at": last[0]["finished_at"] if last else None})
    return out


def pipeline_history(runtime: Runtime, pipeline: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    from hexlake.pipeline.runner import history

    if pipeline is not None:
        _pipeline(runtime, pipeline)
    return history(runtime, pipeline, max(1, min(int(limit), 1000)))


def pipeline_freshness(runtime: Runtime, now: datetime) -> list[dict[str, Any]]:
    """Rows for the freshness report: per pipeline, its last success and whether its last run failed
    (``model`` = ``pipeline.<name>``; none without ``pipelines.toml``)."""
    from hexlake.pipeline.runner import history

    out = []
    for name in sorted(load_pipelines(runtime.settings.data_dir)):
        runs = history(runtime, name, limit=200)
        ok = next((r for r in runs if r["status"] == "ok"), None)
        newest = datetime.fromisoformat(ok["finished_at"]) if ok else None
        last = runs[0] if runs else None
        out.append({"model": f"pipeline.{name}", "time_column": "finished_at", "rows": len(runs),
                    "newest_event_time": newest.isoformat() if newest else None,
                    "lag_seconds": round((now - newest).total_seconds(), 3) if newest else None,
                    "behind_raw_seconds": None, "late_events_pending": 0, "oldest_late_day": None,
                    "pipeline_status": last["status"] if last else None,
                    "pipeline_error": last["error"] if last else None})
    return out


OPERATIONS: dict[str, Callable[..., Any]] = {
    "pipeline_run": pipeline_run, "pipeline_list": pipeline_list, "pipeline_history": pipeline_history}

__all__ = ["OPERATIONS", "pipeline_freshness"]
