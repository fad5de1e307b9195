"""``hexlake backup create|list|verify|restore``: online snapshots of the data dir.

Every command goes through ``cli_common.call``: a running server owns the warehouse file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hexlake.cli_common import JsonOpt, call, emit, out, table

app = typer.Typer(no_args_is_help=True, help="Backups: create, list, verify, restore.")

IdArg = Annotated[str, typer.Argument(help="The backup's id, as `hexlake backup list` shows it.")]


@app.command()
def create(as_json: JsonOpt = False) -> None:
    """Snapshot every store of the data dir (online) into a checksummed archive; prune expired ones."""
    info = call("backup_create")
    emit(info, as_json, lambda i: out.print(
        f"backup {i['id']} ({i['class']}): {i['files']} files, {i['rows']} rows, {i['size']} bytes"
        + (f"; pruned {', '.join(i['pruned'])}" if i["pruned"] else "")))


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """The backups, oldest first."""
    rows = call("backup_list")
    emit(rows, as_json, lambda rows: table(rows, ["id", "class", "created_at", "files", "rows", "size"]))


@app.command()
def verify(backup_id: IdArg, as_json: JsonOpt = False) -> None:
    """Check an archive against its checksums; exit 1 if it is damaged."""
    report = call("backup_verify", id=backup_id)
    emit(report, as_json, _render_verify)
    if not report["ok"]:
        raise typer.Exit(1)


def _render_verify(report: dict[str, Any]) -> None:
    if report["ok"]:
        out.print(f"backup {report['id']} is intact ({report['files_checked']} files checked)")
    else:
        out.print(f"backup {report['id']} is DAMAGED:")
        for problem in report["problems"]:
            out.print(f"  {problem}")


@app.command()
def restore(
    backup_id: IdArg,
    target: Annotated[Path, typer.Option("--target", help="A new or empty folder for the restored data dir.")],
    as_json: JsonOpt = False,
) -> None:
    """Rebuild a data dir from a verified backup (never over the live one)."""
    info = call("backup_restore", id=backup_id, target=str(target.resolve()))
    emit(info, as_json, lambda i: out.print(
        f"restored {i['id']} into {i['target']}: {i['files']} files, {i['rows']} rows"))
