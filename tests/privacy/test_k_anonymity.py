"""k-anonymity on the groups actually returned: realtime places/cells and trending."""

from __future__ import annotations

from pathlib import Path

import h3

from hexlake.stream.consumer import Consumer, ConsumerOptions
from hexlake.stream.counters import CounterOperator, SqliteCounterStore
from hexlake.stream.realtime import metrics_snapshot, trending_places
from hexlake.stream.sinks import counters_sink
from hexlake.stream.state import StreamState
from tests.stream.fakes import T0, FakeLog, append_events, make_event

SF = (37.7749, -122.4194)


def store_with(tmp_path: Path, people: dict[str, int]) -> SqliteCounterStore:
    """``people[place]`` distinct users, each once, spread over 10 minutes (one per minute)."""
    events = [make_event(f"{place}-{i}", T0 + 60 * (i % 10), user=f"{place}-u{i}", event_type="place_interaction",
                         place=place, lat=SF[0], lng=SF[1]) for place, n in people.items() for i in range(n)]
    events.sort(key=lambda e: e.ts)  # in time order: nothing is late
    store = SqliteCounterStore(tmp_path / "stream.sqlite")
    consumer = Consumer(FakeLog(), StreamState(tmp_path / "state.sqlite"), CounterOperator(3600),
                        {"counters": counters_sink(store)}, ConsumerOptions(batch_size=50))
    append_events(consumer.log, events)
    while consumer.step():
        pass
    return store


def test_live_places_and_cells_need_k_distinct_people_in_the_window(tmp_path: Path) -> None:
    store = store_with(tmp_path, {"crowded": 6, "lonely": 2})
    snap = metrics_snapshot(store, now=T0 + 600, live_minutes=15, k=5)
    assert snap["places"] == [{"place_id": "crowded", "count": 6}]
    assert snap["h3_r6"] == [{"h3_r6": h3.latlng_to_cell(*SF, 6), "count": 8}]
    # over the last 3 minutes only 2 people were at "crowded": the returned window decides
    assert metrics_snapshot(store, now=T0 + 600, live_minutes=3, k=5)["places"] == []


def test_trending_suppresses_places_below_k_over_the_trending_window(tmp_path: Path) -> None:
    store = store_with(tmp_path, {"crowded": 6, "lonely": 2})
    places = trending_places(store, T0 + 600, window_minutes=60, k=5)["places"]
    assert [p["place_id"] for p in places] == ["crowded"]
    assert [p["place_id"] for p in trending_places(store, T0 + 600, window_minutes=60, k=1)["places"]] == [
        "crowded", "lonely"]


def test_one_person_many_times_is_still_one_person(tmp_path: Path) -> None:
    events = [make_event(f"e{i}", T0 + i, user="same", event_type="place_interaction", place="p",
                         lat=SF[0], lng=SF[1]) for i in range(50)]
    store = SqliteCounterStore(tmp_path / "s.sqlite")
    consumer = Consumer(FakeLog(), StreamState(tmp_path / "st.sqlite"), CounterOperator(3600),
                        {"counters": counters_sink(store)}, ConsumerOptions(batch_size=50))
    append_events(consumer.log, events)
    while consumer.step():
        pass
    assert metrics_snapshot(store, now=T0 + 60, k=2)["places"] == []
    assert trending_places(store, T0 + 60, k=2)["places"] == []
