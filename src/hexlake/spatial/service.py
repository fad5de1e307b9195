"""The clustering job as a server background service (every ``cluster_interval_s``)."""

from __future__ import annotations

from hexlake.plugins import BackgroundService as ServiceProtocol
from hexlake.runtime import Runtime
from hexlake.services import BackgroundService
from hexlake.spatial.clustering import run_clustering


class ClusteringService(BackgroundService):
    """Recomputes hotspots and regions; a failed run backs off (and the next run retries)."""

    name = "spatial-clustering"

    def __init__(self, runtime: Runtime, interval_s: float):
        super().__init__(interval_s=interval_s, backoff_base_s=min(interval_s, 30.0), backoff_max_s=interval_s)
        self.runtime = runtime

    def step(self) -> bool:
        run_clustering(self.runtime)
        return False


def create(runtime: Runtime) -> ServiceProtocol | None:
    """The hotspot/region clustering job; ``spatial.cluster_interval_s <= 0`` turns it off."""
    interval = runtime.settings.spatial.cluster_interval_s
    return ClusteringService(runtime, interval) if interval > 0 else None
