"""EventLog on NATS JetStream.

* The log is one JetStream stream (file storage, ``replicas`` copies) with subjects
  ``<stream>.<shard>``, the shard a hash of the message key: one user's events always share a subject,
  so a native consumer filtered on a shard sees them in order. Offsets are the stream's sequence
  numbers: increasing, in commit order across every process.
* ``append`` is group-committed: appends from concurrent threads that reach the client's event loop
  together are published in one flush (every publish in flight at once, then one gather of the acks).
  A publish ack means the stream leader stored it and, with ``replicas`` > 1, that a quorum of the
  cluster has it; ``append`` returns only then.
* Consumer groups: JetStream's own consumers time leases and backoff on the server's clock and cannot
  hold back a user's later event while an earlier one waits, which the contract requires. So each
  group's cursor, leases, retry times and dead-letter index live in one entry of a replicated
  JetStream key-value bucket (``<stream>_groups``), changed by compare-and-set on its revision: safe
  for any number of consumer processes, and timed by hexlake's injectable clock like every backend.
  The lease/ordering rules are those of the in-memory reference model (``memory.py``). The
  alternative, ``?groups=durable`` (``nats_durable.py``), makes groups JetStream durable consumers,
  with per-shard ordering and server-clock leases (docs/log.md compares the two;
  tests/log/test_nats_native_consumers.py pins the server behaviours behind the differences).
  A group's entry must fit NATS's ``max_payload``, so leases are packed (~27 bytes) and a read
  leases only what fits.
* Reads of 64+ new messages stream the window through one short-lived ephemeral consumer instead of
  one get-by-sequence request per message (2-4x the consume rate).
* Dead letters are also published to the ``<stream>_DLQ`` stream (subject ``<stream>_dlq.<group>``,
  de-duplicated by message id) for operators and NATS tooling.

URL: ``nats://host:port[,host2:port2…]/<stream>?replicas=3&shards=16[&groups=durable]`` (defaults:
stream ``HEXLAKE``, 1 replica, 16 shards, groups in the key-value bucket; ``groups=durable`` makes
groups JetStream durable consumers, ``nats_durable.py``). Durability is JetStream's: a single server
flushes to disk on its own ``sync_interval``; for power-loss safety run a 3-node cluster with
``replicas=3`` (docs/scale-out.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar
from urllib.parse import parse_qs

import msgspec
import nats
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType
from nats.js.errors import (
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NoStreamResponseError,
    NotFoundError,
    ServerError,
    ServiceUnavailableError,
)
from nats.js.kv import KeyValue

from hexlake.errors import ConfigError, LogError
from hexlake.log.config import LogConfig
from hexlake.log.protocol import AppendItem, DeadLetter, GroupStatus, LogMessage
from hexlake.log.spans import SCAN_FACTOR, backoff_s

T = TypeVar("T")


#: JetStream's "error creating store for stream": seen when another client deleted the account's last
#: stream at the same moment (the server removed the account's store directory under the new
#: stream, "could not create storage directory ... no such file or directory"); a retry succeeds.
STORE_RACE = 10049


async def _created(make: Callable[[], Awaitable[T]], attempts: int = 5) -> T:
    """``make()`` (a stream or bucket creation), retried a few times on ``STORE_RACE``."""
    for attempt in range(attempts - 1):
        try:
            return await make()
        except ServerError as exc:
            if exc.err_code != STORE_RACE:
                raise
            await asyncio.sleep(0.05 * 2**attempt)
    return await make()


DEFAULT_STREAM = "HEXLAKE"
#: Compare-and-set attempts before a group update gives up (each conflict means another process won).
CAS_ATTEMPTS = 200
#: Messages fetched at once while an erasure scans the streams.
_SCAN_CHUNK = 500
#: How long an append keeps retrying a publish while the cluster has no stream leader.
PUBLISH_RETRY_S = 30.0
#: A read window at least this long is read through a short-lived consumer (one request streams the
#: whole range) instead of one get-by-sequence request per message.
RANGE_READ_MIN = 64
#: After a range read fails, reads fetch message by message for this long. With a cluster node down,
#: creating the consumer times out every time (nats-server 2.9), which cost each read 10 s.
RANGE_PAUSE_S = 60.0
#: How long creating that consumer may take before the read falls back.
RANGE_CREATE_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class NatsTarget:
    servers: list[str]
    stream: str
    replicas: int = 1
    shards: int = 16
    #: ``kv`` (default): group state in a key-value entry; ``durable``: JetStream durable consumers
    groups: str = "kv"


def parse_nats_url(url: str) -> NatsTarget:
    """``nats://h1:4222,h2:4223/STREAM?replicas=3&shards=16`` -> servers, stream and options."""
    rest = url.split("://", 1)[1] if "://" in url else ""
    hosts, _, tail = rest.partition("/")
    path, _, query = tail.partition("?")
    if not hosts:
        raise ConfigError(f"log URL {url!r} names no NATS server; use nats://host:4222/STREAM", field="log_url")
    stream = path.strip("/") or DEFAULT_STREAM
    if not stream.replace("_", "").replace("-", "").isalnum():
        raise ConfigError(f"NATS stream name {stream!r} may hold only letters, digits, '-' and '_'",
                          field="log_url")
    opts = {k: v[-1] for k, v in parse_qs(query).items()}
    try:
        replicas, shards = int(opts.pop("replicas", "1")), int(opts.pop("shards", "16"))
    except ValueError as exc:
        raise ConfigError(f"log URL {url!r}: replicas and shards must be integers", field="log_url") from exc
    groups = opts.pop("groups", "kv")
    if opts:
        raise ConfigError(f"log URL {url!r}: unknown option(s) {sorted(opts)}; known: replicas, shards, groups",
                          field="log_url")
    if groups not in ("kv", "durable"):
        raise ConfigError(f"log URL {url!r}: groups must be kv or durable", field="log_url")
    if not (1 <= replicas <= 5 and 1 <= shards <= 1024):
        raise ConfigError(f"log URL {url!r}: replicas must be 1..5 and shards 1..1024", field="log_url")
    return NatsTarget([f"nats://{h}" for h in hosts.split(",")], stream, replicas, shards, groups)


