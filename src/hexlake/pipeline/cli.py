"""``hexlake pipeline run|list|history``: the pipelines of ``<data_dir>/pipelines.toml``."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Annotated

import typer

from hexlake.cli_common import JsonOpt, call, emit, err, table

app = typer.Typer(help="Scheduled pipelines: extract -> transform (audits) -> sync, with notifications.",
                  no_args_is_help=True)
RUN_COLUMNS = ["id", "pipeline", "trigger", "status", "failed_step", "error", "started_at", "finished_at"]


@app.command()
def run(name: Annotated[str, typer.Argument(help="Pipeline name (a [pipelines.<name>] table).")],
        as_json: JsonOpt = False) -> None:
    """Run a pipeline now; exits 1 (and notifies its webhook) if a step or an audit fails."""
    with err.status(f"running pipeline {name}...", spinner="dots") if not as_json else nullcontext():
        record = call("pipeline_run", name=name)
    emit(record, as_json, lambda r: table([r], RUN_COLUMNS, title="pipeline run"))


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """Pipelines with their cron, steps and last run."""
    rows = call("pipeline_list")
    emit(rows, as_json, lambda rows: table(
        [{**r, "steps": " -> ".join(r["steps"])} for r in rows],
        ["name", "cron", "steps", "retries", "webhook", "last_status", "last_run_at"], title="pipelines"))


@app.command()
def history(pipeline: Annotated[str | None, typer.Option("--pipeline", help="Only this pipeline.")] = None,
            limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 20,
            as_json: JsonOpt = False) -> None:
    """The latest runs, newest first."""
    rows = call("pipeline_history", pipeline=pipeline, limit=limit)
    emit(rows, as_json, lambda rows: table(rows, RUN_COLUMNS, title="pipeline runs"))
