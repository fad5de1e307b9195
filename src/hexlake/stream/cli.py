"""``hexlake geofences``: create, list and delete geofences (also served at /v1/geofences).

Geofences live in the stream state file (SQLite), which a running server reads too, so these
commands work with or without a server: the consumers pick changes up on their next batch.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from hexlake.cli_common import JsonOpt, emit, table
from hexlake.errors import BadRequest

if TYPE_CHECKING:
    from hexlake.stream.geofence_store import GeofenceStore

geofences_app = typer.Typer(
    help="Geofences: circles or GeoJSON polygons whose enter/exit by users become events.",
    no_args_is_help=True,
)


def _store() -> GeofenceStore:
    from hexlake.cli_common import settings
    from hexlake.stream.geofence_store import GeofenceStore
    from hexlake.stream.state import stream_db_path

    return GeofenceStore(stream_db_path(settings()))


def _print(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=str) + "\n")


@geofences_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="Human name of the geofence.")],
    lat: Annotated[float | None, typer.Option("--lat", help="Circle centre latitude.")] = None,
    lng: Annotated[float | None, typer.Option("--lng", help="Circle centre longitude.")] = None,
    radius_m: Annotated[float | None, typer.Option("--radius-m", help="Circle radius in metres.")] = None,
    geojson: Annotated[Path | None, typer.Option(
        "--geojson", help="File with a GeoJSON Polygon/MultiPolygon (or a Feature holding one).")] = None,
    metadata: Annotated[str | None, typer.Option("--metadata", help="JSON object stored with the fence.")] = None,
    webhook_url: Annotated[str | None, typer.Option(
        "--webhook-url", help="POST signed enter/exit events to this URL.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a geofence: a circle (--lat --lng --radius-m) or a polygon (--geojson FILE)."""
    body: dict[str, Any] = {"name": name, "lat": lat, "lng": lng, "radius_m": radius_m,
                            "metadata": _json_arg(metadata, "metadata") if metadata else {},
                            "webhook_url": webhook_url}
    if geojson is not None:
        geom = _json_arg(geojson.read_text() if geojson.exists() else "", "geojson")
        body["geometry"] = geom.get("geometry", geom) if isinstance(geom, dict) else geom
    fence = _store().create(body)
    if as_json:
        _print(fence.public())
    else:
        Console().print(f"Created geofence [bold]{fence.id}[/] ({fence.kind} '{fence.name}')")


@geofences_app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """List every geofence."""
    fences = [f.public() for f in _store().list()]
    rows = [{**f, "where": f"{f['lat']},{f['lng']} r={f['radius_m']} m" if f["kind"] == "circle"
             else f["geometry"]["type"]} for f in fences]
    emit(fences, as_json, lambda _: table(rows, ["id", "name", "kind", "where", "webhook_url"], title="geofences"))


@geofences_app.command("delete")
def delete(fence_id: Annotated[str, typer.Argument(help="Id of the geofence to delete.")]) -> None:
    """Delete a geofence (users inside it get no exit event)."""
    _store().delete(fence_id)
    Console().print(f"Deleted geofence {fence_id}")


@geofences_app.command("webhook-key")
def webhook_key_cmd() -> None:
    """Print the key that signs webhook bodies (X-Hexlake-Signature), to verify them on your side."""
    from hexlake.cli_common import settings
    from hexlake.privacy.secret import load_secret
    from hexlake.stream.webhooks import webhook_key

    sys.stdout.write(webhook_key(load_secret(settings().paths.secret)).decode() + "\n")


def _json_arg(text: str, field: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"--{field} is not valid JSON: {exc}", field=field) from exc
