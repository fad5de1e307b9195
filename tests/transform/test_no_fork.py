"""SQLMesh never forks inside hexlake (a fork in the threaded server deadlocked the model load)."""

from __future__ import annotations

import os
import threading

from hexlake.config import Settings
from hexlake.transform.engine import TransformEngine

_forks: list[int] = []
_watching = threading.Event()
os.register_at_fork(before=lambda: _forks.append(1) if _watching.is_set() else None)


def test_loading_and_running_the_project_forks_no_process(settings: Settings) -> None:
    import sqlmesh.core.constants as c

    assert c.MAX_FORK_WORKERS == 1
    engine = TransformEngine(settings)
    _watching.set()
    try:
        report = engine.plan()
    finally:
        _watching.clear()
        engine.close()
    assert report is not None
    assert _forks == []
