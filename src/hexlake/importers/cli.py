"""``hexlake import``: import Google Takeout exports and follow their progress.

Imports run in this process and deliver through the same ``ingest`` path as the HTTP API (the
SQLite log takes writers from several processes). Interrupt one at any point and run the same
command again: it continues from its last checkpoint.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from hexlake.cli_common import JsonOpt, local_runtime, settings, table
from hexlake.config import Settings

app = typer.Typer(
    no_args_is_help=True,
    help="Import personal data exports (Google Takeout) through the gate, resumably.",
)
out = Console()


IMPORT_DEDUPE_WINDOW = 50_000


def _import_settings() -> Settings:
    """Settings whose gate remembers fewer recent ids: the importer's own seen-id index dedupes
    across batches and archives, and 50k ids (seeded from the log tail) still cover a batch re-sent
    after a crash. Keeps an import process's memory flat instead of growing to the 500k-id window.
    (Imports run in this process: they write only the log, which takes several writer processes.)"""
    s = settings()
    window = min(s.gate.dedupe_window, IMPORT_DEDUPE_WINDOW)
    return s.model_copy(update={"gate": s.gate.model_copy(update={"dedupe_window": window})})


class RichProgress:
    """Bytes read (of the files hexlake parses), MB/s, records/s and ETA."""

    def __init__(self, enabled: bool):
        self.bar = Progress(
            TextColumn("[bold]{task.fields[file]}", justify="left"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TextColumn("{task.fields[rate]:>8} rec/s"),
            TimeRemainingColumn(),
            disable=not enabled,
            transient=False,
        )
        self.task: TaskID | None = None
        self._t0 = time.monotonic()
        self._records = 0
        self._last = 0

    def start(self, total_bytes: int, done_bytes: int) -> None:
        self.bar.start()
        self.task = self.bar.add_task("import", total=total_bytes, completed=done_bytes, file="", rate="0")
        self._t0 = time.monotonic()

    def update(self, done_bytes: int, records: int, path: str) -> None:
        if self.task is None:
            return
        self._records += max(records - self._last, 0) if records >= self._last else records
        self._last = records
        rate = self._records / max(time.monotonic() - self._t0, 1e-6)
        name = path.rsplit("/", 1)[-1][:32]
        self.bar.update(self.task, completed=done_bytes, file=name, rate=f"{rate:,.0f}")

    def stop(self) -> None:
        self.bar.stop()


def _render(row: dict[str, Any]) -> None:
    out.print(
        f"[bold]{row['id']}[/] {row['status']}: {row['records']} records — {row['accepted']} new, "
        f"{row['duplicates']} duplicates, {row['quarantined']} quarantined, {row['errors']} refused"
    )
    if row.get("message"):
        out.print(f"  {row['message']}")
    if row.get("files"):
        rows = [{"file": f["path"], "format": f["format"], "status": f["status"], "records": f["records_done"],
                 "new": f["accepted"], "dup": f["duplicates"], "quar": f["quarantined"],
                 "sha256": (f["sha256"] or "")[:12]} for f in row["files"]]
        table(rows, ["file", "format", "status", "records", "new", "dup", "quar", "sha256"])


@app.command("takeout")
def takeout(
    path: Annotated[Path, typer.Argument(help="Takeout .zip/.tgz archive or the extracted folder.")],
    user: Annotated[str, typer.Option("--user", help="Id of the user who owns this export (hashed by the gate).")],
    include_bodies: Annotated[
        bool,
        typer.Option("--include-bodies", help="Also store mail subjects and bodies (cut at importers.max_body_bytes)."),
    ] = False,
    precise_location: Annotated[
        bool,
        typer.Option("--precise-location", help="Consent to keep exact coordinates (default: snapped to H3 r9 cells)."),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Read an archive again even if it was imported (records still dedupe).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the import as JSON, no progress bar.")] = False,
) -> None:
    """Import a Google Takeout export for USER: checked for safety first, streamed, resumable.

    Location History (Records.json, Semantic Location History, Timeline.json), My Activity,
    YouTube watch history, Chrome history and Gmail .mbox (headers only unless --include-bodies).
    Run the same command again after an interruption: it continues where it stopped; records already
    imported (from this or another archive) are counted as duplicates, never stored twice.
    """
    from hexlake.importers.runner import ImportOptions
    from hexlake.importers.service import get_importer

    bar = RichProgress(enabled=not as_json)
    try:
        with local_runtime(_import_settings()) as runtime:
            row = get_importer(runtime).import_path(
                path,
                user,
                ImportOptions(include_bodies=include_bodies, precise_location=precise_location),
                force=force,
                progress=bar,
            )
    finally:
        bar.stop()
    data = row.to_json()
    if as_json:
        sys.stdout.write(json.dumps(data) + "\n")
    else:
        _render(data)


@app.command("status")
def status(
    import_id: Annotated[
        str | None, typer.Argument(help="An import id (imp_…); all recent imports if omitted.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show imports with status, progress and counters (one import: also its files and checkpoints)."""
    from hexlake.importers.store import ImportStore

    store = ImportStore(settings().paths.imports_db)
    try:
        if import_id is not None:
            data: Any = store.get(import_id).to_json()
        else:
            data = [r.to_json() for r in store.list_imports()]
    finally:
        store.close()
    if as_json:
        sys.stdout.write(json.dumps(data) + "\n")
    elif import_id is not None:
        _render(data)
    else:
        rows = [{"id": r["id"], "status": r["status"], "progress": f"{r['progress'] * 100:.0f}%",
                 "records": r["records"], "new": r["accepted"], "dup": r["duplicates"], "quar": r["quarantined"],
                 "created": r["created_at"][:19], "source": r["source_path"]} for r in data]
        table(rows, ["id", "status", "progress", "records", "new", "dup", "quar", "created", "source"])


@app.command("resume")
def resume(
    import_id: Annotated[str, typer.Argument(help="The interrupted or failed import (imp_…).")],
    user: Annotated[str, typer.Option("--user", help="The same user id the import was started with.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the import as JSON, no progress bar.")] = False,
) -> None:
    """Continue an interrupted import from its checkpoints (e.g. one started by an upload)."""
    from hexlake.errors import Conflict
    from hexlake.importers.archive import inspect_source
    from hexlake.importers.service import get_importer

    bar = RichProgress(enabled=not as_json)
    try:
        with local_runtime(_import_settings()) as runtime:
            importer = get_importer(runtime)
            row = importer.store.get(import_id)
            if row.status in ("done", "skipped", "refused"):
                raise Conflict(f"import {import_id} is {row.status}; nothing to resume", field="id")
            insp = inspect_source(Path(row.source_path), importer.config)
            row = importer.run(import_id, insp, user, progress=bar)
    finally:
        bar.stop()
    data = row.to_json()
    if as_json:
        sys.stdout.write(json.dumps(data) + "\n")
    else:
        _render(data)
