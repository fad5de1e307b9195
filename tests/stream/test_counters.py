"""Realtime counters: values, TTL on reads (injected clock), idempotent batches, trending."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import h3
import pytest

from hexlake.stream.consumer import Consumer, ConsumerOptions
from hexlake.stream.counters import CounterOperator, CounterStore, MemoryCounterStore, SqliteCounterStore
from hexlake.stream.realtime import metrics_snapshot, trending_places
from hexlake.stream.sinks import counters_sink
from hexlake.stream.state import StreamState
from tests.stream.fakes import T0, FakeLog, append_events, make_event

SF = (37.7749, -122.4194)
PARIS = (48.8566, 2.3522)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CounterStore]:
    s: CounterStore = MemoryCounterStore() if request.param == "memory" else SqliteCounterStore(
        tmp_path / "stream.sqlite")
    yield s
    s.close()


def feed(store: CounterStore, events: list, tmp_path: Path, ttl_s: float = 3600) -> None:
    log = FakeLog()
    append_events(log, events)
    consumer = Consumer(log, StreamState(tmp_path / "state.sqlite"), CounterOperator(ttl_s),
                        {"counters": counters_sink(store)}, ConsumerOptions(batch_size=3))
    while consumer.step():
        pass


def test_events_per_minute_active_users_and_live_counts(store: CounterStore, tmp_path: Path) -> None:
    evs = [
        make_event("e", T0 - 1200, user="u4", event_type="page"),  # 20 minutes before the others
        make_event("a", T0 + 5, user="u1", event_type="page"),
        make_event("b", T0 + 50, user="u2", event_type="page", source="web"),
        make_event("c", T0 + 61, user="u1", event_type="place_interaction", place="p1", lat=SF[0], lng=SF[1]),
        make_event("d", T0 + 62, user="u3", event_type="place_interaction", place="p1", lat=SF[0], lng=SF[1]),
    ]
    feed(store, evs, tmp_path)
    snap = metrics_snapshot(store, now=T0 + 120)
    per_minute = {(r["minute"], r["event_type"], r["source"]): r["count"] for r in snap["events_per_minute"]}
    assert per_minute == {
        ("2026-01-01T00:00:00Z", "page", "app"): 1,
        ("2026-01-01T00:00:00Z", "page", "web"): 1,
        ("2026-01-01T00:01:00Z", "place_interaction", "app"): 2,
        ("2025-12-31T23:40:00Z", "page", "app"): 1,
    }
    assert snap["active_users"] == {"5m": 3, "15m": 3, "60m": 4}
    assert snap["places"] == [{"place_id": "p1", "count": 2}]
    assert snap["h3_r6"] == [{"h3_r6": h3.latlng_to_cell(*SF, 6), "count": 2}]


def test_reads_never_return_expired_values(store: CounterStore) -> None:
    store.apply(1, [("incr", "epm|0|page|app", 3, 100.0), ("max", "seen|u1", 50.0, 110.0)])
    assert store.scan("epm|", now=99.9) == {"epm|0|page|app": 3}
    assert store.scan("epm|", now=100.0) == {}
    assert store.count_at_least("seen|", 0, now=109.0) == 1
    assert store.count_at_least("seen|", 0, now=110.0) == 0
    assert store.purge_expired(now=200.0) == 2


def test_a_batch_applied_twice_counts_once(store: CounterStore) -> None:
    ops = [("incr", "cell|0|x", 2.0, 1e12)]
    store.apply(7, ops)
    store.apply(7, ops)
    store.apply(8, ops)
    assert store.scan("cell|", now=0) == {"cell|0|x": 4.0}


def test_counter_ttl_follows_event_time(store: CounterStore, tmp_path: Path) -> None:
    feed(store, [make_event("a", T0 + 10, user="u1")], tmp_path, ttl_s=600)
    assert metrics_snapshot(store, now=T0 + 659)["events_per_minute"][0]["count"] == 1
    assert metrics_snapshot(store, now=T0 + 660)["events_per_minute"] == []  # minute end + 600 s
    assert metrics_snapshot(store, now=T0 + 3599)["active_users"]["60m"] == 1
    assert metrics_snapshot(store, now=T0 + 3611)["active_users"]["60m"] == 0


def test_trending_decays_old_activity_and_filters_by_cell_and_city(store: CounterStore, tmp_path: Path) -> None:
    evs = [make_event(f"old{i}", T0 + i, place="old_hot", lat=SF[0], lng=SF[1],
                      event_type="place_interaction") for i in range(6)]
    evs += [make_event(f"new{i}", T0 + 2700 + i, place="new_warm", lat=SF[0], lng=SF[1],
                       event_type="place_interaction") for i in range(3)]
    evs += [make_event(f"par{i}", T0 + 2700 + i, place="louvre", lat=PARIS[0], lng=PARIS[1],
                       event_type="place_interaction") for i in range(2)]
    feed(store, evs, tmp_path)
    now = T0 + 2760
    top = trending_places(store, now, half_life_minutes=15)["places"]
    assert [p["place_id"] for p in top] == ["new_warm", "louvre", "old_hot"]  # 6 x 0.5^3 < 2
    assert top[2]["count"] == 6
    sf_cell = h3.latlng_to_cell(*SF, 6)
    assert [p["place_id"] for p in trending_places(store, now, h3_r6=sf_cell)["places"]] == ["new_warm", "old_hot"]
    paris = trending_places(store, now, city="paris")["places"]
    assert [(p["place_id"], p["city"]) for p in paris] == [("louvre", "Paris")]
    assert trending_places(store, now, window_minutes=30)["places"][-1]["place_id"] == "louvre"


def test_trending_top_n_per_cell_and_per_city(store: CounterStore, tmp_path: Path) -> None:
    evs = [make_event(f"a{i}", T0 + i, place="a", lat=SF[0], lng=SF[1], event_type="place_interaction")
           for i in range(3)]
    evs += [make_event(f"b{i}", T0 + i, place="b", lat=SF[0], lng=SF[1], event_type="place_interaction")
            for i in range(2)]
    evs += [make_event(f"c{i}", T0 + i, place="c", lat=PARIS[0], lng=PARIS[1], event_type="place_interaction")
            for i in range(1)]
    feed(store, evs, tmp_path)
    by_cell = trending_places(store, T0 + 60, per="h3_r6", limit=1)["groups"]
    assert {cell: [p["place_id"] for p in top] for cell, top in by_cell.items()} == {
        h3.latlng_to_cell(*SF, 6): ["a"], h3.latlng_to_cell(*PARIS, 6): ["c"]}
    by_city = trending_places(store, T0 + 60, per="city")["groups"]
    assert [p["place_id"] for p in by_city["Paris"]] == ["c"]
    assert len(by_city) == 2 and all(len(v) >= 1 for v in by_city.values())
