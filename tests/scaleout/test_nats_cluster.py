"""A 3-node NATS JetStream cluster on loopback: the stream leader is killed during a load, and no
acknowledged event is lost or stored twice; a consumer group that runs through the failover gets
every one of them (docs/scale-out.md, "NATS JetStream event log")."""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from hexlake.errors import LogError
from hexlake.log import AppendItem, LogConfig
from hexlake.log.backends.nats import NatsEventLog
from tests.helpers import free_port

pytestmark = [pytest.mark.services, pytest.mark.slow]

NATS = shutil.which("nats-server") or "/usr/sbin/nats-server"
BATCHES, BATCH = 60, 50


class Cluster:
    """Three ``nats-server -js`` processes routed to each other (the configuration of the docs)."""

    def __init__(self, root: Path) -> None:
        self.client_ports = [free_port() for _ in range(3)]
        self.route_ports = [free_port() for _ in range(3)]
        routes = ",".join(f"nats://127.0.0.1:{p}" for p in self.route_ports)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        for i in range(3):
            name = f"n{i + 1}"
            (root / name).mkdir()
            self.procs[name] = subprocess.Popen(
                [NATS, "-a", "127.0.0.1", "-p", str(self.client_ports[i]), "-n", name, "-js",
                 "-sd", str(root / name), "--cluster_name", "hexlake",
                 "--cluster", f"nats://127.0.0.1:{self.route_ports[i]}", "--routes", routes,
                 "-l", str(root / f"{name}.log")])
        self.servers = ",".join(f"127.0.0.1:{p}" for p in self.client_ports)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    if not Path(NATS).exists():
        pytest.fail("nats-server is not installed (Debian package nats-server)")
    c = Cluster(tmp_path)
    try:
        yield c
    finally:
        c.stop()


def open_when_ready(url: str, timeout: float = 60) -> NatsEventLog:
    """The cluster elects its JetStream meta leader a few seconds after start: retry until then."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return NatsEventLog(url, LogConfig(visibility_timeout_s=5.0))
        except LogError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_killing_the_stream_leader_during_a_load_loses_and_doubles_no_acknowledged_event(
        cluster: Cluster) -> None:
    log = open_when_ready(f"nats://{cluster.servers}/CLUSTERED?replicas=3&shards=4")
    acked: list[str] = []
    consumed: Counter[str] = Counter()
    append_errors: list[str] = []
    stop = threading.Event()

    def produce() -> None:
        for b in range(BATCHES):
            items = [AppendItem(key=f"u{i % 7}", event_id=f"b{b}e{i}", payload=b"{}") for i in range(BATCH)]
            try:
                log.append(items)
            except LogError as exc:  # not acknowledged: the producer may not count these
                append_errors.append(str(exc))
                continue
            acked.extend(i.event_id for i in items)
            time.sleep(0.02)

    def consume() -> None:
        while not stop.is_set():
            try:
                batch = log.read("loader", "c1", 100)
                if batch:
                    log.ack("loader", [m.offset for m in batch])
                    consumed.update(m.event_id for m in batch)  # counted once acked
                else:
                    time.sleep(0.05)
            except LogError:  # no leader for a moment: retry, as the worker does
                time.sleep(0.2)

    async def leader() -> str:
        info = await log._js.stream_info("CLUSTERED")
        assert info.cluster is not None and info.cluster.leader
        return info.cluster.leader

    log.create_group("loader")
    producer, consumer = threading.Thread(target=produce), threading.Thread(target=consume)
    producer.start()
    consumer.start()
    while len(acked) < BATCHES * BATCH // 3:
        time.sleep(0.05)
    victim = log._loop.run(leader())
    cluster.procs[victim].send_signal(signal.SIGKILL)
    cluster.procs[victim].wait()
    producer.join(120)
    deadline = time.monotonic() + 90
    while set(acked) - set(consumed) and time.monotonic() < deadline:
        time.sleep(0.2)
    stop.set()
    consumer.join(30)
    assert log._loop.run(leader()) != victim

    assert len(acked) >= BATCHES * BATCH * 0.9, f"too few appends acknowledged: {append_errors[:3]}"
    assert not set(acked) - set(consumed), "acknowledged events never delivered"
    stored = Counter(m.event_id for m in log.read("audit", "a", 100_000))
    missing = [e for e in acked if stored[e] != 1]
    assert not missing, f"{len(missing)} acknowledged events lost or stored twice, e.g. {missing[:5]}"
    log.close()
