"""Retention on the service backends: PostgreSQL drops whole day partitions, Redis trims the stream."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hexlake.log import AppendItem, open_log
from hexlake.log.backends.postgres import PostgresEventLog
from hexlake.log.backends.redis import RedisEventLog

from .conftest import TEST_CONFIG, FakeClock

pytestmark = pytest.mark.services
DAY = 86_400.0


def items(n: int, prefix: str) -> list[AppendItem]:
    return [AppendItem(key=f"{prefix}{i}", event_id=f"{prefix}{i}", payload=b"{}") for i in range(n)]


def test_postgres_retention_drops_finished_day_partitions_only(pg_url: str) -> None:
    clock = FakeClock()
    log = open_log(pg_url, TEST_CONFIG, clock=clock)
    assert isinstance(log, PostgresEventLog)
    day1 = log.append(items(3, "a"))
    clock.advance(DAY)
    day2 = log.append(items(2, "b"))
    clock.advance(DAY)
    log.append(items(1, "c"))
    today = datetime.fromtimestamp(clock(), UTC).date()
    first, *_ = days = log.partitions()
    assert len(days) == 3
    log.ack("g", [m.offset for m in log.read("g", "c", 3)])  # day 1 done, day 2 not yet read
    assert log.drop_partitions_before(today) == [first]
    assert len(log.partitions()) == 2
    got = log.read("g", "c", 10)
    assert [m.offset for m in got][:2] == day2  # day 2 kept: the group had not finished it
    assert log.head_offset() == day2[-1] + 1 and day1[0] not in {m.offset for m in got}
    log.close()


def test_postgres_forced_retention_drops_unfinished_days(pg_url: str) -> None:
    clock = FakeClock()
    log = open_log(pg_url, TEST_CONFIG, clock=clock)
    assert isinstance(log, PostgresEventLog)
    log.append(items(3, "a"))
    clock.advance(DAY)
    log.create_group("g")
    assert log.drop_partitions_before(datetime.fromtimestamp(clock(), UTC).date()) == []
    assert len(log.drop_partitions_before(datetime.fromtimestamp(clock(), UTC).date(), force=True)) == 1
    assert log.read("g", "c", 10) == []
    log.close()


def test_redis_trim_keeps_what_any_group_still_needs(redis_url: str) -> None:
    log = open_log(redis_url, TEST_CONFIG, clock=FakeClock())
    assert isinstance(log, RedisEventLog)
    sent = log.append(items(10, "e"))
    log.create_group("fast")
    log.create_group("slow")
    log.ack("fast", [m.offset for m in log.read("fast", "c", 10)])
    slow = log.read("slow", "c", 4)
    assert log.trim(keep=0) == 0  # "slow" has read nothing past 4 and acked nothing
    log.ack("slow", [m.offset for m in slow[:3]])
    assert log.trim(keep=0) == 3
    assert [m.offset for m in log.read("slow", "c", 10)] == sent[4:]  # still there for slow
    log.ack("slow", sent[3:])
    assert log.trim(keep=2) == 5
    assert log.tail(10) == ["e8", "e9"] and log.head_offset() == sent[-1]
    log.close()


def test_redis_dead_letters_survive_trimming(redis_url: str) -> None:
    clock = FakeClock()
    log = open_log(redis_url, TEST_CONFIG, clock=clock)
    (off,) = log.append([AppendItem(key="k", event_id="poison", payload=b"\xff\x00raw")])
    for _ in range(TEST_CONFIG.max_attempts):
        log.read("g", "c", 1)
        log.nack("g", [off], "bad")
        clock.advance(100)
    assert isinstance(log, RedisEventLog) and log.trim(keep=0) == 1
    (dead,) = log.dead_letters("g")
    assert (dead.event_id, dead.payload, dead.error) == ("poison", b"\xff\x00raw", "bad")
    log.close()
