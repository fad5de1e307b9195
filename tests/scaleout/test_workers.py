"""Horizontal scale-out: two collectors and two workers on one shared log; one worker is SIGKILLed.

The marts must come out exactly as with one uninterrupted worker: ``raw_events`` (a PostgreSQL
warehouse, since several workers load at once) holds every accepted event once, with the same
counts per event type and user as a single in-process loader reading the same log from the start.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from hexlake.config import Settings
from hexlake.log import open_log
from hexlake.warehouse import make_raw_loader, open_warehouse

from ..client.server import HEXLAKE, ROOT, HexlakeServer
from .test_pg_marts import normal

pytestmark = [pytest.mark.services, pytest.mark.slow]

EVENTS = 1500
BATCH = 100


class SharedServer(HexlakeServer):
    """``hexlake serve --no-background`` with the shared log/warehouse URLs in its environment."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        super().__init__(data_dir)
        self.extra = env

    def _env(self) -> dict[str, str]:
        return {**super()._env(), **self.extra}


START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)


def make_events(n: int) -> list[dict[str, Any]]:
    start = START
    kinds = [("page", {"name": "home"}), ("screen", {"name": "map"}), ("track", {"event": "tap"})]
    out = []
    for i in range(n):
        kind, props = kinds[i % 3]
        out.append({"event_id": f"ev-{i:05d}", "event_type": kind, "user_id": f"user-{i % 37}",
                    "timestamp": (start + timedelta(seconds=37 * i)).isoformat(), "properties": props})
    return out


def start_worker(data_dir: Path, env: dict[str, str], log_file: Path) -> subprocess.Popen[bytes]:
    with log_file.open("ab") as err:
        return subprocess.Popen([*HEXLAKE, "worker", "--only", "loader,counters"], cwd=ROOT,
                                env={**os.environ, **env, "HEXLAKE_DATA_DIR": str(data_dir)},
                                stdout=subprocess.DEVNULL, stderr=err)


def raw_count(wh: Any) -> int:
    return int(wh.cursor().execute("SELECT count(*) FROM raw_events").fetchone()[0])


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


MART = "marts.marts_core_user_activity_daily"


def build_mart(settings: Settings) -> list[tuple[str | None, ...]]:
    """Run every SQLMesh model on the settings' warehouse; the mart's rows in one text form."""
    from hexlake.transform.engine import TransformEngine

    engine = TransformEngine(settings)
    report = engine.run(execution_time=START + timedelta(days=2))
    engine.close()
    assert report.ok, report.error
    wh = open_warehouse(settings.resolved_warehouse_url())
    cur = wh.cursor().execute(f"SELECT * FROM {MART}")
    rows = sorted(tuple(normal(v) for v in r) for r in cur.fetchall())
    wh.close()
    assert rows, f"{MART} is empty"
    return rows


