"""How the transform stage reaches the warehouse DuckDB file: through the process's one owner."""

from __future__ import annotations

from typing import Any

from hexlake.runtime import Runtime
from hexlake.warehouse import Warehouse, get_warehouse


def warehouse(runtime: Runtime) -> Warehouse:
    """The process's ``Warehouse`` (shared with the raw loader), opened on first use."""
    return get_warehouse(runtime)


def models(runtime: Runtime) -> Any:
    """Where the read API finds the models: the warehouse, or the tables Spark built (``spark://``)."""
    from hexlake.warehouse.query import models_reader

    return models_reader(runtime)


__all__ = ["models", "warehouse"]
