"""On a PostgreSQL warehouse, one SQLMesh operation at a time across processes (an advisory lock):
a server whose scheduler was left on beside a worker's transform waits, then is told who runs it."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from hexlake.config import Settings
from hexlake.errors import TransformBusy
from hexlake.runtime import Runtime
from hexlake.setup import initialise
from hexlake.transform.engine import TransformEngine
from hexlake.transform.lock import PG_LOCK_KEY

pytestmark = [pytest.mark.services, pytest.mark.slow]
T0 = datetime(2026, 3, 2, 12, 0)


def _holders(pg_url: str) -> list[str]:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            (PG_LOCK_KEY >> 32, PG_LOCK_KEY & 0xFFFFFFFF),
        ).fetchall()
    return [r[0] for r in rows]


def test_a_run_waits_for_another_process_then_names_it(pg_url: str, tmp_path: Path) -> None:
    from hexlake.transform import operations

    settings = Settings(data_dir=tmp_path / "data", warehouse_url=pg_url,
                        transform={"lock_wait_s": 1.0})
    initialise(settings)
    runtime = Runtime(settings)
    other = psycopg.connect(pg_url, autocommit=True, application_name="hexlake-transform worker-7:4242")
    try:
        assert other.execute("SELECT pg_try_advisory_lock(%s)", (PG_LOCK_KEY,)).fetchone() == (True,)
        started = time.monotonic()
        with pytest.raises(TransformBusy) as refused:
            operations.run(runtime, execution_time=T0)
        assert time.monotonic() - started >= 1.0  # it waited lock_wait_s first
        assert "worker-7:4242" in str(refused.value) and "scheduler_enabled=false" in str(refused.value)
        assert refused.value.status == 409
        other.close()  # the other process ends its run: the lock goes with its session
        report = operations.run(runtime, execution_time=T0)  # the user's path: tiers -> run -> plan, nested
        assert report["ok"], report["error"]
        assert _holders(pg_url) == []  # released after the run
    finally:
        other.close()
        runtime.close()


def test_the_lock_is_held_for_the_whole_operation_and_only_then(pg_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", warehouse_url=pg_url)
    initialise(settings)
    engine = TransformEngine(settings)
    try:
        with engine.exclusive():
            (mine,) = _holders(pg_url)
            assert mine.startswith("hexlake-transform ")
            with engine.exclusive():  # nested (a run that plans first): same session, no deadlock
                assert len(_holders(pg_url)) == 1
            assert len(_holders(pg_url)) == 1  # the inner block did not release the outer's lock
        assert _holders(pg_url) == []
    finally:
        engine.close()


def test_a_duckdb_warehouse_takes_no_postgres_lock(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    engine = TransformEngine(settings)
    with engine.exclusive():  # no connection attempted (there is no PostgreSQL to ask)
        pass
