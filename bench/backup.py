"""Backup and restore of a data dir holding N events with every layer populated (log, raw, marts,
online store, stream state): ``hexlake backup create``, ``verify`` and ``restore`` times, archive
size against the data dir's size (issue 19: backup and restore time for 1M events).

    .venv/bin/python -m bench.backup                # 1M events
    .venv/bin/python -m bench.backup --quick        # smoke run: 3,000 events, numbers not meaningful
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import machine_info, write_result
from bench.privacy import events, populate
from hexlake.config import Settings
from hexlake.runtime import Runtime
from hexlake.serve import operations as ops
from hexlake.setup import initialise


def dir_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and "backups" not in p.parts)


def timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3,000 events: a smoke run")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--users", type=int, default=2_000)
    args = ap.parse_args()
    n = 3_000 if args.quick else args.events
    tmp = Path(tempfile.mkdtemp(prefix="hexlake-bench-backup-"))
    try:
        settings = Settings(data_dir=tmp / "data")
        initialise(settings)
        runtime = Runtime(settings)
        ops.get("sources_create")(runtime, name="bench")
        fill = populate(runtime, events(n, args.users, heavy=0))
        create_s, info = timed(lambda: ops.get("backup_create")(runtime))
        verify_s, check = timed(lambda: ops.get("backup_verify")(runtime, id=info["id"]))
        assert check["ok"], check
        restore_s, _done = timed(lambda: ops.get("backup_restore")(runtime, id=info["id"],
                                                                   target=str(tmp / "restored")))
        result = {"events": n, "rows_in_backup": info["rows"], "files": info["files"],
                  "data_dir_bytes": dir_size(settings.paths.root), "archive_bytes": info["size"],
                  "create_s": create_s, "verify_s": verify_s, "restore_s": restore_s,
                  "populate": fill, "quick": args.quick, "machine": machine_info()}
        runtime.close()
        print(f"{n:,} events ({info['rows']:,} rows in {info['files']} files): create {create_s:.2f} s, "
              f"verify {verify_s:.2f} s, restore {restore_s:.2f} s; archive {info['size']:,} B "
              f"of {result['data_dir_bytes']:,} B")
        if not args.quick:
            print(f"wrote {write_result('backup', result)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
