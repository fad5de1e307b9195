"""A 3-node NATS JetStream cluster on loopback: the stream leader is killed during a load, and no
acknowledged event is lost or stored twice in the log; the raw loader, running through the
failover, puts every acknowledged event exactly once into ``raw_events``, and the marts built from
it count every event exactly once per type and day (docs/scale-out.md, "NATS JetStream event log").
Both kinds of consumer groups: the key-value bucket (default) and JetStream durable consumers."""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hexlake.config import Settings
from hexlake.errors import LogError
from hexlake.gate.envelope import Event, encode_event
from hexlake.log import AppendItem, LogConfig
from hexlake.log.backends.nats import NatsEventLog
from hexlake.warehouse import make_raw_loader, open_warehouse
from hexlake.warehouse.config import WarehouseConfig
from tests.helpers import free_port

pytestmark = [pytest.mark.services, pytest.mark.slow]

NATS = shutil.which("nats-server") or "/usr/sbin/nats-server"
BATCHES, BATCH = 60, 50
#: Events span about two days before this hour, so the daily marts have several days and types.
START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
KINDS = [("page", {"name": "home"}), ("screen", {"name": "map"}), ("track", {"event": "tap"})]


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


def envelope(batch: int, i: int) -> tuple[AppendItem, tuple[str, str]]:
    """The message and the (event type, day) the marts must count it under."""
    n = batch * BATCH + i
    kind, props = KINDS[n % len(KINDS)]
    ts = START + timedelta(seconds=53 * n)
    event = Event(event_id=f"b{batch}e{i}", event_type=kind, schema_version=1, source="test", ts=ts,
                  received_at=ts, user_key=f"{i % 7:064x}", properties=props)
    item = AppendItem(key=event.partition_key, event_id=event.event_id, payload=encode_event(event))
    return item, (kind, ts.date().isoformat())


