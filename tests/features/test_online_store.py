"""Contract suite for every OnlineStore backend (memory fake and embedded SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hexlake.errors import ConfigError
from hexlake.features import MemoryOnlineStore, OnlineStore, SqliteOnlineStore, open_online_store


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "sqlite"])
def store_and_clock(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[OnlineStore, Clock]]:
    clock = Clock()
    store: OnlineStore
    if request.param == "memory":
        store = MemoryOnlineStore(clock=clock)
    else:
        store = SqliteOnlineStore(tmp_path / "online.sqlite", clock=clock)
    yield store, clock
    store.close()


def test_put_then_get_returns_the_value(store_and_clock: tuple[OnlineStore, Clock]) -> None:
    store, _ = store_and_clock
    store.put_many([("user:a", {"events_total": 3, "counts": {"page": 3}})], ttl_s=60)
    assert store.get("user:a") == {"events_total": 3, "counts": {"page": 3}}
    assert store.get("user:missing") is None


def test_put_overwrites_previous_value(store_and_clock: tuple[OnlineStore, Clock]) -> None:
    store, _ = store_and_clock
    store.put_many([("user:a", {"v": 1})], ttl_s=60)
    store.put_many([("user:a", {"v": 2})], ttl_s=60)
    assert store.get("user:a") == {"v": 2}


def test_expired_values_are_never_returned(store_and_clock: tuple[OnlineStore, Clock]) -> None:
    store, clock = store_and_clock
    store.put_many([("user:a", {"v": 1}), ("user:b", {"v": 2})], ttl_s=10)
    clock.now += 9.9
    assert store.get("user:a") == {"v": 1}
    clock.now += 0.1  # exactly at expiry: gone
    assert store.get("user:a") is None
    assert store.get_many(["user:a", "user:b"]) == {}


def test_get_many_returns_only_present_keys(store_and_clock: tuple[OnlineStore, Clock]) -> None:
    store, _ = store_and_clock
    store.put_many([(f"user:{i}", {"i": i}) for i in range(700)], ttl_s=60)
    keys = [f"user:{i}" for i in range(0, 700, 3)] + ["user:nope"]
    got = store.get_many(keys)
    assert len(got) == len(range(0, 700, 3))
    assert got["user:699"] == {"i": 699}
    assert "user:nope" not in got


def test_delete_removes_keys(store_and_clock: tuple[OnlineStore, Clock]) -> None:
    store, _ = store_and_clock
    store.put_many([("user:a", {"v": 1}), ("user:b", {"v": 2})], ttl_s=60)
    assert store.delete(["user:a", "user:zz"]) == 1
    assert store.get("user:a") is None
    assert store.get("user:b") == {"v": 2}


def test_sqlite_store_persists_across_reopen(tmp_path: Path) -> None:
    store = open_online_store(f"sqlite:///{tmp_path / 'o.sqlite'}")
    store.put_many([("user:a", {"v": 1})], ttl_s=60)
    store.close()
    again = open_online_store(f"sqlite:///{tmp_path / 'o.sqlite'}")
    assert again.get("user:a") == {"v": 1}
    again.close()


def test_unknown_url_is_a_config_error_naming_the_field() -> None:
    with pytest.raises(ConfigError) as err:
        open_online_store("cassandra://x")
    assert err.value.field == "online_url"
