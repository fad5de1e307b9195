"""Erasure on the scale-out backends: the log on PostgreSQL or Redis, the online store and the
realtime counters on Redis. The proof scan searches those servers too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pytest import FixtureRequest

from hexlake.privacy.erase import erase, subject_of
from hexlake.privacy.scan import proof_scan

from .conftest import ERASED, OTHERS, all_events, make_runtime, populate

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.mark.parametrize("log_backend", ["postgresql", "redis"])
def test_erase_is_clean_on_postgres_and_redis(
    tmp_path: Path, request: FixtureRequest, log_backend: str, redis_url: str
) -> None:
    log_url = request.getfixturevalue("pg_url") if log_backend == "postgresql" else redis_url + "log"
    for runtime in make_runtime(tmp_path / "data", log_url=log_url, online_url=redis_url):
        populate(runtime, all_events())
        subject = subject_of(runtime, ERASED)
        found = proof_scan(runtime, subject)
        assert found["log"] > 0 and found["redis online store"] > 0
        report = erase(runtime, ERASED)
        assert report.clean, report.to_text()
        before = {r.layer: r.before for r in report.layers}
        assert before["log"] > 0 and before["online store"] == 1 and before["stream state and counters"] > 0
        assert all(v == 0 for v in proof_scan(runtime, subject).values())


def test_postgres_sync_target_rows_are_deleted(tmp_path: Path, pg_url: str) -> None:
    import psycopg

    from hexlake.serve import operations as ops

    for runtime in make_runtime(tmp_path / "data"):
        populate(runtime, all_events(), quarantine=False)
        assert ops.get("sync_run")(runtime, target=pg_url, tables=["raw_events"])["failed"] == 0
        key = subject_of(runtime, ERASED).user_key
        report = erase(runtime, ERASED)
        assert report.clean, report.to_text()
        with psycopg.connect(pg_url) as conn:
            left = conn.execute('SELECT COUNT(*) FROM "raw_events" t WHERE strpos(t::text, %s) > 0', (key,)).fetchone()
            others = conn.execute('SELECT COUNT(*) FROM "raw_events"').fetchone()
        assert left == (0,) and others is not None and others[0] > 0


def test_erase_on_a_postgres_warehouse(tmp_path: Path, request: FixtureRequest) -> None:
    """Raw events and offline features on PostgreSQL (models not built here: the PostgreSQL marts
    are covered by the transform suite; erasure's SQL is the same on both engines)."""
    wh_url = request.getfixturevalue("pg_url")
    for runtime in make_runtime(tmp_path / "data", warehouse_url=wh_url):
        populate(runtime, all_events(), transform=False)
        report = erase(runtime, ERASED)
        assert report.clean, report.to_text()
        before = {r.layer: r.before for r in report.layers}
        assert before["warehouse public.raw_events"] > 0 and before["warehouse public.features_user_window"] > 0


def test_erasure_holds_off_a_transform_run_in_another_process(tmp_path: Path, pg_url: str) -> None:
    """On a PostgreSQL warehouse a worker's run could read the person's rows before the delete and
    insert them into a mart after it: erasure waits for a run in any process sharing the warehouse
    (and a run that starts meanwhile waits for the erasure), then says who was in the way if it
    waited too long."""
    import threading

    import psycopg

    from hexlake.errors import TransformBusy
    from hexlake.transform.lock import PG_LOCK_KEY

    def raw_rows(key: str) -> int:
        with psycopg.connect(pg_url) as conn:
            row = conn.execute("SELECT count(*) FROM public.raw_events WHERE user_key = %s", (key,)).fetchone()
        return int(row[0]) if row else 0

    for runtime in make_runtime(tmp_path / "data", warehouse_url=pg_url, transform={"lock_wait_s": 5.0}):
        populate(runtime, all_events(), quarantine=False, transform=False)
        key = subject_of(runtime, ERASED).user_key
        assert raw_rows(key) > 0
        worker = psycopg.connect(pg_url, autocommit=True, application_name="hexlake-transform worker-3:77")
        try:
            worker.execute("SELECT pg_advisory_lock(%s)", (PG_LOCK_KEY,))  # its run is under way
            done: dict[str, Any] = {}
            erasing = threading.Thread(target=lambda rt=runtime, out=done: out.update(report=erase(rt, ERASED)))
            erasing.start()
            erasing.join(2.0)
            assert erasing.is_alive() and raw_rows(key) > 0  # waiting, nothing deleted under the run
            worker.close()  # the run ends
            erasing.join(30.0)
            assert not erasing.is_alive() and done["report"].clean, done.get("report")
            assert raw_rows(key) == 0

            worker = psycopg.connect(pg_url, autocommit=True, application_name="hexlake-transform worker-3:77")
            worker.execute("SELECT pg_advisory_lock(%s)", (PG_LOCK_KEY,))
            with pytest.raises(TransformBusy, match="worker-3:77"):  # after lock_wait_s
                erase(runtime, OTHERS[1])
            assert raw_rows(subject_of(runtime, OTHERS[1]).user_key) > 0
        finally:
            worker.close()
