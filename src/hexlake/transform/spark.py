"""SQLMesh on Spark over the lake (``HEXLAKE_WAREHOUSE_URL=spark://local[2]?lake=/srv/lake``).

Same project, same models: the gateway becomes a PySpark session (master from the URL) and the
model dialect ``spark``. The models read ``main.raw_events_all``, here a Spark view over the data
files of the current snapshot of the lake's ``raw.raw_events`` Iceberg table (what
``hexlake sync run --target iceberg:///srv/lake`` writes), listed by pyiceberg's scan plan: no
Iceberg Spark runtime jar is needed. hexlake writes copy-on-write (no delete files), so the files
are the table. SQLMesh's state stays in a DuckDB file of the data dir.

Spark's SQL has no JSON type: SQLGlot is told to write it as STRING (JSON columns are text there).
``pyspark`` comes with the ``spark`` extra.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from sqlglot import exp
from sqlglot.dialects.spark import Spark
from sqlmesh.core.config import Config, DuckDBConnectionConfig, GatewayConfig, SparkConnectionConfig

from hexlake.config import Settings
from hexlake.errors import ConfigError
from hexlake.warehouse.schema import RAW_EVENTS_COLUMNS

SCHEME = "spark://"
# The raw contract's types spelled for Spark (JSON is text; timestamps are UTC wall times).
_SPARK_TYPES = {"VARCHAR": "STRING", "JSON": "STRING", "INTEGER": "INT", "BIGINT": "BIGINT", "DOUBLE": "DOUBLE",
                "TIMESTAMP": "TIMESTAMP", "DATE": "DATE"}

Spark.Generator.TYPE_MAPPING = {**Spark.Generator.TYPE_MAPPING, exp.DataType.Type.JSON: "STRING"}


def is_spark(url: str | None) -> bool:
    return bool(url) and str(url).startswith(SCHEME)


def parse_url(url: str) -> tuple[str, str]:
    """``(master, lake URL)`` of ``spark://<master>?lake=<dir>[&catalog=<catalog URL>]``."""
    master, _, query = url.removeprefix(SCHEME).partition("?")
    params = {k: v[-1] for k, v in parse_qs(query).items()}
    lake = params.get("lake", "")
    if not master or not lake.startswith("/"):
        raise ConfigError(f"bad Spark warehouse URL {url!r}; use spark://local[2]?lake=/absolute/lake/dir",
                          field="warehouse_url")
    catalog = params.get("catalog")
    return master, f"iceberg://{lake}" + (f"#{catalog}" if catalog else "")


def session_config(settings: Settings, master: str) -> dict[str, str]:
    return {
        "spark.master": master,
        "spark.sql.warehouse.dir": str(settings.paths.spark_warehouse.resolve()),
        "spark.sql.session.timeZone": "UTC",  # raw times are UTC wall times, as in DuckDB
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": "4",
        # CREATE TABLE without USING makes Parquet tables, not Hive ones (no Hive support here)
        "spark.sql.legacy.createHiveTableByDefault": "false",
    }


def start_session(config: dict[str, str]) -> Any:
    """The process's Spark session, started before SQLMesh asks for one: SQLMesh's builder enables
    Hive support (a Derby metastore in the working directory, and Hive's table rules), and
    ``getOrCreate`` then returns this in-memory-catalog session instead."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    for key, value in {**config, "spark.sql.catalogImplementation": "in-memory"}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def spark_config(settings: Settings, duckdb_config: Config) -> Config:
    """``duckdb_config`` (hexlake's embedded SQLMesh config) moved onto a Spark session."""
    master, _ = parse_url(settings.resolved_warehouse_url())
    config = session_config(settings, master)
    start_session(config)
    conn = SparkConnectionConfig(config=config, concurrent_tasks=1)
    state = DuckDBConnectionConfig(database=str(settings.paths.sqlmesh_state_spark))
    update: dict[str, Any] = {
        "gateways": {"hexlake": GatewayConfig(connection=conn, state_connection=state)},
        "model_defaults": duckdb_config.model_defaults.model_copy(
            update={"dialect": "spark", "storage_format": "parquet"}),
    }
    return duckdb_config.model_copy(update=update)


def lake_files(lake_url: str) -> list[str]:
    """The data files of the current snapshot of the lake's ``raw.raw_events`` (none: no table)."""
    from pyiceberg.exceptions import NoSuchTableError

    from hexlake.lake.catalog import data_files
    from hexlake.lake.target import IcebergTarget

    target = IcebergTarget(lake_url)
    try:
        return data_files(target.table("raw_events"))
    except NoSuchTableError:
        return []
    finally:
        target.close()


def raw_view_sql(files: list[str]) -> str:
    """``main.raw_events_all`` over ``files``, every column cast to the raw contract's type."""
    def typed(source: str) -> str:
        cols = ", ".join(f"CAST({n} AS {_SPARK_TYPES[t.split()[0]]}) AS {n}" for n, t in RAW_EVENTS_COLUMNS)
        return f"SELECT {cols} FROM {source}"

    parts = [typed("parquet.`" + f.replace("`", "``") + "`") for f in files]
    if not parts:  # nothing synced yet: an empty, typed view lets the models build
        parts = [typed("(SELECT " + ", ".join(f"NULL AS {n}" for n, _ in RAW_EVENTS_COLUMNS) + ") AS e")
                 + " WHERE FALSE"]
    return "CREATE OR REPLACE VIEW main.raw_events_all AS " + " UNION ALL ".join(parts)


def prepare_raw_layer(adapter: Any, settings: Settings) -> int:
    """(Re)create ``main.raw_events_all`` in the Spark session over the lake; returns the file count."""
    _, lake = parse_url(settings.resolved_warehouse_url())
    files = lake_files(lake)
    adapter.execute("CREATE DATABASE IF NOT EXISTS main")
    adapter.execute(raw_view_sql(files))
    return len(files)


__all__ = ["is_spark", "lake_files", "parse_url", "prepare_raw_layer", "raw_view_sql", "spark_config", "start_session"]
