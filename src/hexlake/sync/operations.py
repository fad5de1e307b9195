"""Sync operations the CLI calls through ``cli_common.call`` (in the server when one runs: the
sync status table lives in the warehouse, which the server owns)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hexlake.runtime import Runtime


def sync_run(runtime: Runtime, target: str, tables: list[str] | None = None) -> dict[str, Any]:
    """Send new, changed, pending and failed batches to ``target``; the report as a dict."""
    from hexlake.sync import SyncOptions, open_target
    from hexlake.sync import sync_run as run
    from hexlake.warehouse import get_warehouse

    dest = open_target(target)
    try:
        report = run(get_warehouse(runtime), dest, SyncOptions(tables=tables or None))
    finally:
        dest.close()
    return vars(report)


def sync_status(runtime: Runtime, target: str | None = None) -> list[dict[str, Any]]:
    from hexlake.sync import sync_status as status
    from hexlake.warehouse import get_warehouse

    return status(get_warehouse(runtime), target)


OPERATIONS: dict[str, Callable[..., Any]] = {"sync_run": sync_run, "sync_status": sync_status}

__all__ = ["OPERATIONS"]
