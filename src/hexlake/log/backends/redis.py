"""EventLog on Redis Streams.

* ``append`` is one pipelined ``MULTI``/``XADD``… transaction with ids ``0-*``: Redis assigns the
  sequence part, so offsets are contiguous integers (``0-<offset>``) in commit order across every
  process sharing the stream.
* Consumer groups are Redis consumer groups: fresh messages come from ``XREADGROUP >``, acks are
  ``XACK``, redelivery moves ownership with ``XCLAIM``. The lease deadlines, backoff and attempt
  counts live next to the group (sorted sets and hashes) and are timed by hexlake's clock rather
  than Redis' idle time, so they follow the same injectable clock as every other backend.
* Per-user ordering: a per-key outstanding counter (the in-flight guard) parks a fresh message
  whose key has an earlier message leased or waiting for retry; it is delivered once those finish.
* Every state change runs inside one Lua script (``redis_lua.SCRIPT``): atomic without locks, one
  round trip per call, safe for any number of consumer processes.
* Dead letters keep a copy of the message, so :meth:`RedisEventLog.trim` can drop stream entries
  that every group has finished (``XTRIM MINID``) while keeping the newest ``keep`` for ``tail``.
* Durability is Redis' own: run it with ``appendonly yes`` and ``appendfsync always`` (or
  ``everysec`` if one second of appends may be lost on power failure).

URL: ``redis://host:port/db#prefix``; every key starts with ``prefix`` (default ``hexlake:log``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import msgspec
import redis

from hexlake.errors import LogError
from hexlake.log.config import LogConfig
from hexlake.log.protocol import AppendItem, DeadLetter, GroupStatus, LogMessage
from hexlake.log.spans import SCAN_FACTOR

from .redis_lua import SCRIPT

DEFAULT_PREFIX = "hexlake:log"


def split_redis_url(url: str, default_prefix: str) -> tuple[str, str]:
    """``redis://…/0#prefix`` -> (connection URL, key prefix)."""
    base, _, fragment = url.partition("#")
    return base, fragment or default_prefix


def _seq(stream_id: bytes | str) -> int:
    text = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    return int(text.partition("-")[2])


def _fields(info: Any) -> dict[str, Any]:
    """XINFO replies as a dict with str keys (RESP2 gives flat lists or dicts by version)."""
    if isinstance(info, dict):
        return {(k.decode() if isinstance(k, bytes) else k): v for k, v in info.items()}
    return {(info[i].decode() if isinstance(info[i], bytes) else info[i]): info[i + 1]
            for i in range(0, len(info), 2)}


