"""Redis backends for the online feature store (``OnlineStore``) and the realtime counters
(``hexlake.stream.counters.CounterStore``), both with Redis' native key expiry.

* Online store: one string key per entity, ``SET … PX ttl``; the value carries its own expiry
  (``b"<expires_at>|<json>"``) so a read never returns a value the injected clock says has expired,
  even if Redis has not evicted it yet (and tests can move a fake clock).
* Counters: one hash per counter (``v`` value, ``x`` expires_at) with ``PEXPIREAT`` at its expiry,
  plus a lexicographic index (sorted set, score 0) for prefix scans (``ZRANGEBYLEX``). A batch is
  applied once, atomically, in one Lua call guarded by a ``SET NX`` marker on its id.

URL: ``redis://host:port/db#prefix``; keys start with ``prefix`` (default ``hexlake:online``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
import redis

from hexlake.errors import ConfigError
from hexlake.features.protocol import FeatureRow

DEFAULT_PREFIX = "hexlake:online"
BATCH_MARKER_TTL_S = 7 * 86_400


def _split(url: str) -> tuple[str, str]:
    base, _, prefix = url.partition("#")
    return base, prefix or DEFAULT_PREFIX


@contextmanager
def _translate(what: str) -> Iterator[None]:
    try:
        yield
    except redis.RedisError as exc:
        raise ConfigError(f"Redis {what} failed: {exc}; check that Redis is reachable at online_url",
                          field="online_url") from exc


class RedisOnlineStore:
    """Latest feature values per entity in Redis, each with a native TTL."""

    def __init__(self, url: str, clock: Callable[[], float] = time.time):
        base, self.prefix = _split(url)
        self._clock = clock
        self._client = redis.Redis.from_url(base)
        with _translate("connect"):
            self._client.ping()

    def _k(self, key: str) -> str:
        return f"{self.prefix}:f:{key}"

    def _decode(self, raw: bytes | None, now: float) -> FeatureRow | None:
        if raw is None:
            return None
        expires, _, body = raw.partition(b"|")
        if float(expires) <= now:
            return None
        value: FeatureRow = orjson.loads(body)
        return value

    def get(self, key: str) -> FeatureRow | None:
        with _translate("get"):
            raw: bytes | None = self._client.get(self._k(key))  # type: ignore[assignment]
        return self._decode(raw, self._clock())

    def get_many(self, keys: Sequence[str]) -> dict[str, FeatureRow]:
        if not keys:
            return {}
        with _translate("get_many"):
            raws: list[bytes | None] = self._client.mget([self._k(k) for k in keys])  # type: ignore[assignment]
        now = self._clock()
        out = {}
        for key, raw in zip(keys, raws, strict=True):
            value = self._decode(raw, now)
            if value is not None:
                out[key] = value
        return out

    def put_many(self, items: Sequence[tuple[str, FeatureRow]], ttl_s: float) -> None:
        expires = self._clock() + ttl_s
        ttl_ms = max(int(ttl_s * 1000), 1)
        with _translate("put_many"):
            pipe = self._client.pipeline(transaction=False)
            for key, value in items:
                pipe.set(self._k(key), f"{expires!r}|".encode() + orjson.dumps(value), px=ttl_ms)
            pipe.execute()

    def delete(self, keys: Sequence[str]) -> int:
        if not keys:
            return 0
        now = self._clock()
        with _translate("delete"):
            raws: list[bytes | None] = self._client.mget([self._k(k) for k in keys])  # type: ignore[assignment]
            self._client.delete(*[self._k(k) for k in keys])
        return sum(1 for raw in raws if self._decode(raw, now) is not None)

    def purge_expired(self) -> int:
        """Nothing to do: Redis expires keys itself (kept for parity with the SQLite store)."""
        return 0

    def close(self) -> None:
        self._client.close()


_COUNTERS_LUA = r"""
local P, op = ARGV[1], ARGV[2]
local IDX = P .. ':cidx'
if op == 'apply' then
  if not redis.call('SET', P .. ':cb:' .. ARGV[3], 1, 'NX', 'EX', ARGV[4]) then return 0 end
  for i = 5, #ARGV, 4 do
    local kind, k, v, x = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
    local key = P .. ':c:' .. k
    local old = redis.call('HMGET', key, 'v', 'x')
    if old[1] then
      if kind == 'incr' then v = tonumber(old[1]) + v else v = math.max(tonumber(old[1]), v) end
      x = math.max(tonumber(old[2]), x)
    end
    redis.call('HSET', key, 'v', tostring(v), 'x', tostring(x))
    redis.call('PEXPIREAT', key, math.floor(x * 1000))
    redis.call('ZADD', IDX, 0, k)
  end
  return 1
end
if op == 'scan' or op == 'count' then
  local prefix, stop, now, threshold = ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
  local out, n = {}, 0
  for _, k in ipairs(redis.call('ZRANGEBYLEX', IDX, '[' .. prefix, '(' .. stop)) do
    local row = redis.call('HMGET', P .. ':c:' .. k, 'v', 'x')
    if row[1] and tonumber(row[2]) > now then
      if op == 'scan' then
        out[#out + 1] = k
        out[#out + 1] = row[1]
      elseif tonumber(row[1]) >= threshold then
        n = n + 1
      end
    end
  end
  if op == 'count' then return n end
  return out
end
if op == 'purge' then
  local now, n = tonumber(ARGV[3]), 0
  for _, k in ipairs(redis.call('ZRANGE', IDX, 0, -1)) do
    local key = P .. ':c:' .. k
    local x = redis.call('HGET', key, 'x')
    if not x or tonumber(x) <= now then
      redis.call('DEL', key)
      redis.call('ZREM', IDX, k)
      n = n + 1
    end
  end
  return n
end
return redis.error_reply('unknown op')
"""


class RedisCounterStore:
    """TTL counters in Redis (``CounterStore``): exact, applied once per batch id."""

    def __init__(self, url: str, *, namespace: str = ""):
        """``namespace`` separates the batch ids of independent writers (each worker's outbox
        numbers its batches from 1, so two workers sharing one Redis need distinct namespaces)."""
        base, prefix = _split(url)
        self.prefix = f"{prefix}:rt"
        self.namespace = namespace
        self._client = redis.Redis.from_url(base)
        self._script = self._client.register_script(_COUNTERS_LUA)
        with _translate("connect"):
            self._client.ping()

    def _run(self, *args: Any) -> Any:
        with _translate("counters"):
            return self._script(args=[self.prefix, *args])

    def apply(self, batch_id: int, ops: Sequence[tuple[str, str, float, float]]) -> None:
        flat: list[Any] = []
        for kind, key, value, expires in ops:
            flat += [kind, key, repr(float(value)), repr(float(expires))]
        self._run("apply", f"{self.namespace}{batch_id}", BATCH_MARKER_TTL_S, *flat)

    def scan(self, prefix: str, now: float) -> dict[str, float]:
        flat = self._run("scan", prefix, _prefix_end(prefix), repr(now), 0)
        return {flat[i].decode(): float(flat[i + 1]) for i in range(0, len(flat), 2)}

    def count_at_least(self, prefix: str, threshold: float, now: float) -> int:
        return int(self._run("count", prefix, _prefix_end(prefix), repr(now), repr(float(threshold))))

    def purge_expired(self, now: float) -> int:
        return int(self._run("purge", repr(now)))

    def close(self) -> None:
        self._client.close()


def _prefix_end(prefix: str) -> str:
    return prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else "\U0010ffff"


__all__ = ["RedisCounterStore", "RedisOnlineStore"]
