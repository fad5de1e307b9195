"""A consumer killed with SIGKILL and restarted ends with exactly the results of an uninterrupted run."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from hexlake.log import open_log
from tests.stream.fakes import T0, append_events, make_event

N_EVENTS = 2500


def events() -> list:
    rng = random.Random(3)
    out = []
    for i in range(N_EVENTS):
        ts = T0 + i * 0.9 + rng.uniform(0, 30)  # ~1 hour, disorder well inside the 60 s lateness
        kind = rng.choice(["location_ping", "place_interaction", "page"])
        loc = kind != "page"
        out.append(make_event(
            f"e{i:05d}", round(ts, 3), user=f"u{rng.randrange(40)}", event_type=kind,
            lat=37.7 + rng.uniform(0, 0.1) if loc else None, lng=-122.4 + rng.uniform(0, 0.1) if loc else None,
            place=f"p{rng.randrange(30)}" if kind == "place_interaction" else None, session=f"s{i // 200}"))
    return out


def worker(data_dir: Path, *, until_idle: bool) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HEXLAKE_STREAM__BATCH_SIZE": "25", "HEXLAKE_LOG__VISIBILITY_TIMEOUT_S": "1",
           "HEXLAKE_STREAM__IDLE_SLEEP_S": "0.02"}
    args = [sys.executable, "-m", "hexlake.stream.worker", "--data-dir", str(data_dir), "--only",
            "counters,features"] + (["--until-idle"] if until_idle else [])
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def processed(data_dir: Path) -> int:
    total = 0
    for path in (data_dir / "stream").glob("*.sqlite"):
        try:
            conn = sqlite3.connect(path, timeout=5)
            total += int(conn.execute("SELECT sum(events) FROM consumer_meta").fetchone()[0] or 0)
            conn.close()
        except sqlite3.OperationalError:
            pass
    return total


def snapshot(data_dir: Path) -> tuple[list, list, list]:
    s = sqlite3.connect(data_dir / "stream.sqlite")
    counters = s.execute("SELECT k, v, expires_at FROM counters ORDER BY k").fetchall()
    o = sqlite3.connect(data_dir / "online.sqlite")
    online = o.execute("SELECT entity, value FROM online_features ORDER BY entity").fetchall()
    w = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    offline = w.execute("SELECT * EXCLUDE (computed_at) FROM features_user_window ORDER BY ALL").fetchall()
    return counters, online, offline


@pytest.mark.slow
def test_sigkill_and_restart_gives_the_same_counters_and_features(tmp_path: Path) -> None:
    evs = events()
    dirs = [tmp_path / "straight", tmp_path / "killed"]
    for d in dirs:
        d.mkdir()
        log = open_log(f"sqlite:///{d / 'log.sqlite'}")
        append_events(log, evs)
        log.close()

    ref = worker(dirs[0], until_idle=True)
    assert ref.wait(timeout=120) == 0, ref.stderr.read() if ref.stderr else ""

    for target in (0.25, 0.6):  # kill twice, mid-stream
        proc = worker(dirs[1], until_idle=False)
        deadline = time.monotonic() + 60
        while processed(dirs[1]) < target * 2 * N_EVENTS and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert 0 < processed(dirs[1]) < 2 * N_EVENTS  # really interrupted mid-way
    final = worker(dirs[1], until_idle=True)
    assert final.wait(timeout=120) == 0, final.stderr.read() if final.stderr else ""

    counters, online, offline = snapshot(dirs[0])
    assert len(counters) > 100 and len(online) == 40 and len(offline) > 50
    assert snapshot(dirs[1]) == (counters, online, offline)
