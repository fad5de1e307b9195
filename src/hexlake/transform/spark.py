"""SQLMesh on Spark over the lake (``HEXLAKE_WAREHOUSE_URL=spark://local[2]?lake=/srv/lake``).

Same project, same models: the gateway becomes a PySpark session (master from the URL) and the
model dialect ``spark``. The models read ``main.raw_events_all``, here a Spark view over the data
files of the current snapshot of the lake's ``raw.raw_events`` Iceberg table (what
``hexlake sync run --target iceberg:///srv/lake`` writes), listed by pyiceberg's scan plan: no
Iceberg Spark runtime jar is needed. hexlake writes copy-on-write (no delete files), so the files
are the table. SQLMesh's state stays in a DuckDB file of the data dir.

Spark's SQL has no JSON type: SQLGlot is told to write it as STRING (JSON columns are text there).
``pyspark`` comes with the ``spark`` extra.

Tables are plain Parquet without partitions (``LakeSparkEngineAdapter``): SQLMesh would partition an
incremental model by its time column, and for a timestamp column that is one directory per distinct
value (a 3k-event cold build took 333 s, 1M events would not finish). Replacing an interval is then
a rewrite of the table without it (skipped when it holds no row of the interval, as on a cold build)
plus an append; Parquet tables have no DELETE or MERGE.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from sqlglot import exp
from sqlglot.dialects.spark import Spark
from sqlmesh.core.config import Config, DuckDBConnectionConfig, GatewayConfig, SparkConnectionConfig
from sqlmesh.core.engine_adapter.base import EngineAdapter
from sqlmesh.core.engine_adapter.mixins import logical_merge
from sqlmesh.core.engine_adapter.shared import InsertOverwriteStrategy
from sqlmesh.core.engine_adapter.spark import SparkEngineAdapter

from hexlake.config import Settings
from hexlake.errors import ConfigError
from hexlake.warehouse.schema import RAW_EVENTS_COLUMNS
from hexlake.warehouse.sparkmodels import model_views, record_view

SCHEME = "spark://"
# The raw contract's types spelled for Spark (JSON is text; timestamps are UTC wall times).
_SPARK_TYPES = {
    "VARCHAR": "STRING",
    "JSON": "STRING",
    "INTEGER": "INT",
    "BIGINT": "BIGINT",
    "DOUBLE": "DOUBLE",
    "TIMESTAMP": "TIMESTAMP",
    "DATE": "DATE",
}

Spark.Generator.TYPE_MAPPING = {**Spark.Generator.TYPE_MAPPING, exp.DataType.Type.JSON: "STRING"}


def is_spark(url: str | None) -> bool:
    return bool(url) and str(url).startswith(SCHEME)


def parse_url(url: str) -> tuple[str, str]:
    """``(master, lake URL)`` of ``spark://<master>?lake=<dir>[&catalog=<catalog URL>]``."""
    master, _, query = url.removeprefix(SCHEME).partition("?")
    params = {k: v[-1] for k, v in parse_qs(query).items()}
    lake = params.get("lake", "")
    if not master or not lake.startswith("/"):
        raise ConfigError(
            f"bad Spark warehouse URL {url!r}; use spark://local[2]?lake=/absolute/lake/dir", field="warehouse_url"
        )
    catalog = params.get("catalog")
    return master, f"iceberg://{lake}" + (f"#{catalog}" if catalog else "")


def session_config(settings: Settings, master: str) -> dict[str, str]:
    return {
        "spark.master": master,
        "spark.sql.warehouse.dir": str(settings.paths.spark_warehouse.resolve()),
        "spark.sql.session.timeZone": "UTC",  # raw times are UTC wall times, as in DuckDB
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        # few, adaptively coalesced shuffle partitions: local[2] has two cores, and every
        # partition of a write is a file (Spark's default 200 makes 200 tiny files per statement)
        "spark.sql.shuffle.partitions": str(_cores(master) * 2),
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.adaptive.coalescePartitions.enabled": "true",
        "spark.driver.memory": "2g",  # local mode: the driver is the executor (default 1g)
        "spark.sql.ui.explainMode": "simple",  # every statement renders its plan for listeners
        # the lake's files are listed on the driver (a Spark job per listing costs more locally)
        "spark.sql.sources.parallelPartitionDiscovery.threshold": "100000",
        # no delay scheduling: one local executor, and most tasks here last less than the 3 s wait
        "spark.locality.wait": "0s",
        # CREATE TABLE without USING makes Parquet tables, not Hive ones (no Hive support here)
        "spark.sql.legacy.createHiveTableByDefault": "false",
    }


