"""``nats://…?groups=durable``: consumer groups as JetStream durable pull consumers, on a real server.

The EventLog contract (test_contract.py) runs over this backend in real time; these tests check what
it does not: the consumers' setup, per-shard (Kafka-like) holding back where the contract declares a
departure, dead-lettering freeing a shard, status, erasure of a leased message, a read's own lease
(0, longer than the group's, ended leases counted as attempts, settled by an ack or nack). Leases
and backoff run on the server's clock, so they use real time scaled down (visibility 1 s, backoff
0.3 s doubling to 0.6 s): a message may come back once its delay has passed since just before the call that started
it, and must by 3x the delay (a read that ends later than the delay is not counted against it, so a
loaded machine does not fail a check). Users are placed on chosen shards with ``on_shard``.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterator

import pytest

from hexlake.log import AppendItem, EventLog, LogConfig, LogMessage, open_log
from hexlake.log.backends.nats_durable import NatsDurableEventLog

pytestmark = pytest.mark.services

SHARDS = 4
CONFIG = LogConfig(visibility_timeout_s=1.0, max_attempts=3, backoff_base_s=0.3, backoff_max_s=0.6)


def on_shard(shard: int, n: int = 1, prefix: str = "u") -> list[str]:
    """``n`` distinct keys whose events go to ``shard`` (the backend's crc32 placement)."""
    keys = (f"{prefix}{i}" for i in range(100_000))
    return [k for k in keys if zlib.crc32(k.encode()) % SHARDS == shard][:n]


def item(key: str, event_id: str) -> AppendItem:
    return AppendItem(key=key, event_id=event_id, payload=b'{"k":"' + key.encode() + b'"}')


def ids(msgs: list[LogMessage]) -> list[str]:
    return [m.event_id for m in msgs]


@pytest.fixture
def log(nats_url: str) -> Iterator[EventLog]:
    opened = open_log(f"{nats_url}?groups=durable&shards={SHARDS}", CONFIG)
    assert isinstance(opened, NatsDurableEventLog)
    yield opened
    opened.close()


def wait_for(read: Callable[[], list[LogMessage]], within: float) -> list[LogMessage]:
    """Poll ``read`` until it returns something or ``within`` seconds pass."""
    t0 = time.monotonic()
    while not (got := read()) and time.monotonic() - t0 < within:
        time.sleep(0.05)
    return got


def test_groups_are_durable_consumers_one_per_shard_with_one_message_in_flight(log: EventLog) -> None:
    assert isinstance(log, NatsDurableEventLog)
    log.create_group("loader")

    async def configs() -> list[tuple[str | None, int | None, float | None]]:
        infos = await log._js.consumers_info(log.target.stream)
        return sorted((i.config.filter_subject, i.config.max_ack_pending, i.config.ack_wait) for i in infos)

    assert log._loop.run(configs()) == [(f"{log.target.stream}.{s}", 1, 1.0) for s in range(SHARDS)]


def test_a_read_takes_one_message_per_shard_oldest_first(log: EventLog) -> None:
    (a,), (b,) = on_shard(0), on_shard(1)
    log.append([item(a, "a1"), item(a, "a2"), item(b, "b1")])
    leased = time.monotonic()
    assert ids(log.read("g", "c", 10)) == ["a1", "b1"]
    again = ids(log.read("g", "c", 10))  # waits 0.5 s: shard 0 parks the request
    late = time.monotonic() - leased >= CONFIG.visibility_timeout_s  # then a1's lease may have run out
    assert again == [] or (late and again == ["a1"]), "a2 waits while a1 is leased"


def test_a_nack_waits_for_its_backoff_and_holds_back_its_shard_only(nats_url: str) -> None:
    backoff = 1.5  # longer than a read's wait for a reply (0.5 s), so one read cannot cross it
    log = open_log(
        f"{nats_url}?groups=durable&shards={SHARDS}",
        CONFIG.model_copy(update={"backoff_base_s": backoff, "backoff_max_s": 2 * backoff}),
    )
    try:
        (a, a_too), (b,) = on_shard(0, 2), on_shard(1)
        log.append([item(a, "a1")])
        (first,) = log.read("g", "c", 10)
        nacked = time.monotonic()  # the server starts the backoff after this
        log.nack("g", [first.offset], "transient")
        log.append([item(a, "a2"), item(a_too, "x1"), item(b, "b1")])
        other = log.read("g", "c", 10)
        retried = [m for m in other if m.event_id == "a1"]  # only if this read ended after the backoff
        assert not retried or time.monotonic() - nacked >= backoff, "a1 back before its backoff"
        assert [i for i in ids(other) if i != "a1"] == ["b1"], "a2 and x1 (same shard) wait for a1's retry"
        log.ack("g", [m.offset for m in other if m.event_id == "b1"])
        got = retried or wait_for(lambda: log.read("g", "c", 10), within=backoff * 3)
        assert time.monotonic() - nacked >= backoff, "a1 back before its backoff"
        assert [(m.event_id, m.attempts) for m in got] == [("a1", 2)]
        log.ack("g", [got[0].offset])
        assert ids(log.read("g", "c", 10)) == ["a2"]
    finally:
        log.close()


def test_after_max_attempts_a_message_is_dead_lettered_with_its_error_and_its_shard_moves_on(log: EventLog) -> None:
    (a,) = on_shard(2)
    poison, nxt = log.append([item(a, "bad"), item(a, "next")])
    for attempt in range(1, CONFIG.max_attempts + 1):
        got = wait_for(lambda: log.read("g", "c", 10), within=CONFIG.backoff_max_s * 3)
        assert [(m.offset, m.attempts) for m in got] == [(poison, attempt)]
        log.nack("g", [poison], f"failed #{attempt}")
    (dead,) = log.dead_letters("g")
    assert (dead.offset, dead.event_id, dead.key, dead.attempts, dead.error) == (
        poison,
        "bad",
        a,
        CONFIG.max_attempts,
        f"failed #{CONFIG.max_attempts}",
    )
    assert [m.offset for m in log.read("g", "c", 10)] == [nxt]
    assert log.dead_letters("other") == []


def test_status_counts_lag_in_flight_and_dead_letters(log: EventLog) -> None:
    (a,), (b,) = on_shard(0), on_shard(1)
    sent = log.append([item(a, "a1"), item(a, "a2"), item(b, "b1")])
    log.create_group("idle", from_start=False)
    got = log.read("g", "c", 10)
    log.nack("g", [m.offset for m in got if m.event_id == "b1"], "SchemaError", retry=False)
    (g,) = [s for s in log.status() if s.group == "g"]
    assert (g.lag, g.in_flight, g.dead_letters, g.last_acked_offset) == (2, 1, 1, None)
    log.ack("g", [sent[0]])
    (g,) = [s for s in log.status() if s.group == "g"]
    assert (g.lag, g.in_flight, g.last_acked_offset) == (1, 0, sent[0])
    (idle,) = [s for s in log.status() if s.group == "idle"]
    assert (idle.lag, idle.in_flight) == (0, 0)


def test_erasing_a_leased_message_frees_its_shard(log: EventLog) -> None:
    assert isinstance(log, NatsDurableEventLog)
    alice, bob = on_shard(0, 2, prefix="user")
    log.append([item(alice, "a1"), item(bob, "b1")])
    assert ids(log.read("g", "c", 10)) == ["a1"]
    assert log.erase_key(alice) == 1
    got = wait_for(lambda: log.read("g", "c", 10), within=CONFIG.visibility_timeout_s * 3)
    assert ids(got) == ["b1"]
    assert log.count_key(alice) == 0


def test_status_lists_every_group_beyond_one_page_of_consumers(nats_url: str) -> None:
    """The server lists 256 consumers a page: 3 groups of 100 shards are 300 consumers."""
    log = open_log(f"{nats_url}?groups=durable&shards=100", CONFIG)
    try:
        log.append([item(f"user{i}", f"e{i}") for i in range(400)])  # spread over 98 of the shards
        for g in ("a", "b", "c"):
            log.create_group(g)
        assert [(s.group, s.lag) for s in log.status()] == [("a", 400), ("b", 400), ("c", 400)]
    finally:
        log.close()


def test_a_first_read_with_timeout_zero_leaves_the_groups_lease_and_its_message_comes_back_at_once(
        log: EventLog) -> None:
    """A timeout of 0 is a lease that is over (as in the memory model): the next read gets the
    message again. It used to make the new group's consumers' ack_wait 0, which the server takes
    as its 30 s default: every later lease was 30 s."""
    assert isinstance(log, NatsDurableEventLog)
    (a,) = on_shard(3)
    (off,) = log.append([item(a, "a1")])
    assert [(m.offset, m.attempts) for m in log.read("g", "c", 10, visibility_timeout_s=0.0)] == [(off, 1)]
    assert [(m.offset, m.attempts) for m in log.read("g", "c", 10)] == [(off, 2)]

    async def ack_waits() -> set[float | None]:
        return {i.config.ack_wait for i in await log._js.consumers_info(log.target.stream)}

    assert log._loop.run(ack_waits()) == {CONFIG.visibility_timeout_s}


def test_leases_ended_by_a_reads_own_timeout_count_as_attempts_and_dead_letter_exactly(log: EventLog) -> None:
    (a,) = on_shard(1)
    poison, nxt = log.append([item(a, "bad"), item(a, "next")])
    for attempt in range(1, CONFIG.max_attempts + 1):
        got = log.read("g", "c", 10, visibility_timeout_s=0.0)
        assert [(m.offset, m.attempts) for m in got] == [(poison, attempt)]
    assert [m.offset for m in log.read("g", "c", 10)] == [nxt]
    (dead,) = log.dead_letters("g")
    assert (dead.offset, dead.attempts) == (poison, CONFIG.max_attempts)
    assert "visibility timeout" in dead.error


def test_a_reads_own_timeout_longer_than_the_groups_holds_its_message_that_long(log: EventLog) -> None:
    own = 2.5 * CONFIG.visibility_timeout_s
    log.create_group("g")  # its consumers' ack_wait is the config's
    (a,) = on_shard(0)
    (off,) = log.append([item(a, "a1")])
    leased = time.monotonic()  # the lease starts after this
    assert ids(log.read("g", "c", 10, visibility_timeout_s=own)) == ["a1"]
    while time.monotonic() - leased < own - 0.2:
        got = log.read("g", "c", 10)
        assert not got or time.monotonic() - leased >= own, "back before the read's own lease ran out"
        if got:
            break
        time.sleep(0.05)
    else:
        got = wait_for(lambda: log.read("g", "c", 10), within=own)
    assert [(m.offset, m.attempts) for m in got] == [(off, 2)]


def test_an_ack_or_nack_settles_a_message_read_with_its_own_timeout(log: EventLog) -> None:
    """The ack after a short lease lands (no redelivery once the lease has run out); a nack after a
    long lease brings the message back after its backoff, not the lease."""
    log.create_group("g")
    (a,), (b,) = on_shard(0), on_shard(1)
    (a1,) = log.append([item(a, "a1")])
    assert ids(log.read("g", "c", 10, visibility_timeout_s=0.3)) == ["a1"]
    log.ack("g", [a1])
    (b1,) = log.append([item(b, "b1")])
    assert ids(log.read("g", "c", 10, visibility_timeout_s=30.0)) == ["b1"]
    nacked = time.monotonic()
    log.nack("g", [b1], "transient")
    again = wait_for(lambda: log.read("g", "c", 10), within=CONFIG.backoff_base_s * 3 + 0.5)
    assert [(m.offset, m.attempts) for m in again] == [(b1, 2)], "back after its backoff; a1 stays acked"
    assert time.monotonic() - nacked >= CONFIG.backoff_base_s
    log.ack("g", [b1])
    assert log.read("g", "c", 10) == []


def test_status_watermark_is_just_below_the_oldest_unacked_message_even_on_a_shard_that_acked_nothing(
        log: EventLog) -> None:
    (a,), (b,) = on_shard(0), on_shard(1)
    b1, a1, _ = log.append([item(b, "b1"), item(a, "a1"), item(b, "b2")])
    log.ack("g", [m.offset for m in log.read("g", "c", 10) if m.offset == b1])
    (g,) = [s for s in log.status() if s.group == "g"]
    assert g.last_acked_offset == b1, "a1's shard acked nothing, but everything before a1 is acked"
    log.ack("g", [a1])
    (g,) = [s for s in log.status() if s.group == "g"]
    assert g.last_acked_offset == a1, "b2 is the oldest not acked"