class _Pending(msgspec.Struct, array_like=True):
    """~27 bytes packed: the whole group is one KV value, which NATS caps at ``max_payload`` (1 MB)."""

    key: int  # _key_hash of the message key: enough to hold back a user's later events
    leased: bool  # False: waiting for its retry time, or for an earlier message of its key
    attempts: int
    visible_at: float


class _Dead(msgspec.Struct, array_like=True):
    """The message itself (key, event id, payload) stays in the stream; the DLQ stream has a copy."""

    attempts: int
    error: str


class _Group(msgspec.Struct):
    cursor: int
    pending: dict[int, _Pending] = {}
    dead: dict[int, _Dead] = {}


class _Msg(msgspec.Struct, array_like=True):
    key: str
    event_id: str
    payload: bytes


_enc = msgspec.msgpack.Encoder()
_dec_group = msgspec.msgpack.Decoder(_Group)
_dec_msg = msgspec.msgpack.Decoder(_Msg)
#: Packed bytes per pending entry, rounded up (key hash, flags, time, its offset as the dict key).
_PENDING_BYTES = 32
#: Longest dead-letter error text kept in the group entry (the DLQ copy carries it too).
_ERROR_CHARS = 300


def _key_hash(key: str) -> int:
    """A stable 64-bit hash of a message key (Python's ``hash`` differs per process). A collision
    would only make one user's event wait for another's, never reorder one user's events."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")


def _group_key(group: str) -> str:
    """KV keys allow only ``[-/_=.a-zA-Z0-9]``; group names are free text, so hex-encode them."""
    return "g." + group.encode().hex()


async def _cancel_pending() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class _Loop:
    """A private asyncio loop on a daemon thread; sync callers wait on its futures."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="hexlake-nats", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        with contextlib.suppress(Exception):  # the client's reconnect tasks must not outlive the loop
            self.run(_cancel_pending(), timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class NatsEventLog:
    """EventLog on a JetStream stream plus a key-value bucket of group state; thread-safe."""

    SUPPORTS_GROUP_COMMIT = True
    SUPPORTS_TRIM: ClassVar[bool] = False
    SUPPORTS_DROP_PARTITIONS: ClassVar[bool] = False
    SUPPORTS_ERASE_KEY: ClassVar[bool] = True

    def __new__(cls, url: str, config: LogConfig | None = None, *,
                clock: Callable[[], float] = time.time) -> NatsEventLog:
        # ``?groups=durable`` picks the durable-consumer variant (nats_durable.py) behind the same URL
        # scheme, so ``open_log`` needs no second factory.
        if cls is NatsEventLog and parse_nats_url(url).groups == "durable":
            from hexlake.log.backends.nats_durable import NatsDurableEventLog

            return super().__new__(NatsDurableEventLog)
        return super().__new__(cls)

    def __init__(self, url: str, config: LogConfig | None = None, *,
                 clock: Callable[[], float] = time.time):
        self.target = parse_nats_url(url)
        self.config = config or LogConfig.model_validate({})
        self._clock = clock
        self._stream = self.target.stream
        self._dlq = f"{self._stream}_DLQ"
        self._loop = _Loop()
        self._group_locks: dict[str, asyncio.Lock] = {}
        self._queue: list[tuple[Sequence[AppendItem], asyncio.Future[list[int]]]] = []
        self.commit_count = 0
        self._range_paused_until = 0.0
        try:
            self._run(self._connect(), "connect")
        except BaseException:
            self._loop.stop()
            raise

    # -- plumbing ------------------------------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T], op: str) -> T:
        try:
            return self._loop.run(coro)
        except LogError:
            raise
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            raise LogError(f"NATS log {op} failed: {exc!r}; the operation did not complete") from exc

    async def _connect(self) -> None:
        t = self.target
        self._nc = await nats.connect(servers=t.servers, connect_timeout=5, max_reconnect_attempts=-1,
                                      reconnect_time_wait=0.5)
        self._js: JetStreamContext = self._nc.jetstream(timeout=10)
        await self._ensure_stream(self._stream, [f"{self._stream}.*"])
        await self._ensure_stream(self._dlq, [f"{self._stream}_dlq.*"])
        try:
            self._kv: KeyValue = await self._js.key_value(f"{self._stream}_groups")
        except NotFoundError:
            self._kv = await _created(lambda: self._js.create_key_value(
                bucket=f"{self._stream}_groups", history=1, replicas=t.replicas, storage=StorageType.FILE))

    async def _ensure_stream(self, name: str, subjects: list[str]) -> None:
        try:
            await self._js.stream_info(name)
        except NotFoundError:
            await _created(lambda: self._js.add_stream(name=name, subjects=subjects, num_replicas=self.target.replicas,
                                                       storage=StorageType.FILE, duplicate_window=120.0))

    def _lock(self, group: str) -> asyncio.Lock:
        # Serialises one process's updates of a group, so compare-and-set conflicts come only from
        # other processes.
        return self._group_locks.setdefault(group, asyncio.Lock())

    async def _head(self) -> int:
        info = await self._js.stream_info(self._stream)
        return int(info.state.last_seq or 0)

    async def _fetch(self, seqs: Sequence[int]) -> dict[int, _Msg]:
        """Messages by offset, fetched concurrently; erased (or missing) offsets are absent. Nothing
        is cached across calls: an erased message must never be served from another process's memory."""
        raws = await asyncio.gather(*(self._get_raw(self._stream, s) for s in seqs))
        return {s: _dec_msg.decode(r.data or b"") for s, r in zip(seqs, raws, strict=True) if r is not None}

    async def _range(self, start: int, end: int) -> tuple[dict[int, _Msg], int] | None:
        """Messages with offsets ``start..end``, read through an ephemeral consumer (memory, no acks,
        deleted at once): ``(messages, last offset covered)``. The covered prefix is exact: the
        consumer's own delivery sequence must count 1, 2, 3… (a message dropped on the way, e.g. by
        a slow-consumer limit, ends the prefix there), so an offset inside it that is missing was
        deleted from the stream. None when the range read fails: the caller fetches one by one."""
        if time.monotonic() < self._range_paused_until:
            return None
        name = f"hx_{uuid.uuid4().hex}"
        config = ConsumerConfig(name=name, deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start,
                                ack_policy=AckPolicy.NONE, mem_storage=True, num_replicas=1,
                                inactive_threshold=30.0, filter_subject=f"{self._stream}.*")
        try:  # created here, not by pull_subscribe (which names it itself): deleted by this name
            await self._js.add_consumer(self._stream, config, timeout=RANGE_CREATE_TIMEOUT_S)
            sub = await self._js.pull_subscribe_bind(consumer=name, stream=self._stream)
        except (nats.errors.Error, TimeoutError):
            self._range_paused_until = time.monotonic() + RANGE_PAUSE_S
            return None
        asked = time.monotonic()
        try:
            raws = await sub.fetch(end - start + 1, timeout=5)
        except (nats.errors.Error, TimeoutError):  # a quick "no messages" (all erased) is no fault
            if time.monotonic() - asked > 1.0:
                self._range_paused_until = time.monotonic() + RANGE_PAUSE_S
            return None
        finally:
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()
                await self._js.delete_consumer(self._stream, name)
        out: dict[int, _Msg] = {}
        covered = start - 1
        for n, raw in enumerate(raws, 1):
            meta = raw.metadata
            if meta.sequence.consumer != n:
                break
            seq = int(meta.sequence.stream)
            if seq > end:  # every offset up to ``end`` not delivered before it was deleted
                covered = end
                break
            covered, out[seq] = seq, _dec_msg.decode(raw.data or b"")
        return (out, covered) if covered >= start else None

    async def _get_raw(self, stream: str, seq: int) -> Any:
        try:
            return await self._js.get_msg(stream, seq)
        except NotFoundError:
            return None

    async def _load(self, group: str, *, from_start: bool = True) -> tuple[_Group, int | None]:
        try:
            entry = await self._kv.get(_group_key(group))
        except KeyNotFoundError:
            return _Group(cursor=0 if from_start else await self._head()), None
        return _dec_group.decode(entry.value or b""), entry.revision

    async def _save(self, group: str, state: _Group, revision: int | None) -> bool:
        """Compare-and-set; False when another process changed the group first."""
        try:
            if revision is None:
                await self._kv.create(_group_key(group), _enc.encode(state))
            else:
                await self._kv.update(_group_key(group), _enc.encode(state), last=revision)
        except KeyWrongLastSequenceError:
            return False
        return True

    async def _change(self, group: str, plan: Callable[[_Group], Awaitable[T]], *,
                      create: bool = True, from_start: bool = True) -> T | None:
        """Load the group, apply ``plan``, save by compare-and-set; retry on conflicts."""
        async with self._lock(group):
            for _ in range(CAS_ATTEMPTS):
                state, rev = await self._load(group, from_start=from_start)
                if rev is None and not create:
                    return None
                result = await plan(state)
                if await self._save(group, state, rev):
                    return result
        raise LogError(f"group {group!r} is contended: {CAS_ATTEMPTS} compare-and-set conflicts in a row")

    # -- append --------------------------------------------------------------------------------

    def append(self, items: Sequence[AppendItem]) -> list[int]:
        if not items:
            return []
        return self._run(self._append(items), "append")

    async def _append(self, items: Sequence[AppendItem]) -> list[int]:
        # Group commit: appends arriving while a flush is scheduled join it, and one flush publishes
        # every queued message concurrently and gathers the acks.
        done: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._queue.append((items, done))
        if len(self._queue) == 1:
            asyncio.get_running_loop().create_task(self._flush())
        return await done

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let appends already submitted from other threads join this flush
        batch, self._queue = self._queue, []
        flat = [item for items, _ in batch for item in items]
        token = uuid.uuid4().hex
        try:
            offsets = list(await asyncio.gather(*(self._publish(i, f"{token}-{n}") for n, i in enumerate(flat))))
        except BaseException as exc:  # every caller of this flush learns it failed
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        self.commit_count += 1
        start = 0
        for items, fut in batch:
            if not fut.done():
                fut.set_result(offsets[start:start + len(items)])
            start += len(items)

    async def _publish(self, item: AppendItem, msg_id: str) -> int:
        """Publish one message; while the cluster elects a new leader, retry with the same message id,
        which JetStream de-duplicates, so a retried publish never stores the message twice."""
        subject = f"{self._stream}.{zlib.crc32(item.key.encode()) % self.target.shards}"
        data = _enc.encode(_Msg(item.key, item.event_id, item.payload))
        deadline = time.monotonic() + PUBLISH_RETRY_S
        while True:
            try:
                ack = await self._js.publish(subject, data, stream=self._stream, timeout=5,
                                             headers={"Nats-Msg-Id": msg_id})
                return int(ack.seq)
            except (nats.errors.TimeoutError, nats.errors.NoRespondersError, ServiceUnavailableError,
                    NoStreamResponseError, nats.errors.ConnectionReconnectingError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.25)

    # -- groups --------------------------------------------------------------------------------

    def create_group(self, group: str, *, from_start: bool = True) -> None:
        async def keep(state: _Group) -> None:
            return None

        async def create() -> None:
            _, rev = await self._load(group)
            if rev is None:
                await self._change(group, keep, from_start=from_start)

        self._run(create(), "create_group")

    def read(self, group: str, consumer: str, max: int, *,
             visibility_timeout_s: float | None = None) -> list[LogMessage]:
        if max <= 0:
            return []
        vt = self.config.visibility_timeout_s if visibility_timeout_s is None else visibility_timeout_s

        async def plan(g: _Group) -> tuple[list[LogMessage], list[tuple[int, _Dead]]]:
            now = self._clock()
            buried = self._bury_expired(g, now)
            room = self._pending_room(g)
            blocked: dict[int, int] = {}
            for off, p in g.pending.items():
                if p.visible_at > now:
                    blocked[p.key] = min(blocked.get(p.key, off), off)
            out: list[LogMessage] = []
            ready = [o for o in sorted(g.pending) if g.pending[o].visible_at <= now
                     and blocked.get(g.pending[o].key, o) >= o][:max]
            msgs = await self._fetch(ready)
            for off in ready:
                p = g.pending[off]
                if off not in msgs:  # the message is gone from the stream: nothing to deliver
                    del g.pending[off]
                    continue
                out.append(self._lease(g, off, msgs[off], p.attempts + 1, consumer, now + vt))
            head = await self._head()
            scanned = 0
            while len(out) < max and g.cursor < head and scanned < SCAN_FACTOR * max and len(g.pending) < room:
                window = list(range(g.cursor + 1, min(head, g.cursor + max - len(out),
                                                      g.cursor + room - len(g.pending)) + 1))
                ranged = await self._range(window[0], window[-1]) if len(window) >= RANGE_READ_MIN else None
                if ranged is None:
                    msgs = await self._fetch(window)
                else:
                    msgs, covered = ranged
                    window = window[:covered - window[0] + 1]
                for off in window:
                    g.cursor, scanned = off, scanned + 1
                    m = msgs.get(off)
                    if m is None:
                        continue
                    if (h := _key_hash(m.key)) in blocked:
                        g.pending[off] = _Pending(h, False, 0, 0.0)
                    else:
                        out.append(self._lease(g, off, m, 1, consumer, now + vt))
            return out, buried

        async def run() -> list[LogMessage]:
            out, buried = await self._change(group, plan) or ([], [])
            await self._publish_dead(group, buried)
            return out

        return self._run(run(), "read")

    @staticmethod
    def _lease(g: _Group, off: int, m: _Msg, attempts: int, consumer: str, until: float) -> LogMessage:
        # Which consumer holds a lease is not needed: a lease only blocks and expires.
        g.pending[off] = _Pending(_key_hash(m.key), True, attempts, until)
        return LogMessage(off, m.key, m.event_id, m.payload, attempts)

    def _pending_room(self, g: _Group) -> int:
        """How many pending entries the group's KV value can hold: a read leases no more (it returns
        fewer than ``max``) rather than write a value the server refuses (a 20,000-message loader
        batch would be ~0.6 MB packed; dead letters share the same value)."""
        dead_bytes = sum(16 + len(d.error) for d in g.dead.values())
        if dead_bytes > self._nc.max_payload * 0.8:  # loud, not a group that silently stops reading
            raise LogError(f"NATS log: {len(g.dead)} dead letters fill this group's key-value entry "
                           f"(server max_payload {self._nc.max_payload} bytes), so it cannot lease more; "
                           "raise the servers' max_payload (nats-server.conf, up to 64 MB)")
        return max((int(self._nc.max_payload * 0.9) - dead_bytes) // _PENDING_BYTES, 0)

    def _bury_expired(self, g: _Group, now: float) -> list[tuple[int, _Dead]]:
        return [self._bury(g, off, p, _expired(p.attempts)) for off, p in list(g.pending.items())
                if p.leased and p.visible_at <= now and p.attempts >= self.config.max_attempts]

    @staticmethod
    def _bury(g: _Group, off: int, p: _Pending, error: str) -> tuple[int, _Dead]:
        del g.pending[off]
        g.dead[off] = _Dead(p.attempts, error[:_ERROR_CHARS])
        return off, g.dead[off]

    async def _publish_dead(self, group: str, dead: list[tuple[int, _Dead]]) -> None:
        """Copy dead letters to the DLQ stream (best effort: the group entry is the record)."""
        if not dead:
            return
        msgs = await self._fetch([off for off, _ in dead])
        subject = f"{self._stream}_dlq.{group.encode().hex()}"
        await asyncio.gather(*(
            self._js.publish(subject, msgs[off].payload, stream=self._dlq,
                             headers={"Nats-Msg-Id": f"{group.encode().hex()}-{off}", "Hexlake-Key": msgs[off].key,
                                      "Hexlake-Offset": str(off), "Hexlake-Attempts": str(d.attempts),
                                      "Hexlake-Error": d.error.replace("\r", " ").replace("\n", " ")})
            for off, d in dead if off in msgs))

    def ack(self, group: str, offsets: Sequence[int]) -> None:
        wanted = set(offsets)

        async def plan(g: _Group) -> None:
            for off in wanted:
                p = g.pending.get(off)
                if p and p.attempts > 0:
                    del g.pending[off]

        if wanted:
            self._run(self._change(group, plan, create=False), "ack")

    def nack(self, group: str, offsets: Sequence[int], error: str, *, retry: bool = True) -> None:
        cfg = self.config
        limit = cfg.max_attempts if retry else 1
        wanted = set(offsets)

        async def plan(g: _Group) -> list[tuple[int, _Dead]]:
            now, buried = self._clock(), []
            for off in wanted:
                p = g.pending.get(off)
                if p is None or p.attempts == 0:
                    continue
                if p.attempts >= limit:
                    buried.append(self._bury(g, off, p, error))
                else:
                    wait = backoff_s(p.attempts, cfg.backoff_base_s, cfg.backoff_max_s)
                    g.pending[off] = _Pending(p.key, False, p.attempts, now + wait)
            return buried

        async def run() -> None:
            buried = await self._change(group, plan, create=False)
            await self._publish_dead(group, buried or [])

        if wanted:
            self._run(run(), "nack")

    # -- inspection ----------------------------------------------------------------------------

    def status(self) -> list[GroupStatus]:
        return self._run(self._status(), "status")

    async def _status(self) -> list[GroupStatus]:
        now, head = self._clock(), await self._head()
        try:
            keys = await self._kv.keys()
        except nats.js.errors.NoKeysError:
            return []
        out = []
        for key in keys:
            entry = await self._kv.get(key)
            g = _dec_group.decode(entry.value or b"")
            out.append(GroupStatus(
                group=bytes.fromhex(key.removeprefix("g.")).decode(),
                lag=max(head - g.cursor, 0) + len(g.pending),
                in_flight=sum(1 for p in g.pending.values() if p.leased and p.visible_at > now),
                dead_letters=len(g.dead),
                last_acked_offset=(min(g.pending) - 1 if g.pending else g.cursor) or None))
        return sorted(out, key=lambda s: s.group)

    def dead_letters(self, group: str, limit: int = 100) -> list[DeadLetter]:
        async def run() -> list[DeadLetter]:
            g, rev = await self._load(group)
            if rev is None:
                return []
            offs = sorted(g.dead)[:limit]
            msgs = await self._fetch(offs)
            return [DeadLetter(o, msgs[o].key if o in msgs else "", msgs[o].event_id if o in msgs else "",
                               msgs[o].payload if o in msgs else b"", g.dead[o].attempts, g.dead[o].error)
                    for o in offs]

        return self._run(run(), "dead_letters")

    def head_offset(self) -> int:
        return self._run(self._head(), "head_offset")

    def tail(self, n: int) -> list[str]:
        if n <= 0:
            return []

        async def run() -> list[str]:
            info = await self._js.stream_info(self._stream)
            last, first = int(info.state.last_seq or 0), int(info.state.first_seq or 1)
            seqs = list(range(max(first, last - n + 1, 1), last + 1))
            msgs = await self._fetch(seqs)
            return [msgs[s].event_id for s in seqs if s in msgs]

        return self._run(run(), "tail")

    # -- erasure (KeyEraser) --------------------------------------------------------------------

    def count_key(self, key: str) -> int:
        """The person's messages in the log and in the dead-letter stream."""
        return sum(len(seqs) for seqs in self._run(self._theirs(key), "count_key").values())

    def erase_key(self, key: str) -> int:
        """Delete the person's messages (JetStream overwrites a deleted message on disk), their
        dead-letter copies, and the groups' leases and dead-letter entries that pointed at them."""
        async def run() -> int:
            found = await self._theirs(key)
            for stream, seqs in found.items():
                for seq in seqs:
                    with contextlib.suppress(NotFoundError):
                        await self._js.delete_msg(stream, seq)
            gone = set(found[self._stream])

            async def forget(g: _Group) -> None:
                g.pending = {o: p for o, p in g.pending.items() if o not in gone}
                g.dead = {o: d for o, d in g.dead.items() if o not in gone}

            for group in await self._groups():
                await self._change(group, forget, create=False)
            return sum(len(seqs) for seqs in found.values())

        return self._run(run(), "erase_key")

    async def _theirs(self, key: str) -> dict[str, list[int]]:
        """Offsets per stream of the messages whose key is ``key`` or whose payload mentions it."""
        needle = key.encode()
        found: dict[str, list[int]] = {self._stream: [], self._dlq: []}
        for stream in found:
            info = await self._js.stream_info(stream)
            first, last = int(info.state.first_seq or 1), int(info.state.last_seq or 0)
            for start in range(first, last + 1, _SCAN_CHUNK):
                seqs = list(range(start, min(start + _SCAN_CHUNK, last + 1)))
                for seq, raw in zip(seqs, await asyncio.gather(*(self._get_raw(stream, q) for q in seqs)),
                                    strict=True):
                    if raw is not None and _mentions(stream == self._dlq, raw, key, needle):
                        found[stream].append(seq)
        return found

    async def _groups(self) -> list[str]:
        try:
            keys = await self._kv.keys()
        except nats.js.errors.NoKeysError:
            return []
        return [bytes.fromhex(k.removeprefix("g.")).decode() for k in keys]

    def close(self) -> None:
        if not self._loop.loop.is_closed():
            try:
                self._loop.run(self._nc.close(), timeout=10)
            finally:
                self._loop.stop()

    def drop(self) -> None:
        """Delete the stream, the DLQ and the group bucket (tests; ``hexlake`` never calls it)."""
        async def run() -> None:
            for name in (self._stream, self._dlq, f"KV_{self._stream}_groups"):
                with contextlib.suppress(NotFoundError):
                    await self._js.delete_stream(name)

        self._run(run(), "drop")


def _mentions(dead_letter: bool, raw: Any, key: str, needle: bytes) -> bool:
    if dead_letter:  # a DLQ copy: the raw payload, the key in a header
        return bool((raw.headers or {}).get("Hexlake-Key") == key or needle in (raw.data or b""))
    msg = _dec_msg.decode(raw.data or b"")
    return msg.key == key or needle in msg.payload


def _expired(attempts: int) -> str:
    return f"not acked within its visibility timeout after {attempts} deliveries"


__all__ = ["NatsEventLog", "NatsTarget", "parse_nats_url"]
