"""``hexlake extract``: copy operational tables into ``raw_<source>_<table>`` in the warehouse."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(help="Extract tables from PostgreSQL or MySQL/MariaDB into the warehouse.")
out = Console()


def _settings(ctx: typer.Context) -> Any:
    from hexlake.config import load_settings

    data_dir = ctx.find_root().params.get("data_dir")
    return load_settings(data_dir=data_dir) if data_dir else load_settings()


@app.callback(invoke_without_command=True)
def extract(
    ctx: typer.Context,
    source: Annotated[str, typer.Option("--source", help="postgresql://user@host/db or mysql://user:pw@host/db.")],
    tables: Annotated[str, typer.Option("--tables", help="Comma-separated table names, e.g. users,orders.")],
    cursor: Annotated[str | None, typer.Option(
        "--cursor", help="Column that grows on every change (e.g. updated_at): only rows past the stored "
                         "high-water mark are copied. Without it each run appends a full snapshot.")] = None,
    full_refresh: Annotated[bool, typer.Option(
        "--full-refresh", help="Drop the raw tables and their marks, then copy everything again.")] = False,
    name: Annotated[str | None, typer.Option(
        "--name", help="Source name in raw_<name>_<table> (default: the database name).")] = None,
    pii: Annotated[list[str] | None, typer.Option(
        "--pii", help="PII rule table.column=hash|mask|drop (repeatable); applied before landing.")] = None,
    pii_policy: Annotated[Path | None, typer.Option(
        "--pii-policy", help='TOML/JSON file: {"users": {"email": "hash", "phone": "mask"}}.',
        exists=True, dir_okay=False)] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Rows per batch/transaction.")] = 10_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON, no progress.")] = False,
) -> None:
    """Extract --tables from --source into raw_<source>_<table> (append-only, partitioned by
    extracted_date), incrementally by --cursor, with schema drift reported and PII hashed."""
    from hexlake.extract import ExtractOptions, PiiPolicy, extract_tables
    from hexlake.privacy.hashing import Hasher
    from hexlake.privacy.secret import load_secret
    from hexlake.runtime import Runtime
    from hexlake.warehouse import get_warehouse

    settings = _settings(ctx)
    policy = PiiPolicy.load(pii_policy, pii or [])
    hasher = Hasher(load_secret(settings.paths.secret))
    options = ExtractOptions(cursor=cursor, full_refresh=full_refresh, batch_size=batch_size, name=name)
    names = [t.strip() for t in tables.split(",") if t.strip()]
    runtime = Runtime(settings)
    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed} rows"),
                      TimeElapsedColumn(), console=Console(stderr=True), disable=as_json) as progress:
            tasks = {t: progress.add_task(t) for t in names}
            results = extract_tables(source, get_warehouse(runtime), names, options, policy, hasher,
                                     on_rows=lambda t, n: progress.advance(tasks[t], n))
    finally:
        runtime.close()
    rows = [vars(r) for r in results]
    if as_json:
        sys.stdout.write(json.dumps(rows, default=str) + "\n")
        return
    table = Table(title="extracted")
    for col in ("table", "raw_table", "mode", "rows", "high_water", "drift"):
        table.add_column(col)
    for r in rows:
        drift = "; ".join(f"{d['column']} {d['change']}" for d in r["drift"]) or "-"
        table.add_row(r["table"], r["raw_table"], r["mode"], str(r["rows"]), str(r["high_water"]), drift)
    out.print(table)
