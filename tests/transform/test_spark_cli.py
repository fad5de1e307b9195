"""``hexlake transform run`` with ``HEXLAKE_WAREHOUSE_URL=spark://…`` as a user runs it: the CLI in a
subprocess on the data dir, and the same command through a server that owns the data dir. The models
build on Spark from the lake, and every mart has as many rows as DuckDB's build of the same events
(``tests/transform/test_spark.py`` compares the rows themselves)."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from hexlake.serve import operations as ops
from hexlake.sync import SyncOptions, open_target, sync_run
from hexlake.transform import spark
from hexlake.warehouse import get_warehouse
from tests.helpers import Server, hexlake, init
from tests.privacy.conftest import all_events, make_runtime, populate

pyspark = pytest.importorskip("pyspark")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]  # Spark on a loaded 2-core machine: minutes


def _mart_rows(freshness: list[dict[str, Any]]) -> dict[str, int]:
    return {r["model"]: r["rows"] for r in freshness if str(r.get("model", "")).startswith("marts.")}


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, int]]:
    """A data dir whose events are loaded (and built on DuckDB), synced to a lake; DuckDB's mart rows."""
    root = tmp_path_factory.mktemp("spark-cli")
    gen = make_runtime(root / "data")
    assert isinstance(gen, Generator)
    runtime = next(gen)
    populate(runtime, all_events())
    target = open_target(f"iceberg://{root / 'lake'}")
    sync_run(get_warehouse(runtime), target, SyncOptions(tables=["raw_events"]))
    target.close()
    duck = _mart_rows(ops.get("transform_freshness")(runtime))
    gen.close()
    return root / "data", f"spark://local[2]?lake={root / 'lake'}", duck


def _run_and_check(data: Path, url: str, duck: dict[str, int]) -> None:
    run = json.loads(hexlake(data, "transform", "run", "--json", timeout=1500, HEXLAKE_WAREHOUSE_URL=url).stdout)
    assert run["ok"] and not run["failed_models"]
    assert {"staging.stg_events", "marts.daily_engagement"} <= {e["model"] for e in run["evaluations"]}
    # built on Spark: its Parquet tables are in the data dir's spark-warehouse
    assert any((data / "spark-warehouse").glob("sqlmesh__marts.db/marts__daily_engagement__*/*.parquet"))
    fresh = json.loads(hexlake(data, "transform", "freshness", "--json", timeout=900,
                               HEXLAKE_WAREHOUSE_URL=url).stdout)
    assert _mart_rows(fresh) == duck
    assert sum(duck.values()) > 0 and sum(1 for n in duck.values() if n) >= 5
    history = json.loads(hexlake(data, "transform", "history", "--model", "marts.daily_engagement", "--json",
                                 HEXLAKE_WAREHOUSE_URL=url).stdout)
    assert history[0]["status"] == "success" and history[0]["rows"] == duck["marts.daily_engagement"]


def test_transform_run_on_spark_from_the_cli(landed: tuple[Path, str, dict[str, int]]) -> None:
    data, url, duck = landed
    local = data.parent / "local"
    shutil.copytree(data, local)
    _run_and_check(local, url, duck)


def test_transform_run_on_spark_through_the_server(landed: tuple[Path, str, dict[str, int]]) -> None:
    data, url, duck = landed
    served = data.parent / "served"
    shutil.copytree(data, served)
    with Server(served, background=False, HEXLAKE_WAREHOUSE_URL=url):
        _run_and_check(served, url, duck)


def test_no_java_is_a_clear_cli_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    init(data)
    proc = hexlake(data, "transform", "run", check=False, HEXLAKE_WAREHOUSE_URL=f"spark://local[1]?lake={tmp_path}",
                   PATH=str(Path(sys.executable).parent), JAVA_HOME="")
    assert proc.returncode == 1
    assert "no Java runtime was found" in proc.stderr and "Traceback" not in proc.stderr


def test_no_pyspark_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from hexlake.errors import ConfigError

    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # as if pyspark were not installed
    with pytest.raises(ConfigError, match=r"pip install 'hexlake\[spark\]'") as err:
        spark.start_session({"spark.master": "local[1]"})
    assert err.value.field == "warehouse_url"
