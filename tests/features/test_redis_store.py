"""The OnlineStore contract suite and the CounterStore behaviours, run against a real Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from hexlake.features import OnlineStore, open_online_store
from hexlake.features.backends.redis import RedisCounterStore
from hexlake.stream.counters import MemoryCounterStore

from .test_online_store import *  # noqa: F403  (the contract tests, re-run with the fixture below)
from .test_online_store import Clock

pytestmark = pytest.mark.services


# Replaces the star-imported fixture: the same contract tests, on Redis.
@pytest.fixture  # type: ignore[no-redef]
def store_and_clock(redis_url: str) -> Iterator[tuple[OnlineStore, Clock]]:
    clock = Clock(1_700_000_000.0)
    store = open_online_store(redis_url, clock=clock)
    yield store, clock
    store.close()


def test_online_values_get_a_native_redis_ttl(redis_url: str) -> None:
    store = open_online_store(redis_url)
    store.put_many([("user:a", {"v": 1})], ttl_s=120)
    base, _, prefix = redis_url.partition("#")
    ttl_ms = redis.Redis.from_url(base).pttl(f"{prefix}:f:user:a")
    assert 0 < ttl_ms <= 120_000
    store.close()


@pytest.fixture
def counters(redis_url: str) -> Iterator[RedisCounterStore]:
    store = RedisCounterStore(redis_url)
    yield store
    store.close()


NOW = 2_000_000_000.0  # in the future, so native expiry keeps the keys during the test


def test_counters_add_and_keep_max_like_the_reference(counters: RedisCounterStore) -> None:
    ref = MemoryCounterStore()
    batches = [
        (1, [("incr", "epm|60|page|web", 2.0, NOW + 60), ("max", "seen|u1", 100.0, NOW + 60)]),
        (2, [("incr", "epm|60|page|web", 3.0, NOW + 120), ("max", "seen|u1", 50.0, NOW + 60),
             ("incr", "epm|60|track|web", 1.0, NOW + 60)]),
    ]
    for batch_id, ops in batches:
        counters.apply(batch_id, ops)
        ref.apply(batch_id, ops)
    assert counters.scan("epm|", NOW) == ref.scan("epm|", NOW) == {"epm|60|page|web": 5.0,
                                                                   "epm|60|track|web": 1.0}
    assert counters.scan("seen|", NOW) == {"seen|u1": 100.0}


def test_a_batch_is_applied_once(counters: RedisCounterStore) -> None:
    ops = [("incr", "cell|60|abc", 1.0, NOW + 60)]
    counters.apply(7, ops)
    counters.apply(7, ops)
    assert counters.scan("cell|", NOW) == {"cell|60|abc": 1.0}


def test_two_writers_with_distinct_namespaces_do_not_swallow_each_others_batches(redis_url: str) -> None:
    a, b = RedisCounterStore(redis_url, namespace="a:"), RedisCounterStore(redis_url, namespace="b:")
    a.apply(1, [("incr", "epm|1|x|s", 1.0, NOW)])
    b.apply(1, [("incr", "epm|1|x|s", 1.0, NOW)])
    assert a.scan("epm|", NOW - 1) == {"epm|1|x|s": 2.0}
    a.close()
    b.close()


def test_expired_counters_are_not_read_and_count_at_least_filters(counters: RedisCounterStore) -> None:
    counters.apply(1, [("incr", "place|1|p1|c", 5.0, NOW + 10), ("incr", "place|1|p2|c", 1.0, NOW + 100),
                       ("incr", "place|1|p3|c", 9.0, NOW + 100)])
    assert counters.count_at_least("place|", 2.0, NOW) == 2
    assert counters.scan("place|", NOW + 50) == {"place|1|p2|c": 1.0, "place|1|p3|c": 9.0}
    assert counters.purge_expired(NOW + 50) == 1
    assert counters.count_at_least("place|", 0.0, NOW) == 2


def test_counters_carry_a_native_expiry_at_their_expires_at(counters: RedisCounterStore, redis_url: str) -> None:
    counters.apply(1, [("incr", "epm|1|x|s", 1.0, NOW)])
    base, _, prefix = redis_url.partition("#")
    assert redis.Redis.from_url(base).pexpiretime(f"{prefix}:rt:c:epm|1|x|s") == int(NOW * 1000)
