"""The pipeline scheduler: one ``CronScheduler`` per pipeline of ``pipelines.toml`` (retries with
backoff, never overlapping), owned by a service that retries pending failure webhooks. Runs inside
the server (``plugins.SERVICES``) or in ``hexlake worker --only pipelines``."""

from __future__ import annotations

import logging

from hexlake.ops.scheduler import CronScheduler
from hexlake.pipeline.config import Pipeline, load_pipelines
from hexlake.pipeline.runner import deliver_pending, run_pipeline
from hexlake.plugins import BackgroundService as ServiceProtocol
from hexlake.runtime import Runtime
from hexlake.services import BackgroundService

log = logging.getLogger(__name__)


class PipelineService(BackgroundService):
    """Owns the pipelines' schedulers (children); its own step delivers due webhook retries."""

    name = "pipelines"

    def __init__(self, runtime: Runtime, pipelines: dict[str, Pipeline], *, interval_s: float = 5.0):
        super().__init__(interval_s=interval_s)
        self.runtime = runtime
        self.children = [self._scheduler(p) for p in pipelines.values()]

    def _scheduler(self, pipeline: Pipeline) -> CronScheduler:
        def job(attempt: int) -> None:
            run_pipeline(self.runtime, pipeline, trigger="schedule", attempt=attempt,
                         last_attempt=attempt >= pipeline.retries)

        return CronScheduler(f"pipeline:{pipeline.name}", pipeline.cron, job, retries=pipeline.retries,
                             backoff_s=pipeline.backoff_s)

    def step(self) -> bool:
        deliver_pending(self.runtime)
        return False


def create(runtime: Runtime) -> ServiceProtocol | None:
    """The pipeline service, or None when ``<data_dir>/pipelines.toml`` defines no pipeline."""
    pipelines = load_pipelines(runtime.settings.data_dir)
    return PipelineService(runtime, pipelines) if pipelines else None


__all__ = ["PipelineService", "create"]
