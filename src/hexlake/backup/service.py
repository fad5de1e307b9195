"""The backup schedule in the server: a ``CronScheduler`` on ``backup.cron``, off unless
``backup.enabled``; each run creates a backup and prunes the expired ones."""

from __future__ import annotations

import logging

from hexlake.plugins import BackgroundService
from hexlake.runtime import Runtime

log = logging.getLogger("hexlake.backup")


def create(runtime: Runtime) -> BackgroundService | None:
    cfg = runtime.settings.backup
    if not cfg.enabled:
        return None
    from hexlake.backup.archive import create_backup
    from hexlake.ops.scheduler import CronScheduler

    def job(attempt: int) -> None:
        done = create_backup(runtime)
        log.info("backup %s (%s, %d bytes), pruned %s", done["id"], done["class"], done["size"], done["pruned"])

    return CronScheduler("backup", cfg.cron, job, retries=2)


__all__ = ["create"]
