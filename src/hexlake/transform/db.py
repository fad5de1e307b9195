"""How the transform stage reaches the warehouse DuckDB file: through the process's one owner."""

from __future__ import annotations

from hexlake.runtime import Runtime
from hexlake.warehouse import Warehouse, get_warehouse


def warehouse(runtime: Runtime) -> Warehouse:
    """The process's ``Warehouse`` (shared with the raw loader), opened on first use."""
    return get_warehouse(runtime)


__all__ = ["warehouse"]
