"""The transform scheduler inside the server: incremental runs on ``transform.cron``."""

from __future__ import annotations

from hexlake.ops.scheduler import CronScheduler
from hexlake.plugins import BackgroundService
from hexlake.runtime import Runtime
from hexlake.transform import operations


def create(runtime: Runtime) -> BackgroundService | None:
    """A ``CronScheduler`` running ``transform run`` (retries, backoff, no overlap), or None if off."""
    cfg = runtime.settings.transform
    if not cfg.scheduler_enabled:
        return None

    def job(attempt: int) -> None:
        operations.run(runtime, trigger="schedule", attempt=attempt)

    return CronScheduler("transform", cfg.cron, job, retries=cfg.retries, backoff_s=cfg.retry_backoff_s)
