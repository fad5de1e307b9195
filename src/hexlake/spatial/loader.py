"""Streaming bulk load of places from CSV, GeoJSON (FeatureCollection) or GeoJSON lines.

Rows are parsed one at a time, validated, and written in batches (H3 computed per batch); bad rows
are collected with their line number (CSV, GeoJSON lines) or feature index (GeoJSON) and reason.
CSV columns: ``id,name,category,lat,lng`` and any extra columns, kept as string attributes.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ijson

from hexlake.errors import BadRequest, HexlakeError
from hexlake.spatial.places import PlacesService, check_place_fields

REQUIRED = ("id", "name", "lat", "lng")
Row = tuple[str, dict[str, Any] | None, str | None]  # (where, fields, error)


@dataclass
class LoadReport:
    loaded: int = 0
    bad: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"loaded": self.loaded, "bad_rows": len(self.bad), "errors": self.bad}


def _fields(data: dict[str, Any]) -> dict[str, Any]:
    try:
        return check_place_fields(data)
    except BadRequest as exc:
        raise ValueError(exc.message) from exc


def _number(value: Any, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number (got {value!r}).") from None


def csv_rows(stream: io.TextIOBase) -> Iterator[Row]:
    reader = csv.DictReader(stream)
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise HexlakeError(f"CSV header lacks column(s) {', '.join(missing)}; expected id,name,category,lat,lng[,…].")
    for raw in reader:
        where = f"line {reader.line_num}"
        try:
            if None in raw:
                raise ValueError("row has more values than the header has columns.")
            extra = {k: v for k, v in raw.items() if k not in (*REQUIRED, "category") and v not in (None, "")}
            data = {"id": raw["id"], "name": raw["name"], "category": raw.get("category") or None,
                    "lat": _number(raw["lat"], "lat"), "lng": _number(raw["lng"], "lng"), "attributes": extra}
            yield where, _fields(data), None
        except ValueError as exc:
            yield where, None, str(exc)


def _feature(feature: Any) -> dict[str, Any]:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise ValueError("not a GeoJSON Feature.")
    geom = feature.get("geometry") or {}
    coords = geom.get("coordinates")
    if geom.get("type") != "Point" or not isinstance(coords, list) or len(coords) < 2:
        raise ValueError("geometry must be a Point with [lng, lat] coordinates.")
    props = dict(feature.get("properties") or {})
    pid = props.pop("id", feature.get("id"))
    data = {"id": str(pid) if isinstance(pid, (int, float)) else pid, "name": props.pop("name", None),
            "category": props.pop("category", None), "lat": _number(coords[1], "lat"),
            "lng": _number(coords[0], "lng"), "attributes": props}
    return _fields(data)


def geojson_rows(stream: io.BufferedIOBase) -> Iterator[Row]:
    for i, feature in enumerate(ijson.items(stream, "features.item", use_float=True)):
        try:
            yield f"feature {i}", _feature(feature), None
        except ValueError as exc:
            yield f"feature {i}", None, str(exc)


def geojsonl_rows(stream: io.TextIOBase) -> Iterator[Row]:
    for n, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            yield f"line {n}", _feature(json.loads(line)), None
        except json.JSONDecodeError as exc:
            yield f"line {n}", None, f"not JSON: {exc.msg}."
        except ValueError as exc:
            yield f"line {n}", None, str(exc)


def load_file(service: PlacesService, path: Path, *, batch: int = 5_000,
              progress: Callable[[int], None] | None = None) -> LoadReport:
    """Load ``path`` into the registry; ``progress(bytes_read)`` is called after each batch."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".geojson", ".json", ".geojsonl", ".geojsons", ".ndjson", ".jsonl"):
        raise HexlakeError(f"{path.name}: unknown file type; use .csv, .geojson or .geojsonl.")
    report = LoadReport()
    with path.open("rb") as raw:
        text: io.TextIOWrapper | None = None  # held here: a collected wrapper would close ``raw``
        if suffix == ".csv":
            rows = csv_rows(text := io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""))
        elif suffix in (".geojson", ".json"):
            rows = geojson_rows(raw)
        else:
            rows = geojsonl_rows(text := io.TextIOWrapper(raw, encoding="utf-8"))
        pending: list[dict[str, Any]] = []
        try:
            for where, fields, error in rows:
                if error is not None or fields is None:
                    report.bad.append({"where": where, "error": error})
                    continue
                pending.append(fields)
                if len(pending) >= batch:
                    report.loaded += service.upsert_many(pending)
                    pending = []
                    if progress:
                        progress(raw.tell())
        except (ijson.JSONError, UnicodeDecodeError) as exc:
            report.bad.append({"where": "file", "error": f"unreadable: {exc}"})
        report.loaded += service.upsert_many(pending)
        if progress:
            progress(path.stat().st_size)
        if text is not None:
            text.detach()
    return report


__all__ = ["LoadReport", "load_file"]
