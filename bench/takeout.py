"""Takeout import benchmark: a generated Records.json (1 GB; --quick 20 MB) and a mixed archive.

Measures, in the same run:
* ceiling — ijson (yajl2_c) alone iterating ``locations.item`` over the file (no mapping);
* parser — hexlake's Records.json parser (ijson + mapping to native records), no delivery;
* end to end — ``hexlake import takeout`` in a subprocess on a fresh data dir: archive checks and
  SHA-256, parsing, event ids, seen index, ``ingest`` (gate + quarantine + durable SQLite log
  append) and checkpoints; records/s, MB/s and the subprocess's peak RSS.
Run: ``.venv/bin/python -m bench.takeout [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import ijson

from bench._common import write_result
from hexlake.importers.formats._common import ParseOptions
from hexlake.importers.formats.location import parse_records
from hexlake.importers.streams import Utf8Repair
from hexlake.privacy.secret import create_secret


def _entry(rng: random.Random, i: int) -> bytes:
    ms = 1_400_000_000_000 + i * 30_000
    entry: dict[str, Any] = {
        "latitudeE7": 486000000 + rng.randint(-500000, 500000),
        "longitudeE7": 23500000 + rng.randint(-500000, 500000),
        "accuracy": rng.randint(3, 60),
        "source": rng.choice(["WIFI", "GPS", "CELL"]),
        "deviceTag": 123456789,
        "platformType": "ANDROID",
    }
    if i % 2:
        entry["timestampMs"] = str(ms)
    else:
        entry["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + ".000Z"
    if i % 5 == 0:
        entry["activity"] = [
            {
                "activity": [{"type": "STILL", "confidence": 80}, {"type": "ON_FOOT", "confidence": 20}],
                "timestampMs": str(ms),
            }
        ]
    return json.dumps(entry).encode()


def generate_records(path: Path, target_bytes: int) -> int:
    """Write ``{"locations": [...]}`` of about ``target_bytes``, streaming; return the record count."""
    rng = random.Random(7)
    n = 0
    with path.open("wb") as f:
        f.write(b'{"locations": [\n')
        written = 16
        while written < target_bytes:
            chunk = b",\n".join(_entry(rng, n + k) for k in range(1000))
            f.write((b",\n" if n else b"") + chunk)
            written += len(chunk) + 2
            n += 1000
        f.write(b"\n]}\n")
    return n


def mixed_archive(path: Path, records_json: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.importers import fixtures as fx

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.write(records_json, "Takeout/Location History/Records.json")
        for m in range(12):
            zf.writestr(
                f"Takeout/Location History/Semantic Location History/2019/2019_{m:02d}.json", fx.semantic_json(200 + m)
            )
        zf.writestr("Takeout/My Activity/Search/MyActivity.json", fx.my_activity_json() * 1)
        zf.writestr("Takeout/YouTube and YouTube Music/history/watch-history.json", fx.watch_history_json())
        zf.writestr("Takeout/Chrome/BrowserHistory.json", fx.browser_history_json())
        zf.writestr("Takeout/Mail/All mail Including Spam and Trash.mbox", fx.mbox_bytes(9))
        zf.writestr("Takeout/Timeline.json", fx.timeline_json())


def ceiling(path: Path) -> dict[str, float]:
    t0 = time.perf_counter()
    n = 0
    with path.open("rb") as f:
        for _ in ijson.items(f, "locations.item", use_float=True):
            n += 1
    s = time.perf_counter() - t0
    return {
        "records": n,
        "seconds": round(s, 2),
        "records_per_s": round(n / s),
        "mb_per_s": round(path.stat().st_size / 2**20 / s, 1),
    }


def parser_only(path: Path) -> dict[str, float]:
    t0 = time.perf_counter()
    n = 0
    with path.open("rb") as f:
        for _ in parse_records(Utf8Repair(f), ParseOptions()):
            n += 1
    s = time.perf_counter() - t0
    return {
        "records": n,
        "seconds": round(s, 2),
        "records_per_s": round(n / s),
        "mb_per_s": round(path.stat().st_size / 2**20 / s, 1),
    }


def end_to_end(source: Path, work: Path, name: str) -> dict[str, Any]:
    data_dir = work / f"data_{name}"
    create_secret(data_dir / "secret.key")
    cmd = [
        sys.executable,
        "-m",
        "hexlake.cli",
        "--data-dir",
        str(data_dir),
        "import",
        "takeout",
        str(source),
        "--user",
        "bench-user",
        "--json",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    s = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"import failed: {proc.stderr[-2000:]}")
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    row = json.loads(proc.stdout)
    size = source.stat().st_size
    return {
        "status": row["status"],
        "records": row["records"],
        "accepted": row["accepted"],
        "quarantined": row["quarantined"],
        "seconds": round(s, 2),
        "records_per_s": round(row["records"] / s),
        "mb_per_s": round(row["total_bytes"] / 2**20 / s, 2),
        "archive_mb": round(size / 2**20, 1),
        "uncompressed_mb": round(row["total_bytes"] / 2**20, 1),
        "peak_rss_mb": round(max(peak_kib, before) / 1024, 1),
    }


_BASELINE = """
import resource, sys
from pathlib import Path
import hexlake.cli
from hexlake.config import Settings
from hexlake.runtime import Runtime
from hexlake.collect.ingest import runtime_gate
from hexlake.importers.service import get_importer
rt = Runtime(Settings(data_dir=Path(sys.argv[1])))
runtime_gate(rt); get_importer(rt)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def baseline_rss_mb(work: Path) -> float:
    """Peak RSS of a CLI process that loaded hexlake, the gate and the importer but read nothing."""
    data_dir = work / "data_baseline"
    create_secret(data_dir / "secret.key")
    proc = subprocess.run([sys.executable, "-c", _BASELINE, str(data_dir)], capture_output=True, text=True, check=True)
    return round(int(proc.stdout.strip().splitlines()[-1]) / 1024, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="20 MB instead of 1 GB.")
    ap.add_argument("--mb", type=int, default=None, help="Records.json size in MB (overrides --quick).")
    ap.add_argument("--workdir", type=Path, default=None, help="Where to generate files (default: a temp dir).")
    args = ap.parse_args()
    mb = args.mb or (20 if args.quick else 1024)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="hexlake-bench-takeout-"))
    work.mkdir(parents=True, exist_ok=True)
    folder = work / "export" / "Takeout" / "Location History"
    folder.mkdir(parents=True, exist_ok=True)
    records_json = folder / "Records.json"
    t0 = time.perf_counter()
    n = generate_records(records_json, mb * 2**20)
    print(f"generated {records_json} ({mb} MB, {n} records) in {time.perf_counter() - t0:.1f}s", flush=True)
    result: dict[str, Any] = {"records_json_mb": mb, "records": n, "load_avg_before": os.getloadavg()}
    result["baseline_rss_mb"] = baseline_rss_mb(work)
    result["ceiling_ijson"] = ceiling(records_json)
    print("ceiling", result["ceiling_ijson"], flush=True)
    result["parser_only"] = parser_only(records_json)
    print("parser", result["parser_only"], flush=True)
    result["end_to_end_records_json"] = end_to_end(work / "export", work, "records")
    print("e2e", result["end_to_end_records_json"], flush=True)
    small = folder.parent.parent.parent / "mixed_records.json"
    generate_records(small, min(mb, 20) * 2**20 // 4)
    archive = work / "mixed.zip"
    mixed_archive(archive, small)
    result["end_to_end_mixed_zip"] = end_to_end(archive, work, "mixed")
    print("mixed", result["end_to_end_mixed_zip"], flush=True)
    for key in ("end_to_end_records_json", "end_to_end_mixed_zip"):
        part = result[key]
        part["import_rss_over_baseline_mb"] = round(part["peak_rss_mb"] - result["baseline_rss_mb"], 1)
    e2e = result["end_to_end_records_json"]["records_per_s"]
    result["ratio_e2e_to_ceiling"] = round(e2e / result["ceiling_ijson"]["records_per_s"], 3)
    result["ratio_e2e_to_parser"] = round(e2e / result["parser_only"]["records_per_s"], 3)
    result["load_avg_after"] = os.getloadavg()
    out = write_result("takeout" if mb >= 1024 else f"takeout_{mb}mb", result)
    print(json.dumps({k: v for k, v in result.items()}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