@pytest.mark.parametrize("log_kind", ["postgresql", "redis", "nats", "nats-durable"])
def test_two_collectors_two_workers_and_a_sigkill_give_the_same_marts(
        log_kind: str, tmp_path: Path, pg_url: str, request: pytest.FixtureRequest) -> None:
    if log_kind == "postgresql":
        log_url = pg_url
    elif log_kind == "nats-durable":  # groups as JetStream durable consumers (docs/log.md)
        log_url = request.getfixturevalue("nats_url") + "?groups=durable"
    else:
        log_url = request.getfixturevalue(f"{log_kind}_url")
    env = {"HEXLAKE_LOG_URL": log_url, "HEXLAKE_WAREHOUSE_URL": pg_url,
           "HEXLAKE_LOG__VISIBILITY_TIMEOUT_S": "3", "HEXLAKE_WAREHOUSE__LOADER_BATCH": "150",
           "HEXLAKE_WAREHOUSE__LOADER_INTERVAL_S": "0.1"}
    first = SharedServer(tmp_path / "c1", env)
    first.init()
    dirs = {name: tmp_path / name for name in ("c2", "w1", "w2")}
    for path in dirs.values():  # same secret and keys everywhere: user keys hash alike
        shutil.copytree(first.data_dir, path)
    second = SharedServer(dirs["c2"], env)
    second.keys = first.keys
    procs: list[subprocess.Popen[bytes]] = []
    wh = open_warehouse(pg_url)
    try:
        for server in (first, second):
            server.start()
        workers = [start_worker(dirs[w], env, tmp_path / f"{w}.log") for w in ("w1", "w2")]
        procs += workers
        events = make_events(EVENTS)
        headers = {"Authorization": f"Bearer {first.write_key}"}
        for i in range(0, EVENTS, BATCH):
            server = (first, second)[(i // BATCH) % 2]
            reply = httpx.post(server.url + "/v1/events", json=events[i:i + BATCH], headers=headers, timeout=30)
            assert reply.status_code == 200, reply.text
            assert reply.json()["accepted"] == BATCH
            if i == EVENTS // 2:  # mid-run: both workers are loading; kill one without warning
                wh.ensure_raw_tables()
                wait_for(lambda: raw_count(wh) > 0, 60, "the workers to start loading")
                workers[0].send_signal(signal.SIGKILL)
                workers[0].wait()
        wait_for(lambda: raw_count(wh) == EVENTS, 120, f"{EVENTS} rows in raw_events")
        log = open_log(log_url)
        wait_for(lambda: all(s.lag == 0 for s in log.status() if s.group == "raw_loader"), 60,
                 "the loader group to drain (the killed worker's leases expire and are redelivered)")
        assert workers[1].poll() is None, "the surviving worker must still be running"
        time.sleep(1)  # anything redelivered after the kill is loaded by now; nothing may double
        got = wh.cursor().execute(
            "SELECT event_type, user_key, count(*), count(DISTINCT event_id) FROM raw_events "
            "GROUP BY 1, 2 ORDER BY 1, 2").fetchall()

        baseline_dir = tmp_path / "baseline"
        baseline_wh = open_warehouse(f"duckdb:///{Settings(data_dir=baseline_dir).paths.warehouse_db}")
        make_raw_loader(log, baseline_wh, group="baseline-single-worker").run_once()
        expected = baseline_wh.cursor().execute(
            "SELECT event_type, user_key, count(*), count(DISTINCT event_id) FROM raw_events "
            "GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
        baseline_wh.close()
        log.close()
        assert sum(r[2] for r in expected) == EVENTS
        assert got == expected
        if log_kind == "postgresql":  # the marts too (one variant: two SQLMesh builds take a while)
            assert build_mart(Settings(data_dir=tmp_path / "pgmarts", warehouse_url=pg_url)) == \
                build_mart(Settings(data_dir=baseline_dir))
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
        for server in (first, second):
            server.stop()
        wh.close()


def test_a_worker_runs_the_transform_for_a_server_that_does_not(tmp_path: Path, pg_url: str) -> None:
    """``hexlake worker --only loader,transform`` builds the marts of events a server collects whose own
    transform scheduler is off (docs/scale-out.md): SQLMesh runs out of the API process."""
    env = {"HEXLAKE_LOG_URL": pg_url, "HEXLAKE_WAREHOUSE_URL": pg_url, "HEXLAKE_WAREHOUSE__LOADER_INTERVAL_S": "0.1",
           "HEXLAKE_TRANSFORM__SCHEDULER_ENABLED": "false"}
    server = SharedServer(tmp_path / "api", env)
    server.init()
    shutil.copytree(server.data_dir, tmp_path / "worker")  # the same secret: user keys hash alike
    worker: subprocess.Popen[bytes] | None = None
    wh = open_warehouse(pg_url)
    try:
        server.start()
        with (tmp_path / "worker.log").open("ab") as err:
            worker = subprocess.Popen([*HEXLAKE, "worker", "--only", "loader,transform"], cwd=ROOT,
                                      env={**os.environ, **env, "HEXLAKE_DATA_DIR": str(tmp_path / "worker")},
                                      stdout=subprocess.DEVNULL, stderr=err)
        events = make_events(300)
        reply = httpx.post(server.url + "/v1/events", json=events,
                           headers={"Authorization": f"Bearer {server.write_key}"}, timeout=30)
        assert reply.status_code == 200 and reply.json()["accepted"] == 300, reply.text
        baseline = Settings(data_dir=tmp_path / "baseline")
        log = open_log(pg_url)
        loaded = make_raw_loader(log, open_warehouse(f"duckdb:///{baseline.paths.warehouse_db}"),
                                 group="baseline-single-worker")
        loaded.run_once()
        loaded.warehouse.close()
        log.close()
        expected = build_mart(baseline)

        def built() -> bool:
            try:
                rows = wh.cursor().execute(f"SELECT * FROM {MART}").fetchall()
            except Exception:  # not created yet: the worker's first run has not finished
                return False
            return sorted(tuple(normal(v) for v in r) for r in rows) == expected

        wait_for(built, 180, f"the worker's transform to build {MART} as a single build does")
        assert worker.poll() is None
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(30) == 0, (tmp_path / "worker.log").read_text()[-2000:]
        server.stop()
        wh.close()
