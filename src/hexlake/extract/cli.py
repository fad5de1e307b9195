"""``hexlake extract``: copy operational tables into ``raw_<source>_<table>`` in the warehouse."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from hexlake.cli_common import JsonOpt, call, emit, err, table

app = typer.Typer(help="Extract tables from PostgreSQL or MySQL/MariaDB into the warehouse.")


@app.callback(invoke_without_command=True)
def extract(
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
        "--pii", help="PII rule table.column=hash|mask|drop|keep (repeatable); applied before landing "
                      "(email, IP, password, phone and name columns are protected by default).")] = None,
    pii_policy: Annotated[Path | None, typer.Option(
        "--pii-policy", help='TOML/JSON file: {"users": {"email": "hash", "phone": "mask"}}.',
        exists=True, dir_okay=False)] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Rows per batch/transaction.")] = 10_000,
    cdc: Annotated[bool, typer.Option(
        "--cdc", help="PostgreSQL only: read changes through logical replication (pgoutput) instead of a "
                      "cursor, so hard deletes and updates without updated_at are captured.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Extract --tables from --source into raw_<source>_<table> (append-only, partitioned by
    extracted_date), incrementally by --cursor, with schema drift reported and PII hashed."""
    from hexlake.extract.policy import PiiPolicy

    policy = PiiPolicy.load(pii_policy, pii or [])  # read and checked here: the file is on this machine
    names = [t.strip() for t in tables.split(",") if t.strip()]
    with err.status("extracting...", spinner="dots") if not as_json else nullcontext():
        rows = call("extract", source=source, tables=names, pii_rules=policy.rules, cursor=cursor,
                    full_refresh=full_refresh, name=name, batch_size=batch_size, cdc=cdc)
    for r in rows:
        r["drift"] = "; ".join(f"{d['column']} {d['change']}" for d in r["drift"]) or "-"
    emit(rows, as_json, lambda rows: table(rows, ["table", "raw_table", "mode", "rows", "high_water", "drift"],
                                           title="extracted"))
