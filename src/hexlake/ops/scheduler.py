"""A cron scheduler for one job in a background thread: retries with backoff, never overlapping.

Ticks follow a cron expression (croniter; 5 fields, or 6 with seconds last). The job runs in the
scheduler's own thread, so two runs of it can never overlap; ticks that pass while a run is still
going are skipped, not queued. A failing job is retried ``retries`` times with exponential backoff
(``backoff_s``, doubling, with jitter) if the error is ``Transient``; a ``Terminal`` one (an audit
failed, a model is broken) waits for the next tick at once. Runs on ``hexlake.services``'s base, so
the scheduler has health, metrics and a bounded ``stop``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from croniter import croniter

from hexlake.errors import ConfigError, is_transient
from hexlake.services import BackgroundService

log = logging.getLogger(__name__)


def validate_cron(expr: str) -> str:
    if not croniter.is_valid(expr):
        raise ConfigError(
            f"invalid cron expression {expr!r}; use 5 fields like '* * * * *' "
            "(or 6 with seconds last)", field="transform.cron")
    return expr


class CronScheduler(BackgroundService):
    """Runs ``job(attempt)`` on every tick of ``cron``, on the ``BackgroundService`` base (health,
    metrics, bounded stop)."""

    def __init__(self, name: str, cron: str, job: Callable[[int], object], *, retries: int = 3,
                 backoff_s: float = 2.0, stop_timeout_s: float = 10.0):
        super().__init__(name, interval_s=0.0, backoff_base_s=max(backoff_s, 0.01),
                         backoff_max_s=max(backoff_s, 0.01) * 2 ** 10, stop_timeout_s=stop_timeout_s)
        self.cron = validate_cron(cron)
        self._job = job
        self._retries = max(1, retries)
        self._backoff_s = backoff_s
        self.failures = 0

    def next_tick(self, now: float) -> float:
        return float(croniter(self.cron, datetime.fromtimestamp(now)).get_next(float))

    def step(self) -> bool:
        """Wait for the next tick, then run the job; raises the last error if every attempt failed."""
        if self.stopping.wait(max(0.0, self.next_tick(time.time()) - time.time())):
            return False
        error = self._attempts()
        if error is not None:
            raise error
        return True  # no idle wait: the next step waits for the next tick

    def backoff(self, failures: int) -> float:
        """Retries are paced inside one tick (``_attempts``); after that, the next tick is the retry."""
        return 0.0

    def run_once(self) -> bool:
        """One tick: the job with its retries. True if an attempt succeeded."""
        return self._attempts() is None

    def _attempts(self) -> Exception | None:
        """Run the job; retry a transient failure up to ``retries`` times (backoff doubling, with
        jitter); a terminal one waits for the next tick. None on success, else the last error."""
        for attempt in range(1, self._retries + 1):
            try:
                self._job(attempt)
                return None
            except Exception as exc:  # the job records its own failure; we only pace retries
                self.failures += 1
                retry = is_transient(exc) and attempt < self._retries
                log.warning("%s run attempt %d/%d failed (%s): %s", self.name, attempt, self._retries,
                            "retrying" if retry else "waiting for the next tick", exc)
                if not retry or self.stopping.wait(super().backoff(attempt)):
                    return exc
        raise AssertionError("unreachable")


__all__ = ["CronScheduler", "validate_cron"]
