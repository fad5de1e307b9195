"""Erasure on the scale-out backends: the log on PostgreSQL or Redis, the online store and the
realtime counters on Redis. The proof scan searches those servers too."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest import FixtureRequest

from hexlake.privacy.erase import erase, subject_of
from hexlake.privacy.scan import proof_scan

from .conftest import ERASED, all_events, make_runtime, populate

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
