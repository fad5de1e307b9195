"""The ML background service: logs served recommendations, keeps features and place vectors fresh.

Its child ``ml-events`` sends the ``recommendation_served`` events of the last ``ml.served_flush_s``
(2 s) through the gate into the log as one batch (so a request never waits for an fsync), and flushes
once more when it stops. Each step of ``ml`` (1 s): every ``refresh_s`` the feature snapshot is
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
    """Send waiting ``recommendation_served`` events into the log; returns how many. If the log
    refuses them they go back to the front of the queue (for the next flush) and the error is raised."""
    from hexlake.collect.ingest import ingest
    from hexlake.ml.serve import recommender

    rec = recommender(runtime)
    events = rec.take_served()
    if events:
        try:
            ingest(runtime, events, source=ML_SOURCE)
        except BaseException:
            rec.requeue(events)
            raise
    return len(events)


class ServedEventsService(BackgroundService):
    """Logs served recommendations in batches, off the request path (a request only appends to a list).
    Its own thread, so a long snapshot refresh or embedding batch never holds the events back; the
    last flush runs when it stops, so a clean shutdown loses none."""

    name = "ml-events"

    def __init__(self, runtime: Runtime, interval_s: float) -> None:
        super().__init__(interval_s=interval_s, backoff_base_s=1.0, backoff_max_s=30.0)
        self.runtime = runtime

    def step(self) -> bool:
        flush_served(self.runtime)
        return False

    def teardown(self) -> None:
        flush_served(self.runtime)


class MLService(BackgroundService):
    name = "ml"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(interval_s=1.0, backoff_base_s=1.0, backoff_max_s=60.0)
        self.runtime = runtime
        self._embedded = -1e9
        self._places = -1
        self.children = [ServedEventsService(runtime, runtime.settings.ml.served_flush_s)]

    def step(self) -> bool:
        from hexlake.ml.posts import consume_posts
        from hexlake.ml.serve import recommender, refresh_from

        more = consume_posts(self.runtime) > 0
        rec = recommender(self.runtime)
        if rec.stale():
            refresh_from(self.runtime)
            snap = rec.snapshot
            places = 0 if snap is None else snap.places.height
            # place texts: at once when the number of places changed, else with every refresh_s
            if places != self._places or time.monotonic() - self._embedded > rec.refresh_s:
                from hexlake.ml.vectors import embed_pending

                embed_pending(self.runtime)
                self._embedded, self._places = time.monotonic(), places
        return more


def create(runtime: Runtime) -> ServiceProtocol | None:
    return MLService(runtime)


PLACE_TTL_S = 3600.0


def place_entity(place_id: str) -> str:
    """The online-store key of a place's features (beside ``user:<user_key>``)."""
    return f"place:{place_id}"


def materialise_places(runtime: Runtime) -> int:
    """Write the serving snapshot's place features to the online store; returns how many places."""
    from hexlake.features import get_online_store
    from hexlake.ml.serve import recommender

    snap = recommender(runtime).snapshot
    if snap is None or snap.place.is_empty():
        return 0
    as_of = snap.as_of.isoformat()
    rows = [(place_entity(str(r.pop("place_id"))), {**r, "as_of": as_of}) for r in snap.place.fill_nan(None).to_dicts()]
    get_online_store(runtime).put_many(rows, PLACE_TTL_S)
    return len(rows)


__all__ = [
    "ML_SOURCE",
    "MLService",
    "ServedEventsService",
    "create",
    "flush_served",
    "materialise_places",
    "place_entity",
]
