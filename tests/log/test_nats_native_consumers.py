"""What a JetStream durable consumer does, on the real server: why the default NATS groups
(``groups=kv``) keep their state in a key-value entry, and why ``groups=durable`` orders per shard.

The default NATS backend keeps each group's leases, retries and per-user blocking in a key-value
entry (``hexlake.log.backends.nats``); ``groups=durable`` (``nats_durable.py``) uses durable pull
consumers with ``max_ack_pending=1`` per shard. These tests pin the JetStream behaviours behind that
split (docs/log.md, "NATS consumer groups"). If a NATS release changes one of them, its test fails:
revisit the design then. What works natively (ack_wait redelivery, nak delays, max_deliver, the
max-deliveries advisory captured in a stream) is checked too, so the comparison stays honest.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from ..conftest import ensure_service, unique_name

pytestmark = pytest.mark.services


async def _with_stream(body: Callable[[Any, str], Awaitable[None]]) -> None:
    nc = await nats.connect("nats://127.0.0.1:4222")
    js = nc.jetstream()
    stream = unique_name("HEXLAKE_TEST_NATIVE")
    await js.add_stream(name=stream, subjects=[f"{stream}.*"])
    await js.add_stream(name=f"{stream}_ADV",
                        subjects=[f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.*"])
    try:
        await body(js, stream)
    finally:
        for name in (stream, f"{stream}_ADV"):
            await js.delete_stream(name)
        await nc.close()


def run(body: Callable[[Any, str], Awaitable[None]]) -> None:
    ensure_service(4222)
    asyncio.run(_with_stream(body))


async def durable(js: Any, stream: str, name: str, **config: Any) -> Any:
    await js.add_consumer(stream, ConsumerConfig(durable_name=name, ack_policy=AckPolicy.EXPLICIT, **config))
    return await js.pull_subscribe_bind(durable=name, stream=stream)


async def no_wait_pulls(js: Any, stream: str, consumer: str) -> tuple[Any, Callable[[], Awaitable[None]]]:
    """An inbox, and a function sending it one no-wait pull request for one message of ``consumer``:
    the request ``groups=durable`` reads send."""
    nc = js._nc
    inbox = await nc.subscribe(nc.new_inbox())
    subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"

    async def ask() -> None:
        await nc.publish(subject, b'{"batch":1,"no_wait":true}', reply=inbox.subject)

    return inbox, ask


async def fetch(sub: Any, n: int, timeout: float = 2.0) -> list[Any]:
    # nats-py raises its own TimeoutError or asyncio's, depending on where the deadline passes;
    # 2 s so a loaded CI machine still gets what is there
    try:
        return list(await sub.fetch(n, timeout=timeout))
    except (TimeoutError, nats.errors.TimeoutError):
        return []


def test_a_durable_consumer_delivers_a_users_later_event_while_the_earlier_one_waits_for_retry() -> None:
    """The contract: a2 must wait while a1 waits for its nak backoff. JetStream hands a2 out at once."""
    async def body(js: Any, stream: str) -> None:
        sub = await durable(js, stream, "g", ack_wait=30.0, filter_subject=f"{stream}.*", max_ack_pending=-1)
        for data in (b"alice-1", b"alice-2", b"bob-1"):
            await js.publish(f"{stream}.0", data)  # one user's events share a shard subject
        (a1,) = await fetch(sub, 1)
        await a1.nak(delay=2.0)
        assert [m.data for m in await fetch(sub, 10)] == [b"alice-2", b"bob-1"]

    run(body)


def test_a_shard_consumer_with_one_ack_pending_orders_users_but_blocks_other_users_and_batches() -> None:
    """Per-shard durables with max_ack_pending=1 keep a user's order, but one leased message holds
    back every other user of the shard and a read gets one message per shard (the contract wants
    bob's event while alice's is leased, and a user's 4 waiting events in one read)."""
    async def body(js: Any, stream: str) -> None:
        sub = await durable(js, stream, "s0", ack_wait=30.0, filter_subject=f"{stream}.0", max_ack_pending=1)
        for data in (b"alice-1", b"bob-1", b"alice-2", b"alice-3"):
            await js.publish(f"{stream}.0", data)
        assert [m.data for m in await fetch(sub, 10)] == [b"alice-1"]
        assert await fetch(sub, 10) == [], "bob-1 waits behind alice-1's lease"

    run(body)


def test_ack_wait_is_the_consumers_and_runs_on_the_servers_clock() -> None:
    """``ack_wait`` is fixed per durable (a pull cannot ask for its own: a read's own timeout is a
    lease-nak, below) and expires in real time: the contract's injectable clock cannot drive it."""
    async def body(js: Any, stream: str) -> None:
        sub = await durable(js, stream, "g", ack_wait=1.0, max_deliver=3, filter_subject=f"{stream}.*")
        assert "ack_wait" not in sub.fetch.__code__.co_varnames
        await js.publish(f"{stream}.0", b"x")
        t0 = time.monotonic()
        deliveries = [m.metadata.num_delivered async for m in _drain_timed(sub, 3)]
        assert deliveries == [1, 2, 3]
        assert time.monotonic() - t0 >= 1.8, "redelivered only after ack_wait of real time, twice"

    run(body)


async def _drain_timed(sub: Any, n: int) -> AsyncIterator[Any]:
    for _ in range(n):
        (m,) = await fetch(sub, 1, timeout=3.0)
        yield m


def test_max_deliver_stops_delivery_and_the_advisory_is_the_only_dead_letter_record() -> None:
    """Native dead-lettering works (the advisory names the sequence), but the consumer's ack floor
    stays below the dead message on nats-server 2.9, so the group's watermark would stop there."""
    async def body(js: Any, stream: str) -> None:
        sub = await durable(js, stream, "g", ack_wait=0.5, max_deliver=2, filter_subject=f"{stream}.*")
        await js.publish(f"{stream}.0", b"poison")
        await js.publish(f"{stream}.1", b"fine")
        first, fine = await fetch(sub, 2)
        assert (first.data, fine.data) == (b"poison", b"fine")
        await fine.ack()
        (again,) = await fetch(sub, 1, timeout=3.0)
        assert (again.data, again.metadata.num_delivered) == (b"poison", 2)
        assert await fetch(sub, 10, timeout=1.5) == [], "no delivery after max_deliver"
        info = await js.stream_info(f"{stream}_ADV")
        assert info.state.messages == 1
        advisory = json.loads((await js.get_msg(f"{stream}_ADV", info.state.last_seq)).data)
        assert (advisory["stream_seq"], advisory["deliveries"]) == (1, 2)
        consumer = await js.consumer_info(stream, "g")
        assert consumer.ack_floor.stream_seq == 0, "the ack floor stays before the dead-lettered message"

    run(body)


def test_a_no_wait_pull_on_a_consumer_at_max_ack_pending_parks_until_the_lease_ends() -> None:
    """``groups=durable`` reads are built on this: while the shard's one allowed message is leased
    and another waits behind it, a no-wait request gets no 404; it is answered with the redelivery
    once the lease runs out. (With nothing waiting behind the lease it is answered 404 at once.)"""

    async def body(js: Any, stream: str) -> None:
        await durable(js, stream, "s0", ack_wait=1.0, filter_subject=f"{stream}.0", max_ack_pending=1)
        await js.publish(f"{stream}.0", b"alice-1")
        await js.publish(f"{stream}.0", b"alice-2")
        inbox, ask = await no_wait_pulls(js, stream, "s0")
        await ask()
        first = await inbox.next_msg(timeout=2)
        assert first.data == b"alice-1"
        await ask()
        with pytest.raises(nats.errors.TimeoutError):
            await inbox.next_msg(timeout=0.5)  # parked, not answered 404
        again = await inbox.next_msg(timeout=3)
        assert (again.data, again.metadata.num_delivered) == (b"alice-1", 2)

    run(body)


# -- a read's own lease: ``-NAK {"delay": lease}`` right after the delivery (nats_durable.py) ----------

async def _nak(js: Any, msg: Any, delay: float) -> None:
    """As the backend sends it: a request, so the server has it when this returns (no delay: a plain nak)."""
    body = b"-NAK " + json.dumps({"delay": round(delay * 1e9)}).encode() if delay > 0 else b"-NAK"
    await js._nc.request(msg.reply, body, timeout=2)


async def _redelivery(sub: Any, within: float) -> tuple[Any, float]:
    """The next delivery and how long it took (s), or (None, elapsed)."""
    t0 = time.monotonic()
    got = await fetch(sub, 1, timeout=within)
    return (got[0] if got else None), time.monotonic() - t0


def test_a_delayed_nak_right_after_delivery_is_a_lease_shorter_or_longer_than_ack_wait() -> None:
    """The server redelivers when the nak's delay ends, not at ``ack_wait``, either way, and counts
    it as a delivery (``attempts``; dead-lettering after ``max_attempts`` stays exact)."""
    async def body(js: Any, stream: str) -> None:
        short = await durable(js, stream, "s0", ack_wait=3.0, filter_subject=f"{stream}.0", max_ack_pending=1)
        long = await durable(js, stream, "s1", ack_wait=1.0, filter_subject=f"{stream}.1", max_ack_pending=1)
        await js.publish(f"{stream}.0", b"short")
        await js.publish(f"{stream}.1", b"long")
        (s,), (x,) = await fetch(short, 1), await fetch(long, 1)
        await _nak(js, s, 1.0)
        await _nak(js, x, 2.5)
        again, waited = await _redelivery(short, 2.0)  # before its 3 s ack_wait
        assert again is not None and (again.data, again.metadata.num_delivered) == (b"short", 2)
        assert 0.9 <= waited < 2.0, f"a 1 s lease redelivered after {waited:.2f} s"
        assert await fetch(long, 1, timeout=0.5) == [], "a 2.5 s lease outlives its 1 s ack_wait"
        again, waited = await _redelivery(long, 2.5)
        assert again is not None and (again.data, again.metadata.num_delivered) == (b"long", 2)

    run(body)


def test_an_ack_after_a_lease_nak_acks_and_a_later_nak_replaces_its_delay() -> None:
    """A reader acks or nacks (with its backoff) a message leased by a delayed nak: the ack lands
    (ack floor moves, no redelivery when the lease would have ended); a nack's delay replaces the
    lease's, shorter or longer."""
    async def body(js: Any, stream: str) -> None:
        sub = await durable(js, stream, "s0", ack_wait=5.0, filter_subject=f"{stream}.0", max_ack_pending=1)
        for data in (b"acked", b"nacked"):
            await js.publish(f"{stream}.0", data)
        (acked,) = await fetch(sub, 1)
        await _nak(js, acked, 0.3)
        await js._nc.request(acked.reply, b"+ACK", timeout=2)
        info = await js.consumer_info(stream, "s0")
        assert (info.num_ack_pending, info.ack_floor.stream_seq) == (0, 1)
        (nacked,) = await fetch(sub, 1)
        assert nacked.data == b"nacked", "acked is not redelivered after its lease"
        await _nak(js, nacked, 3.0)
        await _nak(js, nacked, 0.3)  # the reader's backoff, shorter than the lease
        again, waited = await _redelivery(sub, 2.5)
        assert again is not None and (again.data, again.metadata.num_delivered) == (b"nacked", 2)
        assert waited < 2.5
        await _nak(js, again, 0.3)
        await _nak(js, again, 2.0)  # longer than the lease
        assert await fetch(sub, 1, timeout=1.0) == []
        last, _ = await _redelivery(sub, 2.5)
        assert last is not None and last.metadata.num_delivered == 3

    run(body)


def test_a_plain_nak_redelivers_at_once_and_ack_wait_zero_is_the_servers_30_s() -> None:
    """``visibility_timeout_s=0``: a consumer created with ``ack_wait=0`` gets the server's 30 s
    default (so the backend keeps the config's and sends a plain nak instead), which makes the
    message deliverable again at once, to a no-wait pull as ``groups=durable`` reads ask."""
    async def body(js: Any, stream: str) -> None:
        await durable(js, stream, "s0", ack_wait=0.0, filter_subject=f"{stream}.0", max_ack_pending=1)
        assert (await js.consumer_info(stream, "s0")).config.ack_wait == 30.0
        await js.publish(f"{stream}.0", b"x")
        inbox, ask = await no_wait_pulls(js, stream, "s0")
        await ask()
        first = await inbox.next_msg(timeout=2)
        await _nak(js, first, 0.0)
        await ask()
        again = await inbox.next_msg(timeout=0.5)
        assert (again.data, again.metadata.num_delivered) == (b"x", 2)

    run(body)