def _cores(master: str) -> int:
    """Cores of a ``local[N]`` master (``local[*]``, a cluster: 100, sized down by AQE's coalescing)."""
    inner = master.removeprefix("local[").removesuffix("]")
    return int(inner) if master.startswith("local[") and inner.isdigit() else 100


def start_session(config: dict[str, str]) -> Any:
    """The process's Spark session, started before SQLMesh asks for one: SQLMesh's builder enables
    Hive support (a Derby metastore in the working directory, and Hive's table rules), and
    ``getOrCreate`` then returns this in-memory-catalog session instead. One session per process:
    every model evaluation, plan and run reuses it (the JVM start is paid once)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError(
            "HEXLAKE_WAREHOUSE_URL is spark://… but pyspark is not installed: pip install 'hexlake[spark]'",
            field="warehouse_url",
        ) from None
    if not shutil.which("java") and not _java_home():
        raise ConfigError(
            "HEXLAKE_WAREHOUSE_URL is spark://… but no Java runtime was found (Spark 3.5 needs "
            "Java 17): install one (Debian: apt-get install openjdk-17-jre-headless) or set "
            "JAVA_HOME",
            field="warehouse_url",
        )
    builder = SparkSession.builder
    for key, value in {**config, "spark.sql.catalogImplementation": "in-memory"}.items():
        builder = builder.config(key, value)
    try:
        return builder.getOrCreate()
    except Exception as exc:  # the JVM did not start: wrong Java, no memory, …
        raise ConfigError(
            f"the Spark session for {config['spark.master']} could not start: {exc}", field="warehouse_url"
        ) from exc


def _java_home() -> bool:
    import os

    home = os.environ.get("JAVA_HOME")
    return bool(home) and (Path(str(home)) / "bin" / "java").exists()


class LakeSparkEngineAdapter(SparkEngineAdapter):
    """Spark without partitioned tables: an interval is replaced by delete (a rewrite) + append."""

    def _build_table_properties_exp(
        self, *args: Any, partitioned_by: Any = None, partition_interval_unit: Any = None, **kwargs: Any
    ) -> Any:
        # no PARTITIONED BY (ts): one Hive partition per timestamp value; see the module docstring
        return super()._build_table_properties_exp(*args, **kwargs)

    def _insert_overwrite_by_condition(
        self,
        table_name: Any,
        source_queries: Any,
        target_columns_to_types: Any = None,
        where: Any = None,
        insert_overwrite_strategy_override: Any = None,
        **kwargs: Any,
    ) -> None:
        # INSERT OVERWRITE of an unpartitioned table replaces all of it: right for a FULL model
        # (no condition), for an interval delete its rows and append the new ones instead
        if where is not None and where != exp.true():
            insert_overwrite_strategy_override = InsertOverwriteStrategy.DELETE_INSERT
        super()._insert_overwrite_by_condition(
            table_name,
            source_queries,
            target_columns_to_types,
            where,
            insert_overwrite_strategy_override=insert_overwrite_strategy_override,
            **kwargs,
        )

    def delete_from(self, table_name: Any, where: str | exp.Expr) -> None:
        """Parquet tables have no DELETE: the rows that stay are copied to a staging table and
        written back with ``INSERT OVERWRITE`` (Spark cannot overwrite a table it reads from)."""
        table = exp.to_table(table_name)
        cond = exp.condition(where, dialect=self.dialect) if isinstance(where, str) else where
        # nothing to delete (every interval of a cold build): no rewrite
        if not self.fetchone(exp.select("1").from_(table).where(cond.copy()).limit(1)):
            return
        staging = self._get_temp_table(table)
        # rows where the condition is NULL stay, as DELETE would keep them
        keep = exp.or_(exp.not_(exp.paren(cond.copy())), exp.Is(this=exp.paren(cond.copy()), expression=exp.null()))
        rows = exp.select("*").from_(table).where(keep).sql(dialect=self.dialect)
        name, staged = table.sql(dialect=self.dialect), staging.sql(dialect=self.dialect)
        self.execute(f"CREATE TABLE {staged} USING parquet AS {rows}")
        try:
            self.execute(f"INSERT OVERWRITE TABLE {name} SELECT * FROM {staged}")
        finally:
            self.drop_table(staging)

    def create_view(self, view_name: Any, query_or_df: Any, *args: Any, **kwargs: Any) -> None:
        """Also record the view in the warehouse folder (``sparkmodels.record_view``): the session's
        catalog is in memory, and readers without Spark (``hexlake query``, the marts API) need it."""
        super().create_view(view_name, query_or_df, *args, **kwargs)
        view = exp.to_table(view_name, dialect=self.dialect)
        source = _plain_source(query_or_df)
        columns = None
        if source is not None:
            # the schema Spark already resolved: no DESCRIBE statement per view
            types = self.spark_to_sqlglot_types(self.spark.table(source).schema)
            columns = [(n, t.sql(dialect="duckdb")) for n, t in types.items()]
        record_view(self._warehouse_dir(), f"{view.db}.{view.name}", source, columns)

    def drop_view(self, view_name: Any, *args: Any, **kwargs: Any) -> None:
        super().drop_view(view_name, *args, **kwargs)
        view = exp.to_table(view_name, dialect=self.dialect)
        record_view(self._warehouse_dir(), f"{view.db}.{view.name}", None)

    def _warehouse_dir(self) -> Path:
        return Path(str(self.spark.conf.get("spark.sql.warehouse.dir")).removeprefix("file:"))

    def merge(
        self,
        target_table: Any,
        source_table: Any,
        target_columns_to_types: Any,
        unique_key: Sequence[exp.Expr],
        when_matched: Any = None,
        merge_filter: Any = None,
        source_columns: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        # no MERGE on Parquet: stage, delete the matching keys (delete_from), append
        logical_merge(
            self,
            target_table,
            source_table,
            target_columns_to_types,
            unique_key,
            when_matched=when_matched,
            merge_filter=merge_filter,
            source_columns=source_columns,
        )


def _plain_source(query: Any) -> str | None:
    """``db.table`` when ``query`` is ``SELECT * FROM db.table`` (a model's view), else None."""
    if not isinstance(query, exp.Select) or not query.is_star or query.args.get("where") is not None:
        return None
    tables = list(query.find_all(exp.Table))
    if len(tables) != 1 or not tables[0].db or query.find(exp.Join) is not None:
        return None
    return f"{tables[0].db}.{tables[0].name}"


class SparkCursor:
    """The little of a DB-API cursor that status, freshness and run history use, over the Spark
    session SQLMesh's adapter holds (the models' tables live there, not in the warehouse)."""

    def __init__(self, adapter: Any):
        self._adapter = adapter
        self._rows: list[tuple[Any, ...]] = []

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> SparkCursor:
        if params:
            raise ValueError("SparkCursor takes no parameters")
        self._rows = [tuple(r) for r in self._adapter.fetchall(exp.maybe_parse(sql, dialect="duckdb"))]
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._rows


class LakeSparkConnectionConfig(SparkConnectionConfig):
    """SQLMesh's Spark connection with ``LakeSparkEngineAdapter``."""

    @property
    def _engine_adapter(self) -> type[EngineAdapter]:
        return LakeSparkEngineAdapter


def spark_config(settings: Settings, duckdb_config: Config) -> Config:
    """``duckdb_config`` (hexlake's embedded SQLMesh config) moved onto a Spark session."""
    master, _ = parse_url(settings.resolved_warehouse_url())
    config = session_config(settings, master)
    start_session(config)
    # models evaluated side by side, one per core (at most 4): a local session's time is mostly per
    # statement planning on the driver, which a second statement overlaps (3k events: 122 s -> 79 s)
    tasks = min(_cores(master), 4)
    conn = LakeSparkConnectionConfig(config=config, concurrent_tasks=tasks)
    state = DuckDBConnectionConfig(database=str(settings.paths.sqlmesh_state_spark), concurrent_tasks=tasks)
    update: dict[str, Any] = {
        "gateways": {"hexlake": GatewayConfig(connection=conn, state_connection=state)},
        "model_defaults": duckdb_config.model_defaults.model_copy(
            update={"dialect": "spark", "storage_format": "parquet"}
        ),
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

    pattern = _glob(files)
    sources = [pattern] if pattern else files
    parts = [typed("parquet.`" + f.replace("`", "``") + "`") for f in sources]
    if not parts:  # nothing synced yet: an empty, typed view lets the models build
        parts = [
            typed("(SELECT " + ", ".join(f"NULL AS {n}" for n, _ in RAW_EVENTS_COLUMNS) + ") AS e") + " WHERE FALSE"
        ]
    return "CREATE OR REPLACE VIEW main.raw_events_all AS " + " UNION ALL ".join(parts)


_GLOB_CHARS = set("{}[]*?\\,")


def _glob(files: list[str]) -> str | None:
    """One Hadoop glob naming exactly ``files`` (``<dir>/{a.parquet,b.parquet}``), or None.

    One relation instead of a ``UNION ALL`` per file: Spark plans and lists a union of 91 day files
    for every query that reads it (85 s to create the view, 91 s a query, at 3k events under load;
    as one glob: 19 s and 18 s)."""
    if len(files) < 2 or any(_GLOB_CHARS & set(f) for f in files):
        return None
    import os

    root = os.path.commonpath(files)
    return root + "/{" + ",".join(os.path.relpath(f, root) for f in files) + "}"


def register_tables(adapter: Any, warehouse: Path) -> int:
    """Re-register the Parquet tables and the models' views a previous process built.

    The session's catalog is in memory, so a new process (the next ``hexlake transform run``
    without a server) knows no table. Each ``<db>.db/<table>`` directory of the warehouse becomes
    a table at that location (schema from its files), and each model's view (``marts.x``) points
    at the table recorded for it (``sparkmodels.model_views``)."""
    count = 0
    for db_dir in sorted(warehouse.glob("*.db")):
        db = db_dir.name.removesuffix(".db")
        adapter.execute(f"CREATE DATABASE IF NOT EXISTS `{db}`")
        for tdir in sorted(p for p in db_dir.iterdir() if p.is_dir() and any(p.glob("*.parquet"))):
            if tdir.name.startswith("temp_"):
                continue
            location = str(tdir).replace("'", "\\'")
            adapter.execute(f"CREATE TABLE IF NOT EXISTS `{db}`.`{tdir.name}` USING parquet LOCATION '{location}'")
            count += 1
    for view, spec in model_views(warehouse).items():
        schema, _, name = view.partition(".")
        table = ".".join(f"`{p}`" for p in str(spec["table"]).split(".", 1))
        if adapter.spark.catalog.tableExists(str(spec["table"])):
            adapter.execute(f"CREATE DATABASE IF NOT EXISTS `{schema}`")
            adapter.execute(f"CREATE VIEW IF NOT EXISTS `{schema}`.`{name}` AS SELECT * FROM {table}")
    return count


def prepare_raw_layer(adapter: Any, settings: Settings) -> int:
    """(Re)create ``main.raw_events_all`` in the Spark session over the lake; returns the file count.
    First re-registers what an earlier process built (``register_tables``), once per session.

    The view is kept while the lake's current files are the ones it names: creating it makes Spark
    list and read the files' schema (4-12 s at 3k events under load), and an engine refreshes the
    raw layer when it opens, before a plan and before every run."""
    _, lake = parse_url(settings.resolved_warehouse_url())
    files = lake_files(lake)
    if not adapter.spark.catalog.databaseExists("sqlmesh__marts"):
        register_tables(adapter, settings.paths.spark_warehouse)
    if _RAW_VIEW_FILES.get(id(adapter.spark)) == files and adapter.spark.catalog.tableExists("main.raw_events_all"):
        return len(files)
    adapter.execute("CREATE DATABASE IF NOT EXISTS main")
    adapter.execute(raw_view_sql(files))
    _RAW_VIEW_FILES[id(adapter.spark)] = files
    return len(files)


# per Spark session: the lake files main.raw_events_all reads
_RAW_VIEW_FILES: dict[int, list[str]] = {}


__all__ = [
    "LakeSparkConnectionConfig",
    "LakeSparkEngineAdapter",
    "SparkCursor",
    "is_spark",
    "lake_files",
    "parse_url",
    "prepare_raw_layer",
    "raw_view_sql",
    "spark_config",
    "start_session",
]
