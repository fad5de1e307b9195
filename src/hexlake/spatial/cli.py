"""``hexlake places``: the places registry from the command line (opens the places file itself).

The server notices changes made here within a second (it watches the file's data version).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from hexlake.config import Settings, load_settings
from hexlake.runtime import Runtime

if TYPE_CHECKING:
    from hexlake.spatial.places import PlacesService

app = typer.Typer(help="Places registry: add, change, remove, bulk load, list and search places.",
                  no_args_is_help=True)
out = Console()
err = Console(stderr=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _settings() -> Settings:
    try:
        from hexlake.cli import settings  # the root command's --data-dir, when mounted there

        return settings()
    except ImportError:
        return load_settings()


def _service() -> PlacesService:
    from hexlake.spatial.resources import places  # numpy/polars/h3: only when a command runs

    return places(Runtime(_settings()))


def _emit(data: Any, as_json: bool) -> None:
    sys.stdout.write(json.dumps(data, indent=None if as_json else 2, default=str) + "\n")


def _table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    t = Table()
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*("" if r.get(c) is None else str(r.get(c)) for c in columns))
    out.print(t)


def _attrs(values: list[str] | None) -> dict[str, str]:
    pairs = [v.split("=", 1) for v in values or []]
    bad = [v for v, p in zip(values or [], pairs, strict=True) if len(p) != 2]
    if bad:
        raise typer.BadParameter(f"attributes are KEY=VALUE (got {bad[0]!r})", param_hint="--attr")
    return {k: v for k, v in pairs}


@app.command("add")
def add(
    place_id: Annotated[str, typer.Argument(help="Unique id of the place.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    lat: Annotated[float, typer.Option(help="Latitude, degrees (-90..90).")],
    lng: Annotated[float, typer.Option(help="Longitude, degrees (-180..180).")],
    category: Annotated[str | None, typer.Option(help="Category, e.g. cafe.")] = None,
    attr: Annotated[list[str] | None, typer.Option(help="Extra attribute KEY=VALUE (repeatable).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create one place (fails if the id exists; use `update`)."""
    place = _service().create({"id": place_id, "name": name, "category": category, "lat": lat, "lng": lng,
                               "attributes": _attrs(attr)})
    _emit(place.to_json(), as_json)


@app.command("get")
def get(place_id: Annotated[str, typer.Argument(help="Id of the place.")], as_json: JsonOpt = False) -> None:
    """Show one place with its H3 cells and attributes."""
    _emit(_service().get(place_id).to_json(), as_json)


@app.command("update")
def update(
    place_id: Annotated[str, typer.Argument(help="Id of the place.")],
    name: Annotated[str | None, typer.Option(help="New name.")] = None,
    lat: Annotated[float | None, typer.Option(help="New latitude.")] = None,
    lng: Annotated[float | None, typer.Option(help="New longitude.")] = None,
    category: Annotated[str | None, typer.Option(help="New category.")] = None,
    attr: Annotated[list[str] | None, typer.Option(help="Attribute KEY=VALUE to set (repeatable).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change some fields of a place (attributes are merged)."""
    given = {"name": name, "lat": lat, "lng": lng, "category": category}
    data: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    if attr:
        data["attributes"] = _attrs(attr)
    _emit(_service().update(place_id, data).to_json(), as_json)


@app.command("delete")
def delete(place_id: Annotated[str, typer.Argument(help="Id of the place.")]) -> None:
    """Remove a place."""
    _service().delete(place_id)
    err.print(f"deleted {place_id}")


@app.command("list")
def list_(
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    after: Annotated[str | None, typer.Option(help="Start after this id (paging).")] = None,
    limit: Annotated[int, typer.Option(help="Most rows.")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """List places ordered by id."""
    rows = [p.to_json() for p in _service().page(category=category, after=after, limit=limit)]
    if as_json:
        _emit(rows, True)
    else:
        _table(rows, ["id", "name", "category", "lat", "lng", "h3_r9"])


@app.command("nearby")
def nearby(
    lat: Annotated[float, typer.Option(help="Latitude of the query point.")],
    lng: Annotated[float, typer.Option(help="Longitude of the query point.")],
    radius_m: Annotated[float, typer.Option("--radius-m", help="Radius in metres.")] = 500.0,
    limit: Annotated[int, typer.Option(help="Most places.")] = 20,
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Places within a radius (great circle on the sphere), nearest first."""
    rows = _service().nearby(lat, lng, radius_m, limit, category)
    if as_json:
        _emit(rows, True)
    else:
        _table(rows, ["id", "name", "category", "distance_m"])


@app.command("load")
def load(
    file: Annotated[Path, typer.Argument(help="CSV (id,name,category,lat,lng[,…]), .geojson or .geojsonl.",
                                         exists=True, dir_okay=False, readable=True)],
    batch: Annotated[int, typer.Option(help="Rows written per transaction.")] = 5_000,
    as_json: JsonOpt = False,
) -> None:
    """Bulk insert-or-replace places from a file, streamed; bad rows are listed with line numbers.

    Exits 1 when any row was refused (the good rows are still loaded).
    """
    service = _service()
    columns = [TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=err, disable=as_json) as bar:
        task = bar.add_task(f"loading {file.name}", total=file.stat().st_size)
        from hexlake.spatial.loader import load_file

        report = load_file(service, file, batch=batch, progress=lambda done: bar.update(task, completed=done))
    if as_json:
        _emit(report.to_json(), True)
    else:
        for bad in report.bad[:50]:
            err.print(f"[red]bad row[/] {bad['where']}: {bad['error']}", highlight=False)
        if len(report.bad) > 50:
            err.print(f"… and {len(report.bad) - 50} more bad rows (use --json to see all)")
        out.print(f"loaded {report.loaded} places, {len(report.bad)} bad rows")
    if report.bad:
        raise typer.Exit(code=1)


@app.command("cluster")
def cluster(as_json: JsonOpt = False) -> None:
    """Run the hotspot/region clustering once now (the server also runs it on a schedule)."""
    from hexlake.spatial.clustering import run_clustering

    _emit(run_clustering(Runtime(_settings())), as_json)
