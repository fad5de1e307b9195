"""Kill -9 an import in a subprocess mid-way; running it again loses and duplicates nothing."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hexlake.config import Settings
from hexlake.privacy.secret import create_secret
from hexlake.runtime import Runtime
from tests.importers import fixtures as fx
from tests.importers.conftest import log_events

N = 6000


def _records_done(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            row = conn.execute("SELECT COALESCE(SUM(records_done), 0) FROM import_files").fetchone()
    except sqlite3.OperationalError:
        return 0
    return int(row[0])


def _cli(data_dir: Path, archive: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "hexlake.cli",
        "--data-dir",
        str(data_dir),
        "import",
        "takeout",
        str(archive),
        "--user",
        "alice",
        "--json",
    ]


@pytest.mark.slow
def test_sigkill_mid_import_then_rerun_gives_every_record_exactly_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    create_secret(data_dir / "secret.key")
    archive = fx.write_zip(tmp_path / "takeout.zip", {"Takeout/Location History/Records.json": fx.records_json(N)})
    env = {**os.environ, "HEXLAKE_IMPORTERS__BATCH_SIZE": "250"}
    proc = subprocess.Popen(_cli(data_dir, archive), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _records_done(data_dir / "imports.sqlite") < 1000 and proc.poll() is None:
        assert time.monotonic() < deadline, "the import made no progress"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = _records_done(data_dir / "imports.sqlite")
    assert 0 < killed_at < N, "the import must be killed half-way for this test to mean anything"

    rerun = subprocess.run(_cli(data_dir, archive), env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    import json

    row = json.loads(rerun.stdout)
    assert row["status"] == "done"
    assert row["records"] == N  # counted once per record across both runs

    runtime = Runtime(Settings(data_dir=data_dir))
    try:
        events = log_events(runtime)
    finally:
        runtime.close()
    assert len(events) == N
    assert len({e.event_id for e in events}) == N
