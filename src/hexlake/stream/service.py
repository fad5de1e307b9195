"""The server's background service factory for the stream consumers."""

from __future__ import annotations

from hexlake.plugins import BackgroundService
from hexlake.runtime import Runtime


def create(runtime: Runtime) -> BackgroundService | None:
    if not runtime.settings.stream.enabled:
        return None
    from hexlake.stream.runner import StreamService

    return StreamService(runtime)
