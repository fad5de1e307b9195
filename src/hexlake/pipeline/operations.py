"""``pipeline_run``, ``pipeline_list``, ``pipeline_history``: operations the CLI calls directly or
through the running server (which owns the warehouse, so a run works while it serves)."""

from __future__ import annotations

from collections.abc import Callable
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


OPERATIONS: dict[str, Callable[..., Any]] = {
    "pipeline_run": pipeline_run, "pipeline_list": pipeline_list, "pipeline_history": pipeline_history}

__all__ = ["OPERATIONS"]
