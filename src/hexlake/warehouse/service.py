"""The in-server raw loader: a ``BackgroundService`` draining the log into ``raw_events``."""

from __future__ import annotations

from hexlake.plugins import BackgroundService as ServiceProtocol
from hexlake.runtime import Runtime
from hexlake.services import BackgroundService
from hexlake.warehouse.loader import LoaderBase


class LoaderService(BackgroundService):
    """Loads batch after batch; waits ``interval_s`` when the log is drained and backs off on
    failures (a transient one leaves the batch in the log for a retry, a terminal one dead-letters
    the messages that cause it: ``LoaderBase.load_leased``)."""

    name = "raw_loader"

    def __init__(self, loader: LoaderBase, interval_s: float, *, exit_when_drained: bool = False):
        super().__init__(interval_s=interval_s, backoff_base_s=max(interval_s, 0.5), backoff_max_s=60.0,
                         exit_when_drained=exit_when_drained)
        self.loader = loader
        self.loaded = 0

    def step(self) -> bool:
        """Load one batch; True if there was anything to read."""
        loader = self.loader
        messages = loader.log.read(loader.group, loader.consumer, loader.config.loader_batch)
        if messages:
            self.loaded += loader.load_leased(messages)[0]
        return bool(messages)

    def drained(self) -> bool:
        return all(s.lag == 0 for s in self.loader.log.status() if s.group == self.loader.group)


def create(runtime: Runtime) -> ServiceProtocol | None:
    from hexlake.log import get_log
    from hexlake.warehouse import get_warehouse, make_raw_loader

    settings = runtime.settings
    loader = make_raw_loader(get_log(runtime), get_warehouse(runtime), settings.warehouse)
    return LoaderService(loader, settings.warehouse.loader_interval_s)


__all__ = ["LoaderService", "create"]
