from __future__ import annotations

from hexlake.plugins import BackgroundService
from hexlake.runtime import Runtime


def create(runtime: Runtime) -> BackgroundService | None:
    return None
