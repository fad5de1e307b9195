"""The in-server raw loader: a background thread draining the log into ``raw_events``."""

from __future__ import annotations

import logging
import threading

from hexlake.plugins import BackgroundService
from hexlake.runtime import Runtime
from hexlake.warehouse.loader import LoaderBase

log = logging.getLogger(__name__)


class LoaderService:
    """Runs ``RawLoader`` batch after batch; sleeps ``interval_s`` when the log is drained or on errors."""

    name = "raw_loader"

    def __init__(self, loader: LoaderBase, interval_s: float):
        self.loader = loader
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors = 0

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="hexlake-raw-loader", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Finish the current batch, then stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self._step()
            except Exception:  # keep the loader alive; unacked messages are redelivered
                self.errors += 1
                log.exception("raw loader batch failed; retrying in %.1fs", self.interval_s)
                busy = False
            if not busy:
                self._stop.wait(self.interval_s)

    def _step(self) -> bool:
        """Load one batch; True if there was anything to read."""
        messages = self.loader.log.read(self.loader.group, self.loader.consumer,
                                        self.loader.config.loader_batch)
        if messages:
            self.loader.load_batch(messages)
        return bool(messages)


def create(runtime: Runtime) -> BackgroundService | None:
    from hexlake.log import get_log
    from hexlake.warehouse import get_warehouse, make_raw_loader

    settings = runtime.settings

    loader = make_raw_loader(get_log(runtime), get_warehouse(runtime), settings.warehouse)
    return LoaderService(loader, settings.warehouse.loader_interval_s)


__all__ = ["LoaderService", "create"]
