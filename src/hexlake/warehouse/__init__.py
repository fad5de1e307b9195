"""The warehouse stage: the DuckDB file's owner (``Warehouse``) and the raw loader.

``open_warehouse("duckdb:///path")`` opens the file; ``get_warehouse(runtime)`` returns the
process's one instance (DuckDB allows a single writing process, so everything shares it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hexlake.warehouse.duck import Warehouse, open_warehouse
from hexlake.warehouse.loader import LoadProgress, RawLoader
from hexlake.warehouse.readonly import READ_ONLY_MESSAGE, check_read_only

if TYPE_CHECKING:
    from hexlake.runtime import Runtime


def get_warehouse(runtime: Runtime) -> Warehouse:
    """The process's Warehouse, opened once from ``runtime.settings`` with the raw tables ensured."""

    def factory(rt: Runtime) -> Warehouse:
        warehouse = open_warehouse(rt.settings.resolved_warehouse_url())
        warehouse.ensure_raw_tables()
        return warehouse

    return runtime.resource("warehouse", factory)


__all__ = [
    "READ_ONLY_MESSAGE",
    "LoadProgress",
    "RawLoader",
    "Warehouse",
    "check_read_only",
    "get_warehouse",
    "open_warehouse",
]
