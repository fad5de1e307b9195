"""``hexlake privacy erase|export|retention``: a person's data, and what outlived its class.

Every command goes through ``cli_common.call``: a running server owns the warehouse file.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer

from hexlake.cli_common import JsonOpt, call, emit, err, out

app = typer.Typer(no_args_is_help=True, help="Privacy: erase or export one person's data, enforce retention.")

UserOpt = Annotated[str, typer.Option("--user", help="The person's user id, as the app sends it.")]


@app.command()
def erase(
    user: UserOpt,
    wait: Annotated[bool, typer.Option(
        "--wait", help="Recompute the aggregate marts of the person's days before returning "
        "(default: queued for the next transform run).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove the person from every layer (log, warehouse, online store, stream state, quarantine,
    imports, sync targets), suppress their future events, and print the proof. The aggregate marts'
    counts of their days are recomputed by the next transform run, or now with --wait."""
    with err.status("erasing...", spinner="dots") if not as_json else nullcontext():
        report = call("privacy_erase", user_id=user, wait=wait)
    emit(report, as_json, _render)
    if not report["clean"]:
        raise typer.Exit(1)


@app.command()
def export(
    user: UserOpt,
    out_file: Annotated[Path | None, typer.Option(
        "--out", help="Where to write the zip (default <user>.zip here).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a zip of everything held about the person: one CSV/JSON file per layer and a README."""
    path = (out_file or Path(f"{user}.zip")).resolve()
    result = call("privacy_export", user_id=user, out=str(path))
    emit(result, as_json, lambda r: out.print(f"wrote {r['path']}: " + ", ".join(
        f"{name} {n}" for name, n in r["files"].items())))


def _render(report: dict[str, Any]) -> None:
    out.print(report["text"], markup=False, highlight=False)


@app.command()
def retention(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would be deleted.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete events older than their x-retention class (privacy.retention_classes) from raw, staging
    and row-level marts; aggregate marts keep their numbers. Prints what was (or would be) deleted."""
    emit(call("privacy_retention", dry_run=dry_run), as_json, _render_retention)


def _render_retention(report: dict[str, Any]) -> None:
    verb = "would delete" if report["dry_run"] else "deleted"
    for cls, info in report["classes"].items():
        rows = info.get("deleted", info.get("would_delete", {}))
        total = sum(rows.values())
        out.print(f"{cls:<14} keep {info['keep']:<5} before {info['cutoff'][:10]}: {verb} {total} rows"
                  + (f"  ({', '.join(f'{t} {n}' for t, n in rows.items())})" if rows else ""))
