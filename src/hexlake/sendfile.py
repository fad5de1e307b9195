"""``hexlake send FILE``: stream a JSON/NDJSON file of events through the gate in batches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from hexlake.config import Settings
from hexlake.errors import BadRequest
from hexlake.serve.client import session


def read_events(path: Path) -> list[Any]:
    """A JSON object, a JSON array, or NDJSON (bad lines are reported with their line number)."""
    raw = path.read_bytes()
    try:
        value = orjson.loads(raw)
        return value if isinstance(value, list) else [value]
    except orjson.JSONDecodeError:
        pass
    items = []
    for lineno, line in enumerate(raw.splitlines(), start=1):
        if line.strip():
            try:
                items.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                raise BadRequest(f"{path}:{lineno} is not valid JSON: {exc}", field="file") from exc
    return items


def _batches(items: list[Any], size: int) -> Iterator[tuple[int, list[Any]]]:
    for start in range(0, len(items), size):
        yield start, items[start:start + size]


def send_file(settings: Settings, path: Path, *, source: str, batch: int, progress: bool) -> dict[str, Any]:
    items = read_events(path)
    totals: dict[str, Any] = {"accepted": 0, "duplicates": 0, "quarantined": 0, "errors": []}
    columns = (TextColumn("sending"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with session(settings) as call, Progress(*columns, disable=not progress, transient=True) as bar:
        task = bar.add_task("send", total=len(items))
        for start, chunk in _batches(items, batch):
            r = call("send", items=chunk, source=source)
            for key in ("accepted", "duplicates", "quarantined"):
                totals[key] += r[key]
            totals["errors"].extend({**e, "index": e["index"] + start} for e in r["errors"])
            bar.advance(task, len(chunk))
    return totals
