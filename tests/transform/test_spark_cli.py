"""``hexlake transform run`` with ``HEXLAKE_WAREHOUSE_URL=spark://…`` as a user runs it: the CLI in a
subprocess on the data dir, and the same command through a server that owns the data dir. The models
build on Spark from the lake, and every mart has as many rows as DuckDB's build of the same events
(``tests/transform/test_spark.py`` compares the rows themselves). ``hexlake query`` and the marts API
then read what Spark wrote (``hexlake.warehouse.sparkmodels``), not the DuckDB build of the same data dir."""

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


SUMMARY = "SELECT count(*) AS n, CAST(max(as_of) AS VARCHAR) AS as_of, count(DISTINCT place_id) AS p FROM {}"


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
    fresh = json.loads(hexlake(data, "transform", "freshness", "--json", timeout=900, HEXLAKE_WAREHOUSE_URL=url).stdout)
    assert _mart_rows(fresh) == duck
    assert sum(duck.values()) > 0 and sum(1 for n in duck.values() if n) >= 5
    history = json.loads(
        hexlake(
            data, "transform", "history", "--model", "marts.daily_engagement", "--json", HEXLAKE_WAREHOUSE_URL=url
        ).stdout
    )
    assert history[0]["status"] == "success" and history[0]["rows"] == duck["marts.daily_engagement"]


def _spark_files_summary(data: Path) -> dict[str, Any]:
    """SUMMARY over the Parquet files Spark wrote for marts.dim_places (read directly)."""
    import duckdb

    from hexlake.warehouse.sparkmodels import model_views, table_dir

    wh = data / "spark-warehouse"
    files = table_dir(wh, model_views(wh)["marts.dim_places"]["table"]) / "*.parquet"
    cur = duckdb.connect().execute(SUMMARY.format(f"read_parquet('{files}')"))
    return dict(zip([d[0] for d in cur.description], cur.fetchone() or (), strict=True))


def _query(data: Path, sql: str, url: str) -> list[dict[str, Any]]:
    out = hexlake(data, "query", sql, "--format", "json", HEXLAKE_WAREHOUSE_URL=url).stdout
    return list(json.loads(out))


def _without_duckdb_marts(data: Path) -> None:
    """Drop the DuckDB build's marts from the copy's landing file: every mart read after that is Spark's."""
    import duckdb

    from hexlake.config import Settings

    con = duckdb.connect(str(Settings(data_dir=data).paths.warehouse_db))
    con.execute("DROP SCHEMA marts CASCADE")
    con.close()


def _check_reads(data: Path, url: str) -> dict[str, Any]:
    """``hexlake query`` reads Spark's build of the marts; raw_events still answer (landing DuckDB)."""
    spark_built = _spark_files_summary(data)
    assert spark_built["n"] > 0
    assert _query(data, SUMMARY.format("marts.dim_places"), url) == [spark_built]
    assert _query(data, "SELECT count(*) AS n FROM raw_events", url)[0]["n"] > 0
    return spark_built


def test_transform_run_on_spark_from_the_cli(landed: tuple[Path, str, dict[str, int]]) -> None:
    data, url, duck = landed
    local = data.parent / "local"
    shutil.copytree(data, local)
    _without_duckdb_marts(local)
    _run_and_check(local, url, duck)
    _check_reads(local, url)


def test_transform_run_on_spark_through_the_server(landed: tuple[Path, str, dict[str, int]]) -> None:
    import httpx

    data, url, duck = landed
    served = data.parent / "served"
    shutil.copytree(data, served)
    _without_duckdb_marts(served)
    with Server(served, background=False, HEXLAKE_WAREHOUSE_URL=url) as server:
        _run_and_check(served, url, duck)
        _check_reads(served, url)
        token = json.loads((served / "server.json").read_text())["admin_token"]
        auth = {"Authorization": f"Bearer {token}"}
        mart = httpx.get(f"{server.url}/v1/marts/event_aggregations?limit=10000", headers=auth, timeout=60).json()
        assert mart["total"] == duck["marts.event_aggregations"] > 0 and len(mart["rows"]) == mart["total"]
        for hostile in (
            "SELECT * FROM read_parquet('/etc/passwd')",
            "SELECT * FROM read_csv('/etc/passwd')",
            "COPY (SELECT 1) TO '/tmp/x.csv'",
            "ATTACH '/tmp/x.duckdb' AS x",
        ):
            refused = httpx.post(f"{server.url}/v1/query", json={"sql": hostile}, headers=auth, timeout=60)
            assert refused.status_code == 400 and "refused" in refused.json()["error"]["message"], hostile
        # the raw events still land in the data dir's DuckDB file, which the server holds
        worker = hexlake(served, "worker", "--until-idle", check=False, HEXLAKE_WAREHOUSE_URL=url)
        assert worker.returncode == 1 and "raw events still land in the data dir's DuckDB" in worker.stderr


def test_no_java_is_a_clear_cli_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    init(data)
    proc = hexlake(
        data,
        "transform",
        "run",
        check=False,
        HEXLAKE_WAREHOUSE_URL=f"spark://local[1]?lake={tmp_path}",
        PATH=str(Path(sys.executable).parent),
        JAVA_HOME="",
    )
    assert proc.returncode == 1
    assert "no Java runtime was found" in proc.stderr and "Traceback" not in proc.stderr


def test_no_pyspark_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from hexlake.errors import ConfigError

    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # as if pyspark were not installed
    with pytest.raises(ConfigError, match=r"pip install 'hexlake\[spark\]'") as err:
        spark.start_session({"spark.master": "local[1]"})
    assert err.value.field == "warehouse_url"