class RedisEventLog:
    """EventLog on one Redis stream; thread-safe, shareable between processes."""

    SUPPORTS_GROUP_COMMIT = False
    SUPPORTS_TRIM: ClassVar[bool] = True
    SUPPORTS_DROP_PARTITIONS: ClassVar[bool] = False
    SUPPORTS_ERASE_KEY: ClassVar[bool] = True

    def __init__(self, url: str, config: LogConfig | None = None, *,
                 clock: Callable[[], float] = time.time):
        base, self.prefix = split_redis_url(url, DEFAULT_PREFIX)
        self.config = config or LogConfig.model_validate({})
        self._clock = clock
        self._client = redis.Redis.from_url(base)
        self._stream = f"{self.prefix}:s"
        self._script = self._client.register_script(SCRIPT)
        with _translate("open"):
            self._client.ping()

    def _run(self, op: str, group: str, *args: str | int | float | bytes) -> Any:
        return self._script(args=[op, self.prefix, group, *args])

    def _key(self, group: str, name: str) -> str:
        return f"{self.prefix}:g:{group}:{name}"

    # -- append ------------------------------------------------------------------------------

    def append(self, items: Sequence[AppendItem]) -> list[int]:
        if not items:
            return []
        with _translate("append"):
            pipe = self._client.pipeline(transaction=True)
            for it in items:
                pipe.xadd(self._stream, {"k": it.key, "e": it.event_id, "p": it.payload}, id="0-*")
            return [_seq(i) for i in pipe.execute()]

    # -- groups / read / ack -----------------------------------------------------------------

    def create_group(self, group: str, *, from_start: bool = True) -> None:
        with _translate("create_group"):
            self._run("create", group, "0" if from_start else "$")

    def read(self, group: str, consumer: str, max: int, *,
             visibility_timeout_s: float | None = None) -> list[LogMessage]:
        """Lease up to ``max`` messages. An unknown group is created (from the start)."""
        if max <= 0:
            return []
        vt = self.config.visibility_timeout_s if visibility_timeout_s is None else visibility_timeout_s
        with _translate("read"):
            flat = self._run("read", group, consumer, max, repr(self._clock()), repr(vt),
                             self.config.max_attempts, max * SCAN_FACTOR)
        out = []
        for i in range(0, len(flat), 3):
            key, eid, payload = flat[i + 2]
            out.append(LogMessage(int(flat[i]), key.decode(), eid.decode(), bytes(payload), int(flat[i + 1])))
        out.sort(key=lambda m: m.offset)
        return out

    def ack(self, group: str, offsets: Sequence[int]) -> None:
        if offsets and self._known(group):
            with _translate("ack"):
                self._run("ack", group, *offsets)

    def nack(self, group: str, offsets: Sequence[int], error: str, *, retry: bool = True) -> None:
        if not offsets or not self._known(group):
            return
        cfg = self.config
        with _translate("nack"):
            self._run("nack", group, error, repr(self._clock()), cfg.max_attempts if retry else 1,
                      repr(cfg.backoff_base_s), repr(cfg.backoff_max_s), *offsets)

    def _known(self, group: str) -> bool:
        with _translate("groups"):
            return bool(self._client.sismember(f"{self.prefix}:groups", group))

    # -- inspection --------------------------------------------------------------------------

    def _groups(self) -> list[tuple[str, int]]:
        """(name, last delivered offset) of every consumer group of the stream."""
        try:
            infos = self._client.xinfo_groups(self._stream)
        except redis.ResponseError:  # no stream yet
            return []
        out = []
        for info in infos:
            f = _fields(info)
            name = f["name"].decode() if isinstance(f["name"], bytes) else f["name"]
            out.append((name, _seq(f["last-delivered-id"])))
        return sorted(out)

    def status(self) -> list[GroupStatus]:
        now = self._clock()
        with _translate("status"):
            head = self.head_offset()
            groups = self._groups()
            pipe = self._client.pipeline(transaction=False)
            for name, _ in groups:
                pipe.zcard(self._key(name, "out"))
                pipe.zcount(self._key(name, "lease"), f"({now!r}", "+inf")
                pipe.hlen(self._key(name, "dead"))
                pipe.zrange(self._key(name, "out"), 0, 0)
            replies = pipe.execute()
        out = []
        for i, (name, cursor) in enumerate(groups):
            outstanding, in_flight, dead, low = replies[4 * i: 4 * i + 4]
            watermark = int(low[0]) - 1 if low else cursor
            out.append(GroupStatus(group=name, lag=max(head - cursor, 0) + outstanding,
                                   in_flight=in_flight, dead_letters=dead,
                                   last_acked_offset=watermark or None))
        return out

    def dead_letters(self, group: str, limit: int = 100) -> list[DeadLetter]:
        with _translate("dead_letters"):
            raw: dict[bytes, bytes] = self._client.hgetall(self._key(group, "dead"))  # type: ignore[assignment]
            rows = sorted((msgspec.msgpack.decode(v) for v in raw.values()), key=lambda r: r[0])[:limit]
            payloads = self._client.hmget(self._key(group, "deadp"), [r[0] for r in rows]) if rows else []
        return [DeadLetter(int(off), _text(key), _text(eid), _bytes(payload), int(att), _text(err))
                for (off, key, eid, att, err, _at), payload in zip(rows, payloads, strict=True)]

    def head_offset(self) -> int:
        with _translate("head_offset"):
            try:
                info = _fields(self._client.xinfo_stream(self._stream))
            except redis.ResponseError:
                return 0
        return _seq(info["last-generated-id"])

    def tail(self, n: int) -> list[str]:
        if n <= 0:
            return []
        with _translate("tail"):
            rows: list[tuple[bytes, dict[bytes, bytes]]] = self._client.xrevrange(  # type: ignore[assignment]
                self._stream, count=n)
        return [fields[b"e"].decode() for _, fields in reversed(rows)]

    # -- retention ---------------------------------------------------------------------------

    def trim(self, keep: int = 10_000) -> int:
        """Drop stream entries every group has finished, keeping the newest ``keep``; return how many.

        A group created later ``from_start`` cannot see trimmed entries: run it before adding a
        group that needs the whole history.
        """
        with _translate("trim"):
            return int(self._run("trim", "", keep))

    # -- erasure (KeyEraser) -------------------------------------------------------------------

    def _theirs(self, key: str) -> Iterator[tuple[str, bytes | None, str | None]]:
        """(where, stream id or dead-letter field, group) of each of the person's entries."""
        needle = key.encode()
        last = "-"
        while True:
            rows: list[tuple[bytes, dict[bytes, bytes]]] = self._client.xrange(  # type: ignore[assignment]
                self._stream, min=last, count=5000)
            rows = [r for r in rows if last == "-" or r[0] != last.encode()]
            if not rows:
                break
            for sid, fields in rows:
                if fields.get(b"k") == needle or needle in fields.get(b"p", b""):
                    yield "stream", sid, None
            last = rows[-1][0].decode()
        for group, _ in self._groups():
            payloads: dict[bytes, bytes] = self._client.hgetall(self._key(group, "deadp"))  # type: ignore[assignment]
            dead: dict[bytes, bytes] = self._client.hgetall(self._key(group, "dead"))  # type: ignore[assignment]
            for field in payloads.keys() | dead.keys():
                row = msgspec.msgpack.decode(dead[field]) if field in dead else None
                if needle in payloads.get(field, b"") or (row is not None and _text(row[1]) == key):
                    yield "dead", field, group

    def count_key(self, key: str) -> int:
        with _translate("count_key"):
            return sum(1 for _ in self._theirs(key))

    def erase_key(self, key: str) -> int:
        """``XDEL`` the person's stream entries and remove their dead-letter copies."""
        with _translate("erase_key"):
            found = list(self._theirs(key))
            pipe = self._client.pipeline(transaction=True)
            for where, ident, group in found:
                if where == "stream":
                    pipe.xdel(self._stream, ident)  # type: ignore[arg-type]
                else:
                    pipe.hdel(self._key(str(group), "deadp"), ident)  # type: ignore[arg-type]
                    pipe.hdel(self._key(str(group), "dead"), ident)  # type: ignore[arg-type]
            pipe.execute()
        return len(found)

    def close(self) -> None:
        self._client.close()


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return "" if value is None else str(value)


def _bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


@contextmanager
def _translate(what: str) -> Iterator[None]:
    try:
        yield
    except redis.RedisError as exc:
        raise LogError(f"Redis event log {what} failed: {exc}; check Redis and retry") from exc


__all__ = ["RedisEventLog", "split_redis_url"]
