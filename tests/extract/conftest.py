"""A private PostgreSQL 15 cluster with ``wal_level = logical`` for the change data capture tests.

The machine's PostgreSQL runs with ``wal_level = replica`` and is shared: changing it needs a restart
of everyone's database. So the CDC tests start their own cluster (``initdb`` as the ``postgres`` user
when run as root, trust auth, a free loopback port, its socket in its own directory) and stop and
remove it at the end. xdist workers share one cluster through a lock file: ``STATE`` records the
cluster (port, directory) and the pids of the test processes using it; the last one to leave stops
it. A crashed run's pid is pruned by the next run, which reuses the cluster and stops it when it
ends, so a cluster never outlives the next test session.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hexlake._process import pid_alive
from hexlake.config import Settings
from hexlake.runtime import Runtime
from hexlake.setup import initialise
from tests.conftest import ensure_service, unique_name

PG_BIN = Path(os.environ.get("HEXLAKE_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
LOCK = Path(tempfile.gettempdir()) / "hexlake-test-logical-pg.lock"
MACHINE_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
STATE = Path(tempfile.gettempdir()) / "hexlake-test-logical-pg.json"


def _as_owner(args: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def admin_url(port: int) -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


def _is_logical(port: int) -> bool:
    try:
        with psycopg.connect(admin_url(port), connect_timeout=3) as conn:
            return conn.execute("SHOW wal_level").fetchone() == ("logical",)
    except psycopg.Error:
        return False


def _run(args: list[str]) -> None:
    done = subprocess.run(_as_owner(args), capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed: {(done.stderr or done.stdout).strip()[-2000:]}")


def start_cluster() -> dict[str, Any]:
    """initdb + pg_ctl start a fresh cluster; returns its state (port, directory)."""
    root = Path(tempfile.mkdtemp(prefix="hexlake-logical-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", _free_port()
    state = {"port": port, "root": str(root)}
    try:
        _run([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"])
        options = (f"-p {port} -c listen_addresses=127.0.0.1 -c wal_level=logical -c max_replication_slots=20 "
                   f"-c max_wal_senders=20 -c fsync=off -k {root}")
        _run([str(PG_BIN / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(data), "-l", str(root / "log"),
              "-o", options])
    except BaseException:
        stop_cluster(state)  # nothing left behind by a failed start
        raise
    return state


def stop_cluster(state: dict[str, Any]) -> None:
    data = Path(state["root"]) / "data"
    if data.exists():
        subprocess.run(_as_owner([str(PG_BIN / "pg_ctl"), "stop", "-m", "immediate", "-w", "-D", str(data)]),
                       capture_output=True, check=False, timeout=120)
    shutil.rmtree(state["root"], ignore_errors=True)


@contextlib.contextmanager
def _locked() -> Iterator[dict[str, Any]]:
    """The shared state under the lock (written back on exit); dead users pruned."""
    with LOCK.open("a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            state: dict[str, Any] = json.loads(STATE.read_text()) if STATE.exists() else {}
            state["users"] = [p for p in state.get("users", []) if pid_alive(p)]
            yield state
            STATE.write_text(json.dumps(state))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def logical_pg() -> Iterator[int]:
    """The port of a PostgreSQL 15 cluster with wal_level = logical, private to the tests."""
    try:
        with _locked() as state:
            if not (state.get("port") and _is_logical(state["port"])):
                if state.get("root"):
                    stop_cluster(state)  # recorded but not answering: a crashed run's leftovers
                state.update(start_cluster())
            state["users"].append(os.getpid())
            port = int(state["port"])
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
        # never a skip: CDC is part of the suite and the cluster is ours to start
        pytest.fail(f"could not start the private wal_level=logical PostgreSQL for the CDC tests "
                    f"({PG_BIN}): {exc}", pytrace=False)
    atexit.register(_leave)  # also when the session ends without running fixture teardown
    try:
        yield port
    finally:
        _leave()


def _leave() -> None:
    """This process stops using the cluster; the last user stops and removes it. Idempotent."""
    with _locked() as state:
        mine = os.getpid() in state["users"]
        state["users"] = [p for p in state["users"] if p != os.getpid()]
        if mine and not state["users"] and state.get("root"):
            stop_cluster(state)
            state.clear()
            state["users"] = []


@pytest.fixture
def logical_pg_url(logical_pg: int) -> Iterator[str]:
    """A fresh database on the logical cluster; its replication slots and itself dropped afterwards."""
    name = unique_name("hexlake_test")
    with psycopg.connect(admin_url(logical_pg), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:{logical_pg}/{name}"
    finally:
        with psycopg.connect(admin_url(logical_pg), autocommit=True) as conn:
            # a slot left by a failed test would block DROP DATABASE
            conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                         "WHERE database = %s AND NOT active", (name,))
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["duckdb", "postgresql"])
def any_runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    """A data dir on the embedded DuckDB warehouse, then on a PostgreSQL warehouse (its own database
    on the machine's PostgreSQL, dropped afterwards): the same test, the same truths, on both."""
    url = None
    if request.param == "postgresql":
        ensure_service(5432)
        url = f"postgresql://postgres@127.0.0.1:5432/{unique_name('hexlake_test_wh')}"
        with psycopg.connect(MACHINE_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{url.rsplit("/", 1)[1]}"')
    settings = Settings(data_dir=tmp_path / "data", warehouse_url=url)
    try:
        initialise(settings)
        rt = Runtime(settings)
        try:
            yield rt
        finally:
            rt.close()
    finally:
        if url:
            with psycopg.connect(MACHINE_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def on_postgres(rt: Runtime) -> bool:
    return bool(rt.settings.warehouse_url)


__all__ = ["admin_url", "any_runtime", "logical_pg", "logical_pg_url", "on_postgres", "start_cluster",
           "stop_cluster"]
