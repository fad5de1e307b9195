"""The ML background service: logs served recommendations, keeps features and place vectors fresh.

Each step (1 s): the ``recommendation_served`` events of the last second go through the gate into the
log as one batch (so a request never waits for an fsync); every ``refresh_s`` the feature snapshot is
rebuilt (dropping the cache of users whose features changed); and the embedding consumer embeds
places that are new or changed (only with ``hexlake[ml]`` installed).
"""

from __future__ import annotations

import time

from hexlake.gate.envelope import SourceInfo
from hexlake.plugins import BackgroundService as ServiceProtocol
from hexlake.runtime import Runtime
from hexlake.services import BackgroundService

ML_SOURCE = SourceInfo(name="hexlake-ml", unknown_events="accept", internal=True)


def flush_served(runtime: Runtime) -> int:
    """Send waiting ``recommendation_served`` events into the log; returns how many."""
    from hexlake.collect.ingest import ingest
    from hexlake.ml.serve import recommender

    events = recommender(runtime).take_served()
    if events:
        ingest(runtime, events, source=ML_SOURCE)
    return len(events)


class MLService(BackgroundService):
    name = "ml"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(interval_s=1.0, backoff_base_s=1.0, backoff_max_s=60.0)
        self.runtime = runtime
        self._embedded = -1e9

    def step(self) -> bool:
        from hexlake.ml import source
        from hexlake.ml.serve import recommender

        flush_served(self.runtime)
        rec = recommender(self.runtime)
        if rec.stale():
            rec.refresh(source.interactions(self.runtime), source.places(self.runtime))
        if time.monotonic() - self._embedded > rec.refresh_s:
            from hexlake.ml.vectors import embed_pending

            embed_pending(self.runtime)
            self._embedded = time.monotonic()
        return False


def create(runtime: Runtime) -> ServiceProtocol | None:
    return MLService(runtime)


__all__ = ["ML_SOURCE", "MLService", "create", "flush_served"]
