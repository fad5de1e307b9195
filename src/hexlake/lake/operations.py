"""Tier operations the CLI calls through ``cli_common.call`` (in the server when one runs: the hot
tier is the warehouse, which the server owns)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hexlake.errors import BadRequest
from hexlake.runtime import Runtime


def tiers_status(runtime: Runtime) -> dict[str, Any]:
    """Rows, days and files of the hot (DuckDB) and cold (Iceberg) tiers, and the moves so far."""
    from hexlake.lake import tiers
    from hexlake.warehouse import get_warehouse

    catalog = tiers.lake_catalog(runtime)
    try:
        result = tiers.status(get_warehouse(runtime), catalog)
    finally:
        catalog.engine.dispose()
    return {**result, "hot_days": runtime.settings.lake.hot_days}


def tiers_move(runtime: Runtime, older_than_days: int | None = None) -> dict[str, Any]:
    """Move events older than ``older_than_days`` (default ``lake.hot_days``) to the lake."""
    from hexlake.lake import tiers
    from hexlake.warehouse import get_warehouse

    if older_than_days is not None and older_than_days < 1:
        raise BadRequest("older_than_days must be at least 1", field="older_than_days")
    cutoff = tiers.cutoff_for(runtime.settings.lake.hot_days if older_than_days is None else older_than_days)
    catalog = tiers.lake_catalog(runtime)
    try:
        return tiers.move(get_warehouse(runtime), catalog, cutoff).to_dict()
    finally:
        catalog.engine.dispose()


OPERATIONS: dict[str, Callable[..., Any]] = {"tiers_status": tiers_status, "tiers_move": tiers_move}

__all__ = ["OPERATIONS"]
