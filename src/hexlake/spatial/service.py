"""The clustering job as a server background service (its own thread, every ``cluster_interval_s``)."""

from __future__ import annotations

import logging
import threading

from hexlake.plugins import BackgroundService
from hexlake.runtime import Runtime
from hexlake.spatial.clustering import run_clustering

log = logging.getLogger("hexlake.spatial")


class ClusteringService:
    name = "spatial-clustering"

    def __init__(self, runtime: Runtime, interval_s: float):
        self.runtime = runtime
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                run_clustering(self.runtime)
            except Exception:  # a failed run must not kill the server; the next run retries
                log.exception("clustering run failed; retrying next interval")
            self.runs += 1
            self._stop.wait(self.interval_s)


def create(runtime: Runtime) -> BackgroundService | None:
    """The hotspot/region clustering job; ``spatial.cluster_interval_s <= 0`` turns it off."""
    interval = runtime.settings.spatial.cluster_interval_s
    return ClusteringService(runtime, interval) if interval > 0 else None
