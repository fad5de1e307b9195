"""The same SQLMesh models on Spark (PySpark ``local[2]``), reading the raw events from the Iceberg
lake, give every mart DuckDB gives (``EXCEPT ALL`` both ways; ``as_of``, the build time, aside)."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hexlake.config import Settings
from hexlake.errors import ConfigError
from hexlake.sync import SyncOptions, open_target, sync_run
from hexlake.transform import restate, spark
from hexlake.transform.engine import TransformEngine
from hexlake.warehouse import get_warehouse
from tests.privacy.conftest import BASE, all_events, make_runtime, populate

pyspark = pytest.importorskip("pyspark")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]  # Spark on a loaded 2-core machine: minutes
EXECUTION_TIME_COLUMNS = {"as_of"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, TransformEngine]]:
    root = tmp_path_factory.mktemp("spark")
    gen = make_runtime(root / "data")
    assert isinstance(gen, Generator)
    runtime = next(gen)
    populate(runtime, all_events())  # DuckDB: loaded and transformed
    target = open_target(f"iceberg://{root / 'lake'}")
    sync_run(get_warehouse(runtime), target, SyncOptions(tables=["raw_events"]))
    target.close()
    url = f"spark://local[2]?lake={root / 'lake'}"
    engine = TransformEngine(Settings(data_dir=root / "spark", warehouse_url=url))
    report = engine.run()
    assert report.ok, report.error
    # Restate the events' days: each incremental model deletes their rows (Parquet has no DELETE:
    # a rewrite of the table) and appends them again, event_aggregations upserts (no MERGE); a row
    # left behind or lost shows in the EXCEPT ALL comparisons below.
    first, end = BASE.date() - timedelta(days=1), datetime.now(UTC).date() + timedelta(days=1)
    removed = restate.remove_intervals(engine, {m: [(first, end)] for m in restate.incremental_models(engine)})
    assert {"staging.stg_events", "marts.event_aggregations", "marts.daily_engagement"} <= set(removed)
    again = engine.run()
    assert again.ok, again.error
    assert {"staging.stg_events", "marts.event_aggregations"} <= {e.model for e in again.evaluations}
    yield runtime, engine
    engine.close()
    gen.close()


def test_every_mart_on_spark_equals_duckdbs(built: tuple[Any, TransformEngine]) -> None:
    import duckdb
    import pyarrow as pa
    from pyspark.sql import SparkSession

    runtime, _ = built
    session = SparkSession.builder.getOrCreate()
    wh = get_warehouse(runtime)
    models = [f"{s}.{t}" for s, t in wh.cursor().execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema IN ('staging', 'marts', 'features') ORDER BY 1, 2").fetchall()]
    assert len(models) >= 15
    nonempty = 0
    for model in models:
        ours = wh.query_arrow(f"SELECT * FROM {model}")
        cols = [c for c in ours.column_names if c not in EXECUTION_TIME_COLUMNS]
        theirs = pa.Table.from_pylist([r.asDict() for r in session.table(model).collect()],
                                      schema=None) if session.table(model).count() else ours.slice(0, 0)
        assert set(cols) <= set(theirs.column_names), model
        con = duckdb.connect()
        con.register("a", ours.select(cols))
        con.register("b", theirs.select(cols))
        # doubles to 9 decimals: Spark sums partitions in arrival order (an AVG of 13.4 can come out
        # 13.400000000000002), so the last bits of a float may differ from run to run
        listed = ", ".join(
            f'round("{c}", 9)' if pa.types.is_floating(ours.schema.field(c).type) else f'"{c}"' for c in cols)
        for x, y in (("a", "b"), ("b", "a")):
            diff = con.execute(f"SELECT count(*) FROM (SELECT {listed} FROM {x} EXCEPT ALL "
                               f"SELECT {listed} FROM {y})").fetchone()
            assert diff == (0,), (model, x, y)
        nonempty += ours.num_rows > 0
    assert nonempty >= 10  # the comparison is not between empty tables


def test_spark_reads_every_raw_event_from_the_lake(built: tuple[Any, TransformEngine]) -> None:
    from pyspark.sql import SparkSession

    runtime, _ = built
    count = SparkSession.builder.getOrCreate().sql("SELECT count(*) FROM main.raw_events_all").collect()[0][0]
    assert count == get_warehouse(runtime).cursor().execute("SELECT count(*) FROM raw_events").fetchone()[0]


@pytest.mark.parametrize("url", ["spark://local[2]", "spark://local[2]?lake=relative/dir", "spark://?lake=/x"])
def test_bad_spark_urls_name_the_setting(url: str) -> None:
    with pytest.raises(ConfigError) as err:
        spark.parse_url(url)
    assert err.value.field == "warehouse_url"
