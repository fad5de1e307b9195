"""The transform scheduler inside the server: incremental runs on ``transform.cron`` and, with
``transform.on_load``, as soon as the loader has loaded new events."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from hexlake.ops.scheduler import CronScheduler
from hexlake.plugins import BackgroundService
from hexlake.runtime import Runtime
from hexlake.transform import db, operations

#: How often the scheduler looks for new loads between ticks (a MAX over ops.load_touches, a small
#: table: each run deletes the rows it restated).
POLL_S = 1.0


class LoadTriggeredScheduler(CronScheduler):
    """A ``CronScheduler`` that also runs the job as soon as ``loaded()`` (the newest load's
    sequence number) moved past the value it had when the last run started.

    Under continuous ingest runs follow each other back to back, so an event waits at most one
    run for the next one to start instead of up to a cron interval; with no new loads it runs
    on the ticks only (as-of marts still move with time). After a failed run it waits for the
    tick: a broken model is not retried every second.
    """

    def __init__(self, name: str, cron: str, job: Callable[[int], object], loaded: Callable[[], int | None],
                 *, poll_s: float = POLL_S, retries: int = 3, backoff_s: float = 2.0,
                 stop_timeout_s: float = 10.0):
        super().__init__(name, cron, job, retries=retries, backoff_s=backoff_s, stop_timeout_s=stop_timeout_s)
        self._loaded = loaded
        self._poll_s = poll_s
        self._seen: int | None = None
        self._failed = False

    def _new_loads(self) -> bool:
        try:
            newest = self._loaded()
        except Exception:  # the warehouse is busy or not there yet: the tick still runs
            return False
        return newest is not None and (self._seen is None or newest > self._seen)

    def step(self) -> bool:
        tick = self.next_tick(time.time())
        while True:
            left = tick - time.time()
            if left <= 0 or (not self._failed and self._new_loads()):
                break
            if self.stopping.wait(min(left, self._poll_s)):
                return False
        with contextlib.suppress(Exception):  # unknown: the next new load triggers again
            self._seen = self._loaded()
        error = self._attempts()
        self._failed = error is not None
        if error is not None:
            raise error
        return True


def newest_load(runtime: Runtime) -> int | None:
    """Sequence number of the newest ``ops.load_touches`` row (every load appends one per day)."""
    row = db.warehouse(runtime).cursor().execute("SELECT MAX(seq) FROM ops.load_touches").fetchone()
    return int(row[0]) if row and row[0] is not None else None


def create(runtime: Runtime) -> BackgroundService | None:
    """The server's transform scheduler, or None when ``transform.scheduler_enabled`` is off (e.g. the
    transform runs in ``hexlake worker --only transform``)."""
    return scheduler(runtime) if runtime.settings.transform.scheduler_enabled else None


def scheduler(runtime: Runtime) -> CronScheduler:
    """The transform scheduler (retries, backoff, no overlap): on every new load and on cron."""
    cfg = runtime.settings.transform

    def job(attempt: int) -> None:  # the fresh tier now; the as-of tier when its cron is due
        operations.run(runtime, trigger="schedule", attempt=attempt, tier="scheduled")

    if cfg.on_load:
        return LoadTriggeredScheduler("transform", cfg.cron, job, lambda: newest_load(runtime),
                                      retries=cfg.retries, backoff_s=cfg.retry_backoff_s)
    return CronScheduler("transform", cfg.cron, job, retries=cfg.retries, backoff_s=cfg.retry_backoff_s)
