"""``hexlake tiers status|move``: old events from the DuckDB file to the Iceberg lake (cold tier).

Both go through ``cli_common.call``: the hot tier is the warehouse, which a running server owns.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Annotated, Any

import typer

from hexlake.cli_common import JsonOpt, call, emit, err, out

app = typer.Typer(no_args_is_help=True, help="Hot (DuckDB) and cold (Iceberg lake) tiers of raw_events.")


@app.command()
def status(as_json: JsonOpt = False) -> None:
    """Rows and days in each tier, cold files and bytes, and the moves so far."""
    emit(call("tiers_status"), as_json, _render_status)


def _render_status(st: dict[str, Any]) -> None:
    hot, cold = st["hot"], st["cold"]
    out.print(f"hot  (DuckDB raw_events): {hot['rows']} rows, days {hot['first_day']} .. {hot['last_day']}")
    out.print(f"cold (Iceberg cold.raw_events): {cold['rows']} rows in {cold['files']} files, {cold['bytes']} bytes")
    out.print(f"hot_days setting: {st['hot_days'] or 'unset (no automatic cut-off)'}")
    for m in st["moves"]:
        out.print(f"moves {m['status']}: {m['moves']} ({m['rows']} rows)")


@app.command()
def move(
    older_than_days: Annotated[int | None, typer.Option(
        "--older-than-days", min=1, help="Move events older than this many days (default: lake.hot_days).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Move old events to the lake; re-running finishes an interrupted move and never duplicates."""
    with err.status("moving...", spinner="dots") if not as_json else nullcontext():
        report = call("tiers_move", older_than_days=older_than_days)
    emit(report, as_json, lambda r: out.print(
        f"moved {r['rows']} events older than {r['cutoff']} in {r['moves']} moves; {r['cold_files']} cold files"))
