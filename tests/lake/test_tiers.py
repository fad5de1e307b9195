"""Hot and cold tiers: old events move to the Iceberg lake, crash-safe, and queries over
``raw_events_all`` give the same answers as before the move."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from hexlake.lake import tiers
from hexlake.lake.catalog import open_catalog
from hexlake.warehouse import Warehouse, open_warehouse

from ..sync.test_sync import fill

CUTOFF = date(2024, 5, 3)  # the fixture's events are on 2024-05-01..03
MART = ("SELECT CAST(ts AS DATE) AS day, event_type, count(*) AS events, count(DISTINCT user_key) AS users, "
        "sum(lat) AS lat, count(properties) AS props FROM {t} GROUP BY ALL")


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    wh = open_warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}")
    fill(wh, 3000)
    yield wh
    wh.close()


@pytest.fixture
def catalog(tmp_path: Path) -> Any:
    cat = open_catalog(f"sqlite:///{tmp_path / 'lake_catalog.sqlite'}", tmp_path / "lake")
    yield cat
    cat.engine.dispose()


def one(wh: Warehouse, sql: str) -> Any:
    return wh.cursor().execute(sql).fetchone()[0]


def same(wh: Warehouse, a: str, b: str) -> bool:
    return one(wh, f"SELECT count(*) FROM (({a}) EXCEPT ALL ({b}))") == 0 == one(
        wh, f"SELECT count(*) FROM (({b}) EXCEPT ALL ({a}))")


def test_move_keeps_counts_and_marts_and_rerun_moves_nothing(warehouse: Warehouse, catalog: Any) -> None:
    warehouse.execute(f"CREATE TABLE before_mart AS {MART.format(t='raw_events')}")
    warehouse.execute("CREATE TABLE before_raw AS SELECT * FROM raw_events")
    old = one(warehouse, f"SELECT count(*) FROM raw_events WHERE ts < DATE '{CUTOFF}'")
    report = tiers.move(warehouse, catalog, CUTOFF)
    assert (report.moves, report.rows) == (1, old) and report.cold_files >= 2  # one file per day at least
    assert one(warehouse, "SELECT count(*) FROM raw_events") == 3000 - old
    assert one(warehouse, "SELECT CAST(min(ts) AS DATE) FROM raw_events") == CUTOFF
    assert one(warehouse, "SELECT count(*) FROM raw_events_all") == 3000
    assert same(warehouse, MART.format(t="raw_events_all"), "SELECT * FROM before_mart")
    assert same(warehouse, "SELECT * FROM raw_events_all", "SELECT * FROM before_raw")  # every column, typed
    again = tiers.move(warehouse, catalog, CUTOFF)
    assert (again.moves, again.rows) == (0, 0)
    assert one(warehouse, "SELECT count(*) FROM raw_events_all") == 3000
    st = tiers.status(warehouse, catalog)
    assert st["hot"]["rows"] == 3000 - old and st["cold"]["rows"] == old and st["cold"]["bytes"] > 0
    assert st["moves"] == [{"status": "done", "moves": 1, "rows": old}]


class CrashOnDelete:
    """The warehouse, killed just after the lake commit: the DuckDB delete never happens."""

    def __init__(self, wh: Warehouse):
        self.wh = wh

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wh, name)

    def cursor(self) -> Any:
        real = self.wh.cursor()

        class Cur:
            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

            def execute(self, sql: str, params: Any = None) -> Any:
                if sql.startswith("DELETE FROM raw_events"):
                    raise KeyboardInterrupt("killed")
                return real.execute(sql, params)

        return Cur()


def test_a_move_killed_after_the_lake_commit_is_finished_without_duplicates(warehouse: Warehouse,
                                                                           catalog: Any) -> None:
    with pytest.raises(KeyboardInterrupt):
        tiers.move(CrashOnDelete(warehouse), catalog, CUTOFF)
    assert one(warehouse, "SELECT count(*) FROM raw_events") == 3000  # nothing lost from hot
    assert one(warehouse, "SELECT count(*) FROM lake_tier_moves WHERE status = 'pending'") == 1
    # a late event for an old day arrives before the re-run: it goes with the resumed move
    warehouse.execute("INSERT INTO raw_events SELECT * REPLACE ('late-1' AS event_id) FROM raw_events "
                      "WHERE ts < DATE '2024-05-02' LIMIT 1")
    report = tiers.move(warehouse, catalog, CUTOFF)
    assert report.moves == 1
    assert one(warehouse, "SELECT count(*) FROM raw_events_all") == 3001
    assert one(warehouse, "SELECT count(DISTINCT event_id) FROM raw_events_all") == 3001
    assert one(warehouse, "SELECT count(*) FROM lake_tier_moves WHERE status = 'done'") == 1


def test_view_without_cold_data_is_the_hot_table(warehouse: Warehouse, catalog: Any) -> None:
    assert tiers.refresh_view(warehouse, catalog) == 0
    assert one(warehouse, "SELECT count(*) FROM raw_events_all") == 3000
    assert tiers.move(warehouse, catalog, date(2000, 1, 1)).moves == 0


def test_hot_days_must_be_set_to_move() -> None:
    with pytest.raises(Exception, match="hot_days"):
        tiers.cutoff_for(0)
    assert tiers.cutoff_for(2, date(2024, 5, 3)) == date(2024, 5, 1)


def test_erasure_reaches_the_cold_tier_and_the_view_follows(warehouse: Warehouse, catalog: Any) -> None:
    from hexlake.privacy import warehouse as pw

    key = one(warehouse, "SELECT user_key FROM raw_events WHERE ts < DATE '2024-05-02' LIMIT 1")
    mine = one(warehouse, f"SELECT count(*) FROM raw_events WHERE user_key = '{key}'")
    mine_cold = one(warehouse, f"SELECT count(*) FROM raw_events WHERE user_key = '{key}' AND ts < DATE '{CUTOFF}'")
    assert 0 < mine_cold < mine  # the person has events in both tiers
    tiers.move(warehouse, catalog, CUTOFF)
    lake = tiers.lake_url(catalog)
    assert lake in pw.sync_targets(warehouse)  # erasure finds the cold tier through the moves table
    assert pw.erase_sync_targets(warehouse, key, delete=False) == {lake: mine_cold}
    pw.delete_rows(warehouse, key, ("main",))  # the hot tier, as privacy.erase does first
    assert pw.erase_sync_targets(warehouse, key, delete=True) == {lake: mine_cold}
    assert pw.erase_sync_targets(warehouse, key, delete=False) == {lake: 0}
    assert one(warehouse, f"SELECT count(*) FROM raw_events_all WHERE user_key = '{key}'") == 0
    assert one(warehouse, "SELECT count(*) FROM raw_events_all") == 3000 - mine  # everyone else intact