def open_when_ready(url: str, timeout: float = 60, visibility_timeout_s: float = 5.0) -> NatsEventLog:
    """The cluster elects its JetStream meta leader a few seconds after start: retry until then."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return NatsEventLog(url, LogConfig(visibility_timeout_s=visibility_timeout_s))
        except LogError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.mark.parametrize("groups", ["kv", "durable"])
def test_killing_the_stream_leader_during_a_load_loses_and_doubles_no_acknowledged_event(
        cluster: Cluster, tmp_path: Path, groups: str) -> None:
    url = f"nats://{cluster.servers}/CLUSTERED?replicas=3&shards=4"
    log = open_when_ready(f"{url}&groups={groups}")
    settings = Settings(data_dir=tmp_path / "data")
    warehouse = open_warehouse(settings.resolved_warehouse_url())
    warehouse.ensure_raw_tables()
    loader = make_raw_loader(log, warehouse, WarehouseConfig(loader_batch=200), group="raw_loader")
    acked: list[str] = []
    unacked: set[str] = set()  # appends that raised: stored or not, the producer cannot know
    bucket: dict[str, tuple[str, str]] = {}
    consumed: Counter[str] = Counter()
    append_errors: list[str] = []
    stop = threading.Event()

    def produce() -> None:
        for b in range(BATCHES):
            made = [envelope(b, i) for i in range(BATCH)]
            items = [item for item, _ in made]
            bucket.update((item.event_id, day) for item, day in made)
            try:
                log.append(items)
            except LogError as exc:  # not acknowledged: the producer may not count these
                append_errors.append(str(exc))
                unacked.update(i.event_id for i in items)
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

    def load() -> None:
        while not stop.is_set():
            try:
                if not loader.run_once(max_batches=5):
                    time.sleep(0.05)
            except LogError:
                time.sleep(0.2)

    async def leader() -> str:
        info = await log._js.stream_info("CLUSTERED")
        assert info.cluster is not None and info.cluster.leader
        return info.cluster.leader

    log.create_group("loader")
    log.create_group("raw_loader")
    threads = [threading.Thread(target=f) for f in (produce, consume, load)]
    for t in threads:
        t.start()
    producer = threads[0]

    def raw_ids() -> list[str]:
        return [r[0] for r in warehouse.cursor().execute("SELECT event_id FROM raw_events").fetchall()]

    while len(acked) < BATCHES * BATCH // 3:
        time.sleep(0.05)
    victim = log._loop.run(leader())
    cluster.procs[victim].send_signal(signal.SIGKILL)
    cluster.procs[victim].wait()
    producer.join(120)
    deadline = time.monotonic() + 90
    while (set(acked) - set(consumed) or set(acked) - set(raw_ids())) and time.monotonic() < deadline:
        time.sleep(0.2)
    stop.set()
    for t in threads[1:]:
        t.join(30)
    assert log._loop.run(leader()) != victim

    assert len(acked) >= BATCHES * BATCH * 0.9, f"too few appends acknowledged: {append_errors[:3]}"
    assert not set(acked) - set(consumed), "acknowledged events never delivered"
    audit = open_when_ready(url)  # kv groups: a durable group's read gets one message per shard
    stored = Counter(m.event_id for m in audit.read("audit", "a", 100_000))
    audit.close()
    missing = [e for e in acked if stored[e] != 1]
    assert not missing, f"{len(missing)} acknowledged events lost or stored twice, e.g. {missing[:5]}"
    loaded = Counter(raw_ids())
    assert set(acked) <= set(loaded), f"{len(set(acked) - set(loaded))} acknowledged events not in raw_events"
    assert set(loaded.values()) == {1}, "an event was loaded twice"
    assert not set(loaded) - set(acked) - unacked, "raw_events holds an event nobody appended"
    warehouse.close()
    log.close()

    # The marts, built by the SQLMesh models from that raw_events, count each loaded event once:
    # every acknowledged event, plus any whose append raised but was stored (none in most runs).
    from hexlake.transform.engine import TransformEngine

    engine = TransformEngine(settings)
    report = engine.run(execution_time=START + timedelta(days=3))
    engine.close()
    assert report.ok, report.error
    expected = Counter(bucket[e] for e in loaded)
    assert len(expected) >= 6, "the load should span several event types and days"
    warehouse = open_warehouse(settings.resolved_warehouse_url())
    rows = warehouse.cursor().execute(
        "SELECT event_type, CAST(period_start AS DATE), event_count FROM marts.event_aggregations "
        "WHERE period_type = 'day' AND source = 'test'").fetchall()
    staged = warehouse.cursor().execute(
        "SELECT count(*), count(DISTINCT event_id) FROM staging.stg_events").fetchone()
    warehouse.close()
    assert {(kind, str(day)): int(n) for kind, day, n in rows} == dict(expected)
    assert staged == (len(loaded), len(loaded))


def test_a_durable_groups_ack_waits_for_its_consumers_new_leader(cluster: Cluster) -> None:
    """The node leading a durable group's shard consumer dies between a read and its ack: the ack
    lands once the survivors elect a new leader (it used to raise, no responders), and the acked
    message is never delivered again, the next one is."""
    from hexlake.log.backends.nats_durable import _consumer

    # a lease outlasting the election: a redelivery of e0 would show the ack lost, not a lease out
    log = open_when_ready(f"nats://{cluster.servers}/ACKS?replicas=3&shards=1&groups=durable",
                          visibility_timeout_s=60.0)
    log.append([AppendItem(key="u", event_id=f"e{i}", payload=b"x") for i in range(2)])
    [first] = log.read("g", "c", 10)
    info = log._loop.run(log._js.consumer_info("ACKS", _consumer("g", 0)))
    assert info.cluster is not None and info.cluster.leader
    cluster.procs[info.cluster.leader].send_signal(signal.SIGKILL)
    cluster.procs[info.cluster.leader].wait()
    log.ack("g", [first.offset])
    got: list[str] = []
    deadline = time.monotonic() + 30  # a pull request may wait for the new leader, too
    while not got and time.monotonic() < deadline:
        try:
            got = [m.event_id for m in log.read("g", "c", 10)]
        except LogError:
            time.sleep(0.2)
    log.close()
    assert (first.event_id, got) == ("e0", ["e1"])
