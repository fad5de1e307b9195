"""``hexlake places``: the places registry from the command line.

Every command but ``load`` goes through ``cli_common.call`` (the server when one runs). ``load``
streams a local file with a progress bar into the places file itself; a running server notices the
change within a second (it watches the file's data version).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from hexlake.cli_common import JsonOpt, call, emit, err, local_runtime, out, table

app = typer.Typer(help="Places registry: add, change, remove, bulk load, list and search places.",
                  no_args_is_help=True)


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
    place = {"id": place_id, "name": name, "category": category, "lat": lat, "lng": lng, "attributes": _attrs(attr)}
    emit(call("places_add", place=place), as_json)


@app.command("get")
def get(place_id: Annotated[str, typer.Argument(help="Id of the place.")], as_json: JsonOpt = False) -> None:
    """Show one place with its H3 cells and attributes."""
    emit(call("places_get", place_id=place_id), as_json)


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
    emit(call("places_update", place_id=place_id, changes=data), as_json)


@app.command("delete")
def delete(place_id: Annotated[str, typer.Argument(help="Id of the place.")]) -> None:
    """Remove a place."""
    call("places_delete", place_id=place_id)
    err.print(f"deleted {place_id}")


@app.command("list")
def list_(
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    after: Annotated[str | None, typer.Option(help="Start after this id (paging).")] = None,
    limit: Annotated[int, typer.Option(help="Most rows.")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """List places ordered by id."""
    rows = call("places_list", category=category, after=after, limit=limit)
    emit(rows, as_json, lambda rows: table(rows, ["id", "name", "category", "lat", "lng", "h3_r9"]))


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
    rows = call("places_nearby", lat=lat, lng=lng, radius_m=radius_m, limit=limit, category=category)
    emit(rows, as_json, lambda rows: table(rows, ["id", "name", "category", "distance_m"]))


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
    from hexlake.spatial.loader import load_file
    from hexlake.spatial.resources import places

    columns = [TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn()]
    with local_runtime() as runtime, Progress(*columns, console=err, disable=as_json) as bar:
        task = bar.add_task(f"loading {file.name}", total=file.stat().st_size)
        report = load_file(places(runtime), file, batch=batch,
                           progress=lambda done: bar.update(task, completed=done))
    if as_json:
        emit(report.to_json(), True)
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
    emit(call("places_cluster"), as_json)
