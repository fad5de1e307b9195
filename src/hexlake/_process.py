"""Process liveness, shared by the server-discovery file, the import store and the test fixtures."""

from __future__ import annotations

import os


def pid_alive(pid: int | None) -> bool:
    """True when a process with ``pid`` exists (owned by anyone: EPERM still means it is there)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
