"""``hexlake worker`` parts in-process: the loader drains a shared log, housekeeping trims it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from hexlake.config import Settings
from hexlake.log import get_log
from hexlake.runtime import Runtime
from hexlake.warehouse import get_warehouse
from hexlake.worker import Housekeeping, run_worker

from ..warehouse.conftest import as_items, make_event

pytestmark = pytest.mark.services


def test_worker_loader_drains_a_redis_log_into_postgres_and_housekeeping_trims(
        tmp_path: Path, pg_url: str, redis_url: str) -> None:
    runtime = Runtime(Settings(data_dir=tmp_path / "data", log_url=redis_url, warehouse_url=pg_url))
    log = get_log(runtime)
    log.append(as_items([make_event(i) for i in range(300)]))
    result = run_worker(runtime, ["loader"], threading.Event(), until_idle=True, name="w-test")
    assert result == {"consumer": "w-test", "loaded": 300, "parts": ["loader"]}
    assert get_warehouse(runtime).query_arrow("SELECT count(*) AS n FROM raw_events").to_pylist() == [{"n": 300}]
    assert Housekeeping(runtime, trim_keep=50, retention_days=None).once() == {"trimmed": 250}
    assert len(log.tail(1000)) == 50
    runtime.close()


def test_worker_refuses_unknown_parts(tmp_path: Path) -> None:
    import subprocess

    from ..client.server import HEXLAKE

    done = subprocess.run([*HEXLAKE, "--data-dir", str(tmp_path), "worker", "--only", "loader,nope"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2  # a usage error: usage line, then the valid parts
    assert done.stderr.startswith("Usage: hexlake worker") and "unknown worker part(s) nope; choose from" in done.stderr


def test_worker_features_consumer_writes_user_windows_into_a_postgres_warehouse(
        tmp_path: Path, pg_url: str) -> None:
    runtime = Runtime(Settings(data_dir=tmp_path / "data", log_url="sqlite:///" + str(tmp_path / "log.sqlite"),
                               warehouse_url=pg_url))
    get_log(runtime).append(as_items([make_event(i) for i in range(180)]))  # three hours: windows close
    result = run_worker(runtime, ["features"], threading.Event(), until_idle=True, name="w-feat")
    assert result["parts"] == ["features"]
    rows = get_warehouse(runtime).query_arrow(
        "SELECT user_key, count(*) AS windows, sum(events_total) AS events FROM features_user_window "
        "GROUP BY user_key ORDER BY user_key").to_pylist()
    assert len(rows) == 3 and all(r["windows"] > 1 for r in rows)
    assert sum(r["events"] for r in rows) < 180  # the newest windows are still open
    runtime.close()


def test_worker_until_idle_loads_everything_then_builds_the_marts_once(tmp_path: Path) -> None:
    runtime = Runtime(Settings(data_dir=tmp_path / "data"))
    pages = [make_event(i, event_type="page", properties={"name": "home"}) for i in range(120)]
    get_log(runtime).append(as_items(pages))
    result = run_worker(runtime, ["loader", "transform"], threading.Event(), until_idle=True, name="w-batch")
    assert result == {"consumer": "w-batch", "loaded": 120, "parts": ["loader", "transform"]}
    rows = get_warehouse(runtime).query_arrow(
        "SELECT count(DISTINCT user_id) AS users FROM marts.marts_core_user_activity_daily").to_pylist()
    assert rows == [{"users": 3}]
    runtime.close()
