"""``hexlake tiers`` end to end on a data dir: the hardened warehouse reads the cold tier."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hexlake.warehouse import open_warehouse

from ..cli.inproc import run_cli
from ..sync.test_sync import fill


@pytest.fixture
def data(tmp_path: Path) -> Path:
    assert run_cli(tmp_path, "init").code == 0
    wh = open_warehouse(f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    wh.ensure_raw_tables()
    fill(wh, 3000)  # events of 2024: older than any cut-off of a day or more
    wh.close()
    return tmp_path


def test_tiers_move_then_user_sql_spans_both_tiers(data: Path) -> None:
    moved = run_cli(data, "tiers", "move", "--older-than-days", "1", "--json")
    assert moved.code == 0, moved.err
    assert json.loads(moved.out)["rows"] == 3000
    st = json.loads(run_cli(data, "tiers", "status", "--json").out)
    assert (st["hot"]["rows"], st["cold"]["rows"]) == (0, 3000)
    assert (data / "lake_catalog.sqlite").exists() and any((data / "lake").rglob("*.parquet"))
    q = run_cli(data, "query", "SELECT count(*) AS n FROM raw_events_all", "--format", "json")
    assert q.code == 0, q.err
    assert "3000" in q.out


def test_tiers_move_refuses_without_a_cutoff(data: Path) -> None:
    r = run_cli(data, "tiers", "move")
    assert r.code == 1 and "Error:" in r.err and "hot_days" in r.err
    assert run_cli(data, "tiers", "move", "--older-than-days", "0").code == 2
    assert run_cli(data, "tiers", "move", "--older-than-days", "x").code == 2
