"""``hexlake sync run|status``: export events and marts to PostgreSQL or Parquet, tracked per batch."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(no_args_is_help=True, help="Warehouse sync: export events and marts in tracked batches.")
out = Console()

TargetOpt = Annotated[str, typer.Option(
    "--target", help="postgresql://user@host/db (another database) or parquet:///dir (partitioned by day).")]


def _runtime(ctx: typer.Context) -> Any:
    from hexlake.config import load_settings
    from hexlake.runtime import Runtime

    data_dir = ctx.find_root().params.get("data_dir")
    return Runtime(load_settings(data_dir=data_dir) if data_dir else load_settings())


@app.command()
def run(
    ctx: typer.Context,
    target: TargetOpt,
    tables: Annotated[str | None, typer.Option(
        "--tables", help="Comma-separated tables (default: raw_events and every marts.* table).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON, no progress.")] = False,
) -> None:
    """Send new, changed, pending and failed batches (one per table and day) to --target.
    Re-running never duplicates rows: each batch replaces its partition at the target."""
    from hexlake.sync import SyncOptions, open_target, sync_run
    from hexlake.warehouse import get_warehouse

    runtime = _runtime(ctx)
    dest = open_target(target)
    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed} rows"),
                      TimeElapsedColumn(), console=Console(stderr=True), disable=as_json) as progress:
            task = progress.add_task("syncing")
            names = [t.strip() for t in tables.split(",")] if tables else None
            report = sync_run(get_warehouse(runtime), dest, SyncOptions(tables=names),
                              on_batch=lambda t, k, n: progress.update(task, description=f"{t} {k}", advance=n))
    finally:
        dest.close()
        runtime.close()
    if as_json:
        sys.stdout.write(json.dumps(vars(report)) + "\n")
    else:
        out.print(f"synced {report.synced} batches ({report.rows} rows), skipped {report.skipped} unchanged, "
                  f"failed {report.failed}")
        for e in report.errors:
            out.print(f"[red]failed[/] {e['table']} {e['batch']}: {e['error']}")
    if report.failed:
        raise typer.Exit(1)


@app.command()
def status(
    ctx: typer.Context,
    target: Annotated[str | None, typer.Option("--target", help="Only this target.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Batches per target, table and status (pending/synced/failed), with rows and retries."""
    from hexlake.sync import sync_status
    from hexlake.warehouse import get_warehouse

    runtime = _runtime(ctx)
    try:
        rows = sync_status(get_warehouse(runtime), target)
    finally:
        runtime.close()
    if as_json:
        sys.stdout.write(json.dumps(rows, default=str) + "\n")
        return
    table = Table(title="warehouse_sync_status")
    for col in ("target", "table", "status", "batches", "rows", "retries", "last_synced_at", "last_error"):
        table.add_column(col)
    for r in rows:
        table.add_row(*["" if v is None else str(v) for v in r.values()])
    out.print(table)
