"""The process-wide owner of opened resources (log, warehouse, catalog, gate, stage resources).

The server builds one ``Runtime`` and hands it to routers (``request.app.state.runtime``) and
background services. Stages keep their own resources on it through ``resource(name, factory)`` so
that this module never needs to know them; anything with a ``close()`` is closed on shutdown.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

from hexlake.config import Settings

T = TypeVar("T")


class Runtime:
    def __init__(self, settings: Settings):
        from hexlake.ops.modes import secure_umask

        secure_umask()  # whatever this process creates in the data dir is its owner's only
        self.settings = settings
        self.paths = settings.paths
        self._resources: dict[str, Any] = {}
        self._lock = threading.RLock()

    def resource(self, name: str, factory: Callable[[Runtime], T]) -> T:
        """Return the resource ``name``, creating it with ``factory(self)`` the first time."""
        with self._lock:
            if name not in self._resources:
                self._resources[name] = factory(self)
            return cast(T, self._resources[name])

    def close(self) -> None:
        with self._lock:
            for res in reversed(list(self._resources.values())):
                close = getattr(res, "close", None)
                if callable(close):
                    close()
            self._resources.clear()


__all__ = ["Runtime"]
