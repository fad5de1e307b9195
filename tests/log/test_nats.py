"""NATS-specific behaviour beyond the contract: URL parsing, sharding, the DLQ stream copy."""

from __future__ import annotations

import pytest

from hexlake.errors import ConfigError, LogError
from hexlake.log import AppendItem, open_log
from hexlake.log.backends.nats import NatsEventLog, parse_nats_url

from .conftest import TEST_CONFIG, FakeClock


def test_url_names_servers_stream_and_options() -> None:
    t = parse_nats_url("nats://h1:4222,h2:4223/EVENTS?replicas=3&shards=8")
    assert (t.servers, t.stream, t.replicas, t.shards) == (
        ["nats://h1:4222", "nats://h2:4223"], "EVENTS", 3, 8)
    assert parse_nats_url("nats://h:4222").stream == "HEXLAKE"
    assert (parse_nats_url("nats://h:4222").groups, parse_nats_url("nats://h:4222/S?groups=durable").groups) == (
        "kv", "durable")


@pytest.mark.parametrize(("url", "reason"), [
    ("nats://", "names no NATS server"),
    ("nats://h:4222/bad.name", "may hold only"),
    ("nats://h:4222/S?replicas=x", "must be integers"),
    ("nats://h:4222/S?replicas=9", "replicas must be 1..5"),
    ("nats://h:4222/S?shards=0", "shards 1..1024"),
    ("nats://h:4222/S?color=red", "unknown option"),
    ("nats://h:4222/S?groups=raft", "groups must be kv or durable"),
])
def test_bad_urls_are_config_errors_naming_the_reason(url: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason) as err:
        open_log(url)
    assert err.value.field == "log_url"


@pytest.mark.services
def test_one_users_events_share_a_shard_subject_and_dead_letters_reach_the_dlq(nats_url: str) -> None:
    clock = FakeClock()
    log = open_log(nats_url, TEST_CONFIG, clock=clock)
    assert isinstance(log, NatsEventLog)
    try:
        offs = log.append([AppendItem(key="alice", event_id=f"a{i}", payload=b"{}") for i in range(5)])

        async def subjects() -> set[str | None]:
            return {(await log._js.get_msg(log.target.stream, o)).subject for o in offs}

        assert len(log._loop.run(subjects())) == 1
        (first,) = [m.offset for m in log.read("g", "c", 1)]
        log.nack("g", [first], "SchemaError: bad", retry=False)

        async def dlq_count() -> int:
            info = await log._js.stream_info(f"{log.target.stream}_DLQ")
            return int(info.state.messages)

        assert log._loop.run(dlq_count()) == 1
        assert [d.error for d in log.dead_letters("g")] == ["SchemaError: bad"]
    finally:
        log.close()


@pytest.mark.services
@pytest.mark.slow
def test_a_read_of_the_raw_loaders_default_batch_fits_the_group_entry(nats_url: str) -> None:
    """A group lives in one KV value (NATS caps a value at 1 MB): 20,000 leases (the loader's
    default batch, 64-hex user keys) must fit, and a read that would overflow leases fewer instead."""
    log = open_log(nats_url, TEST_CONFIG, clock=FakeClock())
    assert isinstance(log, NatsEventLog)
    try:
        n = 20_000
        for start in range(0, n, 2000):
            log.append([AppendItem(key=f"{i:064x}", event_id=f"e{i}", payload=b"{}")
                        for i in range(start, start + 2000)])
        first = log.read("loader", "a", n)
        assert len(first) == n

        async def entry_bytes() -> int:
            return len((await log._kv.get("g." + b"loader".hex())).value or b"")

        assert log._loop.run(entry_bytes()) <= n * 32  # the size _pending_room counts with
        log.ack("loader", [m.offset for m in first])
        log._nc._max_payload = 20_000  # a smaller server limit: leases shrink to fit it
        log.append([AppendItem(key=f"{i:064x}", event_id=f"x{i}", payload=b"{}") for i in range(1000)])
        second = log.read("loader", "b", 1000)
        assert 0 < len(second) < 1000
        assert log.read("loader", "c", 1000) == []  # the entry is full until acks free it
        log.ack("loader", [m.offset for m in second])
        third = log.read("loader", "c", 1000)
        assert [m.event_id for m in second + third] == [f"x{i}" for i in range(1000)]
    finally:
        log.close()


@pytest.mark.services
def test_a_long_read_skips_erased_messages_and_returns_the_rest_in_order(nats_url: str) -> None:
    """Windows of 64+ messages are read through a short-lived consumer; erased offsets (inside the
    window and at its end) must be skipped and every other message delivered once, in order."""
    log = open_log(nats_url, TEST_CONFIG, clock=FakeClock())
    assert isinstance(log, NatsEventLog)
    try:
        keys = ["gone" if i % 10 == 3 or i >= 290 else f"u{i % 7}" for i in range(300)]
        offs = log.append([AppendItem(key=k, event_id=f"e{i}", payload=b"{}") for i, k in enumerate(keys)])
        assert log.erase_key("gone") == 29 + 10
        got = log.read("g", "c", 1000)
        assert [m.event_id for m in got] == [f"e{i}" for i, k in enumerate(keys) if k != "gone"]
        later = log.append([AppendItem(key="u1", event_id="late", payload=b"{}")])
        log.ack("g", [m.offset for m in got])
        assert [m.offset for m in log.read("g", "c", 1000)] == later
        assert offs[-1] < later[0]

        async def consumers() -> int:
            return int((await log._js.stream_info(log.target.stream)).state.consumer_count)

        assert log._loop.run(consumers()) == 0, "the short-lived read consumers are deleted"
    finally:
        log.close()


@pytest.mark.services
def test_dead_letters_filling_the_group_entry_stop_reads_loudly(nats_url: str) -> None:
    log = open_log(nats_url, TEST_CONFIG, clock=FakeClock())
    assert isinstance(log, NatsEventLog)
    try:
        log._nc._max_payload = 2000  # a tiny server limit: 14 dead letters with long errors fill it
        log.append([AppendItem(key=f"u{i}", event_id=f"e{i}", payload=b"{}") for i in range(20)])
        for m in log.read("g", "c", 14):
            log.nack("g", [m.offset], "SchemaError: " + "x" * 120, retry=False)
        assert len(log.dead_letters("g")) == 14
        with pytest.raises(LogError, match="dead letters fill"):
            log.read("g", "c", 10)
    finally:
        log.close()
