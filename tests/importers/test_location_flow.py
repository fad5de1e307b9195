"""Imported location history (years old) reaches raw_events, the heatmap and clustering."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from hexlake.importers.runner import ImportOptions
from hexlake.importers.service import get_importer
from hexlake.runtime import Runtime
from hexlake.serve import operations
from hexlake.spatial.clustering import run_clustering
from hexlake.spatial.heatmap import heatmap
from tests.importers import fixtures as fx

PARIS = (48.8566, 2.3522)


def records(user: int) -> bytes:
    # Ten pings a few metres apart per user, on 2017-07-14 (fx.BASE_MS).
    locations = [{"latitudeE7": int((PARIS[0] + 1e-5 * i) * 1e7), "longitudeE7": int((PARIS[1] + 1e-5 * user) * 1e7),
                  "accuracy": 5, "timestampMs": str(fx.BASE_MS + (user * 10 + i) * 60_000)} for i in range(10)]
    return json.dumps({"locations": locations}).encode()


def test_imported_location_history_feeds_heatmap_and_clustering(runtime: Runtime, tmp_path: Path) -> None:
    importer = get_importer(runtime)
    for user in range(6):  # k = 5 distinct people needed
        path = fx.write_dir(tmp_path / f"u{user}", {"Takeout/Location History/Records.json": records(user)})
        importer.import_path(path, f"user-{user}", ImportOptions(precise_location=True))
    assert operations.load_once(runtime)["rows"] == 60
    fc = heatmap(runtime, res=9, start=datetime(2017, 7, 14, tzinfo=UTC), end=datetime(2017, 7, 15, tzinfo=UTC))
    assert sum(f["properties"]["events"] for f in fc["features"]) == 60
    counts = run_clustering(runtime)  # now: the history arrived just now
    assert counts["pings"] == 60 and counts["hotspots"] == 1
