"""The warehouse stage: the ``Warehouse`` protocol, its engines, and the raw loader.

``open_warehouse(url)`` picks the engine from the URL's scheme (``duckdb:///path`` or
``postgresql://…``, see ``warehouse.backends``) and imports only that engine's driver;
``get_warehouse(runtime)`` returns the process's one instance (DuckDB allows a single writing
process, so everything shares it); ``make_raw_loader`` gives the loader that fits the engine.
Exports load lazily (see ``hexlake._lazy``) so that importing settings does not load DuckDB.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hexlake._lazy import lazy_exports
from hexlake.errors import ConfigError

_EXPORTS = {
    **dict.fromkeys(["Cursor", "Warehouse"], "protocol"),
    **dict.fromkeys(["LoadProgress", "LoaderBase", "RawLoader"], "loader"),
    **dict.fromkeys(["READ_ONLY_MESSAGE", "check_read_only"], "readonly"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from hexlake.config import Settings
    from hexlake.log.protocol import EventLog
    from hexlake.runtime import Runtime
    from hexlake.warehouse.config import WarehouseConfig
    from hexlake.warehouse.loader import LoaderBase, LoadProgress, RawLoader
    from hexlake.warehouse.protocol import Cursor, Warehouse
    from hexlake.warehouse.readonly import READ_ONLY_MESSAGE, check_read_only

#: URL scheme -> engine module in ``hexlake.warehouse.backends`` (it has ``connect(url)``).
SCHEMES = {"duckdb": "duckdb", "postgresql": "postgres", "postgres": "postgres", "postgresql+psycopg": "postgres"}
#: ``Warehouse.dialect`` -> the raw loader class that fits it, as ``module:class``.
LOADERS = {"duckdb": "hexlake.warehouse.loader:RawLoader",
           "postgres": "hexlake.warehouse.backends.postgres:PostgresRawLoader"}


def open_warehouse(url: str) -> Warehouse:
    """Open the warehouse at ``url``: ``duckdb:///path/to/file.duckdb``, ``duckdb:///:memory:``,
    or ``postgresql://user@host/db``."""
    scheme, sep, _ = url.partition("://")
    engine = SCHEMES.get(scheme.lower()) if sep else None
    if engine is None:
        raise ConfigError(f"unsupported warehouse URL {url!r}; supported schemes: duckdb://, postgresql://",
                          field="warehouse_url")
    backend = importlib.import_module(f"hexlake.warehouse.backends.{engine}")
    warehouse: Warehouse = backend.connect(url)
    return warehouse


def pg_dsn(url: str) -> str:
    """The libpq URL of a PostgreSQL warehouse URL: SQLAlchemy's ``+psycopg`` and the ``#…`` options
    dropped (the warehouse backend and the transform's cross-process lock connect with it)."""
    return url.partition("#")[0].replace("postgresql+psycopg://", "postgresql://")


def landing_url(settings: Settings) -> str:
    """The URL of the warehouse the loader writes. ``spark://…`` selects where the SQLMesh models run
    (Spark over the lake, ``hexlake.transform.spark``); raw landing, run history and the late-day log
    then stay in the data dir's DuckDB file."""
    url = settings.resolved_warehouse_url()
    return f"duckdb:///{settings.paths.warehouse_db}" if url.startswith("spark://") else url


def get_warehouse(runtime: Runtime) -> Warehouse:
    """The process's Warehouse, opened once from ``runtime.settings`` with the raw tables ensured."""

    def factory(rt: Runtime) -> Warehouse:
        warehouse = open_warehouse(landing_url(rt.settings))
        warehouse.ensure_raw_tables()
        if getattr(warehouse, "dialect", "duckdb") == "duckdb":  # user SQL shares this database
            from hexlake.warehouse.sandbox import harden

            # raw_events_all reads the cold tier's files (hexlake.lake.tiers)
            harden(warehouse.cursor(), rt.settings.query.memory_limit, readable_dirs=[rt.paths.lake_dir])
        return warehouse

    return runtime.resource("warehouse", factory)


def make_raw_loader(log: EventLog, warehouse: Warehouse, config: WarehouseConfig | None = None,
                    **kwargs: Any) -> LoaderBase:
    """The raw loader that fits ``warehouse``'s engine (Arrow + SeenIds on DuckDB, COPY on PostgreSQL)."""
    module, _, name = LOADERS[warehouse.dialect].partition(":")
    loader: LoaderBase = getattr(importlib.import_module(module), name)(log, warehouse, config, **kwargs)
    return loader


__all__ = [
    "READ_ONLY_MESSAGE",
    "Cursor",
    "LoadProgress",
    "LoaderBase",
    "RawLoader",
    "Warehouse",
    "check_read_only",
    "get_warehouse",
    "landing_url",
    "make_raw_loader",
    "open_warehouse",
    "pg_dsn",
]
