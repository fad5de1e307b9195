"""NATS-specific behaviour beyond the contract: URL parsing, sharding, the DLQ stream copy."""

from __future__ import annotations

import pytest

from hexlake.errors import ConfigError
from hexlake.log import AppendItem, open_log
from hexlake.log.backends.nats import NatsEventLog, parse_nats_url

from .conftest import TEST_CONFIG, FakeClock


def test_url_names_servers_stream_and_options() -> None:
    t = parse_nats_url("nats://h1:4222,h2:4223/EVENTS?replicas=3&shards=8")
    assert (t.servers, t.stream, t.replicas, t.shards) == (
        ["nats://h1:4222", "nats://h2:4223"], "EVENTS", 3, 8)
    assert parse_nats_url("nats://h:4222").stream == "HEXLAKE"


@pytest.mark.parametrize(("url", "reason"), [
    ("nats://", "names no NATS server"),
    ("nats://h:4222/bad.name", "may hold only"),
    ("nats://h:4222/S?replicas=x", "must be integers"),
    ("nats://h:4222/S?replicas=9", "replicas must be 1..5"),
    ("nats://h:4222/S?shards=0", "shards 1..1024"),
    ("nats://h:4222/S?color=red", "unknown option"),
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
