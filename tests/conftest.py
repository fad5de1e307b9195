"""Shared fixtures: settings on a temp data dir, and real local services (never mocked).

Each service fixture creates a uniquely named database / key prefix and removes it afterwards.
A service that is down is started with the machine's own command; if it still is not reachable the
test is skipped locally but fails under ``CI=true`` (a skip must never hide a failure in CI).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("SQLMESH__DISABLE_ANONYMIZED_ANALYTICS", "1")

from hexlake.config import Settings

START_COMMANDS = {
    5432: "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    6379: (
        'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no '
        "--dir /var/lib/redis --logfile /var/log/redis/ci.log"
    ),
    3306: "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
    4222: (
        "start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- "
        "-a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log"
    ),
}


DEBIAN_DEPS = Path(__file__).resolve().parents[1] / "scripts" / "ensure-debian-deps.sh"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Install the Debian packages tests need (PostGIS) once, before any test runs.

    Under xdist only the controller does it, before it starts the workers; the script also holds a
    lock, so parallel runs never call apt-get at the same time (docs/operations.md, "Tests").
    """
    if hasattr(session.config, "workerinput"):
        return
    done = subprocess.run(["bash", str(DEBIAN_DEPS)], capture_output=True, text=True, check=False)
    if done.stdout.strip():  # silent when nothing was missing
        print(done.stdout.strip(), file=sys.stderr)
    if done.returncode != 0:
        message = f"{DEBIAN_DEPS.name} failed: {(done.stderr or done.stdout).strip()}"
        if os.environ.get("CI") == "true":
            raise pytest.UsageError(message)
        print(f"warning: {message}", file=sys.stderr)  # only the PostGIS tests will fail


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def ensure_service(port: int) -> None:
    """Start the local service on ``port`` if it is down; skip (or fail in CI) if it stays down."""
    if _port_open(port):
        return
    subprocess.run(START_COMMANDS[port], shell=True, check=False, capture_output=True)
    for _ in range(60):
        if _port_open(port):
            return
        time.sleep(0.5)
    message = f"service on 127.0.0.1:{port} is down and could not be started"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on a fresh temp data dir (not yet initialised)."""
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards."""
    ensure_service(5432)
    import psycopg

    name = unique_name("hexlake_test")
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url() -> Iterator[str]:
    """Redis URL with a unique key prefix as its fragment (``redis://…/0#prefix``); keys removed after."""
    ensure_service(6379)
    import redis

    prefix = unique_name("hexlake_test")
    yield f"redis://127.0.0.1:6379/0#{prefix}"
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        client.delete(key)
    client.close()


@pytest.fixture
def nats_url() -> Iterator[str]:
    """NATS JetStream log URL with a unique stream name; its streams and bucket are deleted after."""
    ensure_service(4222)
    from hexlake.log.backends.nats import NatsEventLog

    url = f"nats://127.0.0.1:4222/{unique_name('HEXLAKE_TEST')}"
    yield url
    log = NatsEventLog(url)
    log.drop()
    log.close()


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A fresh MariaDB database, dropped afterwards."""
    ensure_service(3306)
    import pymysql

    name = unique_name("hexlake_test")
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    try:
        yield f"mysql://root@127.0.0.1:3306/{name}"
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()
