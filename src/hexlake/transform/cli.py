"""``hexlake transform run|plan|restate|status|history|freshness|render|test``.

Each command calls one operation of ``hexlake.transform.operations`` — through the running server
when there is one (it owns the warehouse file), otherwise on the files directly.
"""

from __future__ import annotations

from contextlib import nullcontext
from enum import StrEnum
from typing import Annotated, Any

import typer

from hexlake.cli_common import JsonOpt, call, emit, out, table

app = typer.Typer(
    help="SQLMesh models: raw -> staging -> marts. Run, plan, inspect runs and freshness.",
    no_args_is_help=True,
)


def _emit(data: Any, as_json: bool, rows: list[dict[str, Any]], columns: list[str]) -> None:
    emit(data, as_json, lambda _: table(rows, columns))



class Tier(StrEnum):
    all = "all"
    fresh = "fresh"
    asof = "asof"


class RunStatus(StrEnum):
    success = "success"
    warning = "warning"
    failed = "failed"

@app.command()
def run(
    execution_time: Annotated[str | None, typer.Option(
        help="Pretend it is this UTC time (ISO-8601); default now.")] = None,
    tier: Annotated[Tier, typer.Option(
        help="fresh: staging and incremental marts; asof: the FULL as-of models (dim_users, "
             "place_popularity, features...) from the current fresh tier; all: both.")] = Tier.all,
    as_json: JsonOpt = False,
) -> None:
    """Process new and late events into the models (each incremental one recomputes its lookback
    window, the as-of ones rebuild as of now).

    Applies a plan first if the models or variables changed. Fails with the failing model and
    audit when an audit does not pass; models downstream of it keep their previous data.
    """
    with out.status("running models...", spinner="dots") if not as_json else nullcontext():
        r = call("transform_run", execution_time=execution_time, tier=tier.value)
    _emit(r, as_json, r["evaluations"], ["model", "interval_start", "interval_end", "duration_ms"])
    for w in r.get("warnings", []) if not as_json else []:
        out.print(f"[yellow]warning:[/] {w}")


@app.command()
def plan(
    execution_time: Annotated[str | None, typer.Option(
        help="Pretend it is this UTC time (ISO-8601); default now.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Apply model or variable changes (lookback, k, thresholds) to the warehouse and backfill."""
    with out.status("planning and backfilling...", spinner="dots") if not as_json else nullcontext():
        r = call("transform_plan", execution_time=execution_time)
    _emit(r, as_json, r["evaluations"], ["model", "interval_start", "interval_end", "duration_ms"])


@app.command()
def status(as_json: JsonOpt = False) -> None:
    """Per model: tier (fresh or asof), kind, rows, newest event time, last successful run."""
    r = call("transform_status")
    if not as_json and r.get("needs_plan"):
        out.print("[yellow]models changed since the last plan: `hexlake transform plan` applies them[/]")
    _emit(r, as_json, r["models"], ["model", "tier", "kind", "rows", "newest_event_time", "last_success"])


@app.command()
def history(
    limit: Annotated[int, typer.Option(help="Most rows to show.", min=1, max=10_000)] = 50,
    model: Annotated[str | None, typer.Option(help="Only this model, e.g. marts.place_popularity.")] = None,
    status: Annotated[RunStatus | None, typer.Option(help="Only runs with this status.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run history, newest first: model, interval, start, end, status, rows, error."""
    r = call("transform_history", limit=limit, model=model, status=status.value if status else None)
    _emit(r, as_json, r, ["started_at", "model", "interval_start", "interval_end", "status", "rows",
                          "error", "trigger"])


@app.command()
def freshness(as_json: JsonOpt = False) -> None:
    """Per model: its tier (fresh or asof), newest event time it holds, lag to now and behind the
    raw layer, and how long ago it was last brought up to date (stale_seconds)."""
    r = call("transform_freshness")
    _emit(r, as_json, r, ["model", "tier", "rows", "newest_event_time", "behind_raw_seconds",
                          "stale_seconds"])
    waiting = r[0].get("late_events_pending") if r and not as_json else None
    if waiting:
        out.print(f"[yellow]{waiting} late events (oldest day {r[0]['oldest_late_day']}) wait to be "
                  "restated: the next `hexlake transform run` does it[/]")


@app.command()
def restate(
    from_day: Annotated[str, typer.Option("--from", help="First day to recompute (YYYY-MM-DD).")],
    to_day: Annotated[str, typer.Option("--to", help="Last day to recompute, inclusive (YYYY-MM-DD).")],
    models: Annotated[list[str] | None, typer.Option(
        "--models", help="Only these models and the models built from them (repeatable).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Recompute a range of days in every incremental model (or --models and what depends on them).

    For backfills written straight into the warehouse; late events that go through the loader are
    restated by every `hexlake transform run` on their own.
    """
    with out.status("restating...", spinner="dots") if not as_json else nullcontext():
        r = call("transform_restate", from_day=from_day, to_day=to_day, models=models or None)
    _emit(r, as_json, r["evaluations"], ["model", "interval_start", "interval_end", "duration_ms"])
