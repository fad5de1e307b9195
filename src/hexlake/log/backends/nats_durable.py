"""Consumer groups as JetStream durable pull consumers (``nats://…/STREAM?groups=durable``).

The log, appends, erasure and inspection of messages are ``NatsEventLog``'s; only the groups differ:

* A group is one durable pull consumer per shard subject ``<stream>.<shard>`` (named
  ``hxg_<hash of the group>_<shard>``, the group's name in the consumer's description), with
  ``max_ack_pending=1``: a shard is a serial queue, as a Kafka partition is for its consumer. A
  user's events share a shard, so their order holds whatever is leased, nacked or redelivered; the
  price is liveness and batch size (a leased or backing-off message holds back every other user of
  its shard, and a read gets at most one message per shard).
* Leases are JetStream's, timed by the server's clock, not by the injectable ``clock``. A consumer's
  ``ack_wait`` is the config's ``visibility_timeout_s`` (set when the group's consumers are created).
  A read whose lease differs (its own ``visibility_timeout_s``, or a consumer created by a process
  with another config) sends ``-NAK`` with the lease as its delay right after the delivery: the
  server then redelivers when that delay ends (sooner or later than ``ack_wait``; 0 = at once), and
  a later ack or nack by the reader still acks, or replaces the delay with its backoff
  (tests/log/test_nats_native_consumers.py). Until that nak is confirmed the lease is ``ack_wait``.
  ``nack`` is ``-NAK`` with the backoff as its delay.
* ``attempts`` is the delivery count in the message's metadata. Max deliveries are enforced here:
  a delivery beyond ``max_attempts`` (its last lease expired) is copied to the ``<stream>_DLQ``
  stream and terminated (``+TERM``), as is a nack at the last attempt or with ``retry=False`` (an
  expired one's read then asks the shard for its next message, as the memory model's read does). The
  DLQ stream (subject ``<stream>_dlq.<group hex>``) is the record ``dead_letters`` reads. The
  server's own ``max_deliver`` is not used: on nats-server 2.9 the consumer's ack floor then stays
  below the dead message (tests/log/test_nats_native_consumers.py).
* ``status``: ``last_acked_offset`` is one below the oldest message not acked of the shards with
  work (looked up after each one's ack floor). ``in_flight`` is the consumers' ``num_ack_pending``,
  which also counts a message backing off after a nack, or whose lease ran out, until it is
  delivered again: consumer info does not tell them apart (a delivery's lease is known only to
  the process that read it).
* ``ack``/``nack`` need the delivery's reply subject, kept in this process from the ``read``: a
  message is settled by the process that read it (others' acks are no-ops; its lease runs out).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import BadRequestError, NotFoundError

from hexlake.errors import LogError
from hexlake.log.backends.nats import _ERROR_CHARS, NatsEventLog, _Dead, _dec_msg, _expired
from hexlake.log.config import LogConfig
from hexlake.log.protocol import DeadLetter, GroupStatus, LogMessage
from hexlake.log.spans import backoff_s

#: Consumer descriptions start with this, then the group name in hex (names are free text).
_DESC = "hexlake group "
#: A pull request for one message, without waiting: an empty shard answers 404 at once. A shard
#: whose one allowed message is leased or waiting for its nak delay, with more behind it, parks even
#: a no-wait request (nats-server 2.9.10) and answers it when a message is deliverable again. Under many concurrent
#: requests the server also answers some late (seen: half of 256, by seconds), 404 and message alike.
_PULL = b'{"batch":1,"no_wait":true}'
#: How long a read waits for a new request's reply (a loaded server answers in well under this). A
#: parked request stays outstanding: later reads only look in the inbox for its answer
#: (``PARKED_CHECK_S``) instead of asking again, so a late reply is never lost.
PULL_REPLY_S = 0.5
PARKED_CHECK_S = 0.01
#: After this long without a reply a request is sent again: the first may be lost for good (its
#: consumer's leader died with a cluster node), and a parked one answered later is still taken.
REASK_S = 10.0
#: An ack/nak/term unanswered this long is sent again (``_settle``), until ``SETTLE_RETRY_S``: about
#: the time a cluster takes to elect a new leader for the consumer (appends wait as long).
SETTLE_REPLY_S = 2.0
SETTLE_RETRY_S = 30.0
#: Bound on remembered leases (reply subjects) per process; the oldest are forgotten first.
_MAX_LEASES = 1_000_000


class _Lease(NamedTuple):
    reply: str
    attempts: int


@dataclass
class _Inbox:
    sub: Any
    lock: asyncio.Lock
    outstanding: bool = False  # a pull request was sent and its reply not yet taken
    asked: float = 0.0  # when (monotonic) the last request was sent
    epoch: int = 0  # the client's reconnect count when it was sent


def _delivered(raw: Any) -> bool:
    """A JetStream delivery (its reply subject is the ack subject), not a status or nothing."""
    return raw is not None and bool(raw.reply) and str(raw.reply).startswith("$JS.ACK.")


def _consumer(group: str, shard: int) -> str:
    """Durable names are subject tokens; group names are free text, so hash them."""
    return f"hxg_{hashlib.blake2b(group.encode(), digest_size=8).hexdigest()}_{shard}"


class NatsDurableEventLog(NatsEventLog):
    """EventLog whose groups are JetStream durable pull consumers, one per shard (module docstring)."""

    def __init__(self, url: str, config: LogConfig | None = None, *, clock: Callable[[], float] = time.time):
        self._leases: dict[tuple[str, int], _Lease] = {}
        self._known: set[str] = set()
        self._ack_wait: dict[tuple[str, int], float] = {}  # each shard consumer's, as the server has it
        self._inboxes: dict[tuple[str, int], _Inbox] = {}
        self._rotor = 0
        super().__init__(url, config, clock=clock)

    # -- consumers -----------------------------------------------------------------------------

    async def _ensure(self, group: str, *, from_start: bool = True) -> None:
        if group in self._known:
            return
        start = None if from_start else await self._head() + 1
        await asyncio.gather(*(self._add(group, s, start) for s in range(self.target.shards)))
        self._known.add(group)

    async def _add(self, group: str, shard: int, start: int | None) -> None:
        name = _consumer(group, shard)
        with contextlib.suppress(NotFoundError):
            info = await self._js.consumer_info(self._stream, name)
            self._ack_wait[(group, shard)] = float(info.config.ack_wait or 0.0)
            return
        config = ConsumerConfig(
            durable_name=name,
            description=_DESC + group.encode().hex(),
            ack_policy=AckPolicy.EXPLICIT,
            # the server takes 0 for its 30 s default: a 0 timeout is a lease-nak per read instead
            ack_wait=self.config.visibility_timeout_s,
            max_deliver=-1,
            max_ack_pending=1,
            filter_subject=f"{self._stream}.{shard}",
            deliver_policy=DeliverPolicy.ALL if start is None else DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start,
        )
        try:
            info = await self._js.add_consumer(self._stream, config)
        except BadRequestError:  # another process created it first (with its own start): keep that
            info = await self._js.consumer_info(self._stream, name)
        self._ack_wait[(group, shard)] = float(info.config.ack_wait or 0.0)

    def create_group(self, group: str, *, from_start: bool = True) -> None:
        self._run(self._ensure(group, from_start=from_start), "create_group")

    # -- read ----------------------------------------------------------------------------------

    def read(
        self, group: str, consumer: str, max: int, *, visibility_timeout_s: float | None = None
    ) -> list[LogMessage]:
        if max <= 0:
            return []
        return self._run(self._read(group, max, visibility_timeout_s), "read")

    async def _read(self, group: str, max: int, vt: float | None) -> list[LogMessage]:
        await self._ensure(group)
        lease = self.config.visibility_timeout_s if vt is None else vt
        n = self.target.shards
        self._rotor = (self._rotor + 1) % n  # start at a different shard each read: no shard starves
        order = [(self._rotor + i) % n for i in range(n)]
        out: list[LogMessage] = []
        while order and len(out) < max:
            take, order = order[: max - len(out)], order[max - len(out) :]
            got = await asyncio.gather(*(self._next(group, s, lease) for s in take))
            out.extend(m for m in got if m is not None)
        return sorted(out, key=lambda m: m.offset)

    async def _next(self, group: str, shard: int, lease: float) -> LogMessage | None:
        """One message of the shard, leased for ``lease`` seconds, or None when it has none
        deliverable (empty, or its one allowed message is leased or waiting for its retry)."""
        while True:
            raw = await self._pull(group, shard)
            if not _delivered(raw):
                return None  # none yet, or a status reply: 404 no messages, 408/409 request ended
            meta = raw.metadata
            off, attempts = int(meta.sequence.stream), int(meta.num_delivered)
            if attempts <= self.config.max_attempts:
                break
            # its last lease expired: dead-letter it; the term frees the shard for its next message
            await self._dead_letter(group, off, raw.reply, attempts - 1, _expired(attempts - 1))
        m = _dec_msg.decode(raw.data or b"")
        if abs(lease - self._ack_wait.get((group, shard), 0.0)) > 1e-6:
            await self._lease_for(raw.reply, lease)
        self._remember(group, off, _Lease(raw.reply, attempts))
        return LogMessage(off, m.key, m.event_id, m.payload, attempts)

    async def _lease_for(self, reply: str, seconds: float) -> None:
        """Make the delivery's lease ``seconds`` instead of the consumer's ``ack_wait``: a ``-NAK``
        whose delay is the lease (the server redelivers when it ends, counted as a delivery, as an
        expired ``ack_wait`` is). Not retried: the message is the reader's either way, and if the
        nak is lost its lease is ``ack_wait``; a repeated nak could shorten a later delivery's lease
        (``_settle``)."""
        # a zero delay would still wait for the consumer's next timer check (~10 ms), and a read
        # meanwhile gets a 404: a plain nak queues the message for redelivery at once
        body = b"-NAK " + json.dumps({"delay": round(seconds * 1e9)}).encode() if seconds > 0 else b"-NAK"
        # a request, not a publish: the server applies a nak after queueing it and answers once it
        # has, so the next read sees its effect (a pull right after an unanswered one got a 404)
        with contextlib.suppress(nats.errors.TimeoutError, nats.errors.NoRespondersError):
            await self._nc.request(reply, body, timeout=SETTLE_REPLY_S)

    async def _pull(self, group: str, shard: int) -> Any:
        """The shard's next reply: a message, a status, or None while its request is parked. Replies
        come to an inbox of this shard consumer's own (a delivered message carries the stream's
        subject, not the inbox's, so the client's muxed ``request`` cannot route it), and at most
        one request per inbox is outstanding: any message in it is a delivery leased to this process."""
        inbox = await self._inbox(group, shard)
        async with inbox.lock:
            wait = PARKED_CHECK_S  # an outstanding request: only look whether its answer came
            epoch = self._nc.stats["reconnects"]
            # a request written to a connection that then broke may never have left this process
            if not inbox.outstanding or time.monotonic() - inbox.asked > REASK_S or inbox.epoch != epoch:
                subject = f"$JS.API.CONSUMER.MSG.NEXT.{self._stream}.{_consumer(group, shard)}"
                await self._nc.publish(subject, _PULL, reply=inbox.sub.subject)
                inbox.outstanding, inbox.asked, inbox.epoch, wait = True, time.monotonic(), epoch, PULL_REPLY_S
            try:
                raw = await inbox.sub.next_msg(timeout=wait)
                while not _delivered(raw) and inbox.sub.pending_msgs:  # a stale status: look further
                    raw = await inbox.sub.next_msg(timeout=PARKED_CHECK_S)
            except nats.errors.TimeoutError:
                return None  # parked: the shard's message is leased or backing off
            inbox.outstanding = False
            return raw

    async def _inbox(self, group: str, shard: int) -> _Inbox:
        found = self._inboxes.get((group, shard))
        if found is None:
            found = _Inbox(await self._nc.subscribe(self._nc.new_inbox()), asyncio.Lock())
            self._inboxes[(group, shard)] = found
        return found

    def _remember(self, group: str, off: int, lease: _Lease) -> None:
        if len(self._leases) >= _MAX_LEASES:
            self._leases.pop(next(iter(self._leases)))
        self._leases[(group, off)] = lease

    async def _dead_letter(self, group: str, off: int, reply: str, attempts: int, error: str) -> None:
        """DLQ copy first (de-duplicated by id), then ``+TERM``: a crash in between only repeats both."""
        await self._publish_dead(group, [(off, _Dead(attempts, error[:_ERROR_CHARS]))])
        await self._settle(reply, b"+TERM")

    async def _settle(self, reply: str, body: bytes) -> None:
        """Ack/nak/term and wait for the server to confirm, so the next read or status sees it.

        While the consumer's leader is re-elected (its node died: 4-8 s in the cluster test) the
        request finds no responder (it surely did not land) or goes unanswered (it may have); it is
        sent again until ``SETTLE_RETRY_S``. A repeated ack or term is harmless (the server answers
        it and changes nothing), but nats-server 2.9 matches a nak by stream sequence only, so a
        repeated nak could cut short the lease of the message's next delivery: an unanswered nak
        is not repeated. Without retries an ``ack`` of several shards' messages raised while some of
        them were acked, and a caller that took the error to mean none was (as the cluster test
        did, counting them) saw those events as never delivered."""
        deadline = time.monotonic() + SETTLE_RETRY_S
        while True:
            try:
                await self._nc.request(reply, body, timeout=SETTLE_REPLY_S)
                return
            except (nats.errors.TimeoutError, nats.errors.NoRespondersError) as exc:
                unsure = not isinstance(exc, nats.errors.NoRespondersError)
                if time.monotonic() > deadline or (unsure and body.startswith(b"-NAK")):
                    raise LogError(
                        f"NATS log: {body[:5]!r} of {reply} not confirmed; "
                        "unless it landed, the message will be redelivered after its lease"
                    ) from exc
                await asyncio.sleep(0.25)

    # -- settle --------------------------------------------------------------------------------

    def ack(self, group: str, offsets: Sequence[int]) -> None:
        leases = [lease for o in offsets if (lease := self._leases.pop((group, o), None))]
        if leases:
            self._run(self._gather(*(self._settle(lease.reply, b"+ACK") for lease in leases)), "ack")

    def nack(self, group: str, offsets: Sequence[int], error: str, *, retry: bool = True) -> None:
        cfg = self.config
        work = []
        for off in offsets:
            lease = self._leases.pop((group, off), None)
            if lease is None:
                continue
            if not retry or lease.attempts >= cfg.max_attempts:
                work.append(self._dead_letter(group, off, lease.reply, lease.attempts, error))
            else:
                ns = int(backoff_s(lease.attempts, cfg.backoff_base_s, cfg.backoff_max_s) * 1e9)
                work.append(self._settle(lease.reply, b"-NAK " + json.dumps({"delay": ns}).encode()))
        if work:
            self._run(self._gather(*work), "nack")

    @staticmethod
    async def _gather(*aws: Any) -> None:
        await asyncio.gather(*aws)

    # -- inspection ----------------------------------------------------------------------------

    async def _consumers(self) -> dict[str, list[Any]]:
        """The stream's hexlake groups: name -> its shard consumers' infos."""
        out: dict[str, list[Any]] = {}
        infos: list[Any] = []
        while page := await self._js.consumers_info(self._stream, offset=len(infos)):  # 256 a page
            infos += page
        for info in infos:
            desc = info.config.description or ""
            if desc.startswith(_DESC):
                out.setdefault(bytes.fromhex(desc.removeprefix(_DESC)).decode(), []).append(info)
        return out

    async def _status(self) -> list[GroupStatus]:
        head, groups = await self._head(), await self._consumers()
        out = []
        for group, infos in sorted(groups.items()):
            busy = [i for i in infos if i.num_pending or i.num_ack_pending]
            # done up to just before the oldest message a shard has not acked (a shard's ack floor is
            # only a lower bound: its messages are interleaved with the other shards'); an idle
            # shard holds nothing back
            firsts = await asyncio.gather(*(self._first_unacked(i) for i in busy))
            floor = min((f - 1 for f in firsts if f is not None), default=head)
            out.append(
                GroupStatus(
                    group=group,
                    lag=sum(i.num_pending + i.num_ack_pending for i in infos),
                    in_flight=sum(i.num_ack_pending for i in infos),
                    dead_letters=await self._dead_count(group),
                    last_acked_offset=floor or None,
                )
            )
        return out

    async def _first_unacked(self, info: Any) -> int | None:
        """The offset of the shard consumer's oldest message not acked (None: none is left)."""
        after = int(info.ack_floor.stream_seq or 0)
        try:
            raw = await self._js.get_msg(self._stream, after + 1, subject=info.config.filter_subject, next=True)
        except NotFoundError:
            return None
        return int(raw.seq or 0) or None

    async def _dead_count(self, group: str) -> int:
        subject = f"{self._stream}_dlq.{group.encode().hex()}"
        info = await self._js.stream_info(self._dlq, subjects_filter=subject)
        return int((info.state.subjects or {}).get(subject, 0))

    def dead_letters(self, group: str, limit: int = 100) -> list[DeadLetter]:
        return self._run(self._dead_letters(group, limit), "dead_letters")

    async def _dead_letters(self, group: str, limit: int) -> list[DeadLetter]:
        subject, seq = f"{self._stream}_dlq.{group.encode().hex()}", 1
        copies: list[Any] = []
        while len(copies) < limit:
            try:
                raw = await self._js.get_msg(self._dlq, seq, subject=subject, next=True)
            except NotFoundError:
                break
            copies.append(raw)
            seq = int(raw.seq or 0) + 1
        heads = [raw.headers or {} for raw in copies]
        msgs = await self._fetch([int(h.get("Hexlake-Offset", 0)) for h in heads])
        out = []
        for raw, h in zip(copies, heads, strict=True):
            off = int(h.get("Hexlake-Offset", 0))
            out.append(
                DeadLetter(
                    off,
                    h.get("Hexlake-Key", ""),
                    msgs[off].event_id if off in msgs else "",
                    raw.data or b"",
                    int(h.get("Hexlake-Attempts", 0)),
                    h.get("Hexlake-Error", ""),
                )
            )
        return sorted(out, key=lambda d: d.offset)


__all__ = ["NatsDurableEventLog"]
