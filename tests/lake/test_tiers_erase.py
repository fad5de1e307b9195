"""``hexlake privacy erase`` on a data dir whose events went to the cold tier: the person is gone
from the lake's files too, everyone else stays, the proof is clean."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hexlake.lake import tiers
from hexlake.privacy.erase import erase, subject_of
from hexlake.runtime import Runtime
from hexlake.warehouse import get_warehouse

from ..privacy.conftest import ERASED, all_events, make_runtime, populate

pytestmark = pytest.mark.slow


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    yield from make_runtime(tmp_path / "data")


def count(runtime: Runtime, sql: str, params: list[object] | None = None) -> int:
    return int(get_warehouse(runtime).cursor().execute(sql, params).fetchone()[0])


def test_erasure_rewrites_the_cold_tier(runtime: Runtime) -> None:
    populate(runtime, all_events(), transform=False)
    key = subject_of(runtime, ERASED).user_key
    total = count(runtime, "SELECT count(*) FROM raw_events")
    mine = count(runtime, "SELECT count(*) FROM raw_events WHERE user_key = ?", [key])
    assert 0 < mine < total
    catalog = tiers.lake_catalog(runtime)
    moved = tiers.move(get_warehouse(runtime), catalog, (datetime.now(UTC) + timedelta(days=2)).date())
    assert moved.rows == total and count(runtime, "SELECT count(*) FROM raw_events") == 0
    report = erase(runtime, ERASED)
    lake = [r for r in report.layers if r.layer.startswith("sync iceberg://")]
    assert len(lake) == 1 and lake[0].before >= mine and lake[0].after == 0, report.to_text()
    assert report.clean, report.to_text()
    assert count(runtime, "SELECT count(*) FROM raw_events_all WHERE user_key = ?", [key]) == 0
    assert count(runtime, "SELECT count(*) FROM raw_events_all") == total - lake[0].before  # the others intact
    assert tiers.status(get_warehouse(runtime), catalog)["cold"]["rows"] == total - lake[0].before
    catalog.engine.dispose()
