"""The transform's run lock, importable without SQLMesh: one SQLMesh operation at a time in a process
(``RUN_LOCK``) and, on a PostgreSQL warehouse, across every process sharing it (an advisory lock).
Erasure takes it as well: a run must not write back rows of a person it read before their delete."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from hexlake.errors import TransformBusy

if TYPE_CHECKING:
    from hexlake.config import Settings

# One SQLMesh operation at a time per process: the console is process-global and DuckDB allows
# one writer; the scheduler, CLI, API and erasure all go through this lock.
RUN_LOCK = threading.RLock()
#: The PostgreSQL advisory lock (b"hxtransf") that does the same across processes: every server and
#: worker running SQLMesh on one PostgreSQL warehouse (a DuckDB file takes one writing process anyway).
PG_LOCK_KEY = int.from_bytes(b"hxtransf", "big")


def _pg_advisory_lock(url: str, wait_s: float, *, purpose: str) -> Any:
    """A session holding ``PG_LOCK_KEY`` on the warehouse, taken within ``wait_s``; else TransformBusy
    naming the session that holds it. Closing the session releases the lock."""
    import psycopg

    from hexlake.warehouse import pg_dsn

    me = f"hexlake-{purpose} {socket.gethostname()}:{os.getpid()}"
    conn = psycopg.connect(pg_dsn(url), autocommit=True, application_name=me)
    deadline = time.monotonic() + wait_s
    try:
        while not conn.execute("SELECT pg_try_advisory_lock(%s)", (PG_LOCK_KEY,)).fetchone()[0]:  # type: ignore[index]
            if time.monotonic() >= deadline:
                holder = conn.execute(
                    "SELECT a.application_name, a.pid FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                    "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s "
                    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                    (PG_LOCK_KEY >> 32, PG_LOCK_KEY & 0xFFFFFFFF)).fetchone()
                who = f"{holder[0] or 'another client'} (backend pid {holder[1]})" if holder else "another process"
                raise TransformBusy(f"{who} holds this warehouse's transform lock (a run or an erasure); "
                                    f"waited {wait_s:g} s (transform.lock_wait_s). Run the transform in one "
                                    "place: transform.scheduler_enabled=false where a worker runs it")
            time.sleep(min(0.5, max(deadline - time.monotonic(), 0.01)))
    except BaseException:
        conn.close()
        raise
    return conn


def _release(conn: Any) -> None:
    """Unlock, then close: the lock is free when this returns (a closed session's backend lets go of
    it a moment later, and a caller checking at once still saw it held)."""
    try:
        conn.execute("SELECT pg_advisory_unlock(%s)", (PG_LOCK_KEY,))
    except Exception:  # a broken session: closing it releases the lock anyway
        pass
    finally:
        conn.close()


_depth = 0  # nested blocks of the thread holding RUN_LOCK: only the outermost takes the advisory lock


@contextmanager
def no_run_under_way(settings: Settings, *, purpose: str) -> Iterator[None]:
    """Hold off every other transform run on this warehouse for the block: this process's and, on
    PostgreSQL, every other process's (waiting up to ``transform.lock_wait_s``). Re-entrant: a run
    that plans first nests a block in its own, in the same session."""
    global _depth
    with RUN_LOCK:
        url = settings.resolved_warehouse_url()
        held = _depth == 0 and url.startswith("postgres")
        conn = _pg_advisory_lock(url, settings.transform.lock_wait_s, purpose=purpose) if held else None
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
            if conn is not None:
                _release(conn)


__all__ = ["PG_LOCK_KEY", "RUN_LOCK", "no_run_under_way"]
