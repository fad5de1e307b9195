"""``hexlake sync run|status``: export events and marts to PostgreSQL or Parquet, tracked per batch.

Both go through ``cli_common.call``: the batch status table lives in the warehouse, which a running
server owns.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Annotated, Any

import typer

from hexlake.cli_common import JsonOpt, call, emit, err, out, table

app = typer.Typer(no_args_is_help=True, help="Warehouse sync: export events and marts in tracked batches.")

TargetOpt = Annotated[str, typer.Option(
    "--target", help="postgresql://user@host/db (another database), parquet:///dir (partitioned by day) or "
    "iceberg:///dir[#catalog-url] (Apache Iceberg tables, docs/lake.md).")]
STATUS_COLUMNS = ["target", "table", "status", "batches", "rows", "retries", "last_synced_at", "last_error"]


@app.command()
def run(
    target: TargetOpt,
    tables: Annotated[str | None, typer.Option(
        "--tables", help="Comma-separated tables (default: raw_events and every marts.* table).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Send new, changed, pending and failed batches (one per table and day) to --target.
    Re-running never duplicates rows: each batch replaces its partition at the target."""
    names = [t.strip() for t in tables.split(",") if t.strip()] if tables else None
    with err.status("syncing...", spinner="dots") if not as_json else nullcontext():
        report = call("sync_run", target=target, tables=names)
    emit(report, as_json, _render_report)
    if report["failed"]:
        raise typer.Exit(1)


def _render_report(report: dict[str, Any]) -> None:
    out.print(f"synced {report['synced']} batches ({report['rows']} rows), skipped {report['skipped']} unchanged, "
              f"failed {report['failed']}")
    for e in report["errors"]:
        out.print(f"[red]failed[/] {e['table']} {e['batch']}: {e['error']}")


@app.command()
def status(
    target: Annotated[str | None, typer.Option("--target", help="Only this target.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Batches per target, table and status (pending/synced/failed), with rows and retries."""
    rows = call("sync_status", target=target)
    emit(rows, as_json, lambda rows: table(rows, STATUS_COLUMNS, title="warehouse_sync_status"))
