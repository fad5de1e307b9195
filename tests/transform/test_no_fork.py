"""SQLMesh inside hexlake: never forks (a fork in the threaded server deadlocked the model load) and
does not spam ``SyntaxWarning: "is not" with a literal`` from its audit macros."""

from __future__ import annotations

import os
import threading
import warnings

from hexlake.config import Settings
from hexlake.transform.engine import TransformEngine

_forks: list[int] = []
_watching = threading.Event()
os.register_at_fork(before=lambda: _forks.append(1) if _watching.is_set() else None)


def test_planning_the_project_forks_nothing_and_warns_nothing(settings: Settings) -> None:
    import sqlmesh.core.constants as c

    assert c.MAX_FORK_WORKERS == 1
    engine = TransformEngine(settings)
    _watching.set()
    try:
        with warnings.catch_warnings(record=True) as caught:  # keeps the filters in force, records the rest
            report = engine.plan()
    finally:
        _watching.clear()
        engine.close()
    assert report is not None
    assert _forks == []
    assert [str(w.message) for w in caught if issubclass(w.category, SyntaxWarning)] == []


def test_our_own_code_still_gets_syntax_warnings() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        from hexlake.transform import engine  # noqa: F401  (installs the filter)

        compile("x = 1\nx is not 2\n", "mine.py", "exec")
    assert any(issubclass(w.category, SyntaxWarning) for w in caught)
