"""A cron scheduler for one job in a background thread: retries with backoff, never overlapping.

Ticks follow a cron expression (croniter; 5 fields, or 6 with seconds last). The job runs in the
scheduler's own thread, so two runs of it can never overlap; ticks that pass while a run is still
going are skipped, not queued. A failing job is retried ``retries`` times with exponential backoff
(``backoff_s``, doubling) and then waits for the next tick.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from croniter import croniter

from hexlake.errors import ConfigError

log = logging.getLogger(__name__)


def validate_cron(expr: str) -> str:
    if not croniter.is_valid(expr):
        raise ConfigError(
            f"invalid cron expression {expr!r}; use 5 fields like '* * * * *' "
            "(or 6 with seconds last)", field="transform.cron")
    return expr


class CronScheduler:
    """Runs ``job(attempt)`` on every tick of ``cron``. Implements ``BackgroundService``."""

    def __init__(self, name: str, cron: str, job: Callable[[int], object], *, retries: int = 3,
                 backoff_s: float = 2.0):
        self.name = name
        self.cron = validate_cron(cron)
        self._job = job
        self._retries = max(1, retries)
        self._backoff_s = backoff_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0
        self.failures = 0

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=f"hexlake-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def next_tick(self, now: float) -> float:
        return float(croniter(self.cron, datetime.fromtimestamp(now)).get_next(float))

    def _loop(self) -> None:
        while not self._stop.is_set():
            delay = self.next_tick(time.time()) - time.time()
            if self._stop.wait(max(0.0, delay)):
                return
            self.run_once()

    def run_once(self) -> bool:
        """One tick: the job with its retries. True if an attempt succeeded."""
        for attempt in range(1, self._retries + 1):
            try:
                self._job(attempt)
                self.runs += 1
                return True
            except Exception as exc:  # the job records its own failure; we only pace retries
                self.failures += 1
                log.warning("%s run attempt %d/%d failed: %s", self.name, attempt, self._retries, exc)
                if attempt < self._retries and self._stop.wait(self._backoff_s * 2 ** (attempt - 1)):
                    return False
        return False


__all__ = ["CronScheduler", "validate_cron"]
