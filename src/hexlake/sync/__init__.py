"""Warehouse sync (seed 003): export events and marts to an external target in tracked batches.

A batch is one (table, day) partition. Each batch is recorded in ``warehouse_sync_status`` (rows,
status pending/synced/failed, retries, error, fingerprint) and written to the target by replacing
that partition, so re-running never duplicates rows, an interrupted run resumes, and a day whose
rows changed (a mart rebuilt with late data) is sent again. Exports load lazily.
"""

from typing import TYPE_CHECKING

from hexlake._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    **dict.fromkeys(["SyncOptions", "SyncReport", "sync_run", "sync_status"], "runner"),
    **dict.fromkeys(["ParquetTarget", "PostgresTarget", "Target", "open_target"], "targets"),
})

if TYPE_CHECKING:
    from hexlake.sync.runner import SyncOptions, SyncReport, sync_run, sync_status
    from hexlake.sync.targets import ParquetTarget, PostgresTarget, Target, open_target

__all__ = ["ParquetTarget", "PostgresTarget", "SyncOptions", "SyncReport", "Target", "open_target",
           "sync_run", "sync_status"]
