"""The warehouse stage: the DuckDB file's owner (``Warehouse``) and the raw loader.

``open_warehouse("duckdb:///path")`` opens the file; ``get_warehouse(runtime)`` returns the
process's one instance (DuckDB allows a single writing process, so everything shares it).
Exports load lazily (see ``hexlake._lazy``) so that importing settings does not load DuckDB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hexlake._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["Warehouse", "open_warehouse"], "duck"),
    **dict.fromkeys(["LoadProgress", "RawLoader"], "loader"),
    **dict.fromkeys(["READ_ONLY_MESSAGE", "check_read_only"], "readonly"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from hexlake.runtime import Runtime
    from hexlake.warehouse.duck import Warehouse, open_warehouse
    from hexlake.warehouse.loader import LoadProgress, RawLoader
    from hexlake.warehouse.readonly import READ_ONLY_MESSAGE, check_read_only


def get_warehouse(runtime: Runtime) -> Warehouse:
    """The process's Warehouse, opened once from ``runtime.settings`` with the raw tables ensured."""
    from hexlake.warehouse.duck import open_warehouse

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
