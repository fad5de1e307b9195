"""A broken clock cannot stop the stream: watermarks move only with in-bound events."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from hexlake.gate.envelope import Event
from hexlake.stream.consumer import Consumer, ConsumerOptions
from hexlake.stream.counters import CounterOperator, MemoryCounterStore
from hexlake.stream.sinks import counters_sink
from hexlake.stream.state import GroupMeta, StreamState
from hexlake.stream.user_windows import UserWindowOperator
from tests.stream.fakes import T0, FakeLog, append_events, make_event

YEAR_9999 = datetime(9999, 12, 31, tzinfo=UTC)


def poisoned(event_id: str, received: float) -> Event:
    """An event stamped 9999-12-31 that arrived at ``received`` (e.g. from before the gate's bounds)."""
    ev = make_event(event_id, received, user="evil")
    ev.ts = YEAR_9999
    return ev


def counters(tmp_path: Path, log: FakeLog, store: MemoryCounterStore) -> Consumer:
    return Consumer(log, StreamState(tmp_path / "s.sqlite"), CounterOperator(3600),
                    {"counters": counters_sink(store)}, ConsumerOptions(batch_size=3))


def test_an_event_in_year_9999_does_not_stop_counters_for_everyone_else(tmp_path: Path) -> None:
    log = FakeLog()
    append_events(log, [make_event("a", T0, user="u1"), poisoned("bad", T0 + 1)]
                  + [make_event(f"e{i}", T0 + 2 + i, user=f"u{i}") for i in range(10)])
    store = MemoryCounterStore()
    consumer = counters(tmp_path, log, store)
    while consumer.step():
        pass
    assert store.scan("epm|", now=0) == {f"epm|{int(T0)}|page|app": 11}
    assert consumer.wm.max_ts == T0 + 11
    meta = consumer.state.meta("stream-counters")
    assert (meta.events, meta.late) == (11, 1)  # the poisoned one is kept in the late output


def test_user_windows_keep_closing_after_a_year_9999_event(tmp_path: Path) -> None:
    log = FakeLog()
    append_events(log, [make_event("a", T0, user="u1"), poisoned("bad", T0 + 5),
                        make_event("b", T0 + 700, user="u1"), make_event("c", T0 + 1400, user="u2")])
    state = StreamState(tmp_path / "s.sqlite")
    consumer = Consumer(log, state, UserWindowOperator(600), {}, ConsumerOptions(batch_size=10,
                                                                                  allowed_lateness_s=60))
    while consumer.step():
        pass
    assert consumer.wm.closed_before == T0 + 1400 - 60
    assert state.meta("stream-features").late == 1


def test_a_poisoned_watermark_heals_on_restart(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    StreamState(path).commit_batch("stream-counters", processed=[], late=[], state={}, outbox=[],
                                   meta=GroupMeta(YEAR_9999.timestamp(), 5, 0, 0, 1))
    now = time.time()
    log = FakeLog()
    append_events(log, [make_event(f"n{i}", now + i, user=f"u{i}") for i in range(3)])
    store = MemoryCounterStore()
    consumer = Consumer(log, StreamState(path), CounterOperator(3600), {"counters": counters_sink(store)},
                        ConsumerOptions(batch_size=10, allowed_lateness_s=2 * 86_400))
    assert consumer.wm.max_ts <= time.time() + 86_400
    while consumer.step():
        pass
    assert sum(store.scan("epm|", now=0).values()) == 3  # not late: the stream works again


def test_historical_source_events_do_not_touch_live_counters(tmp_path: Path) -> None:
    log = FakeLog()
    append_events(log, [make_event("t1", T0 - 86_400 * 800, source="takeout"),
                        make_event("live", T0, user="u1")])
    store = MemoryCounterStore()
    consumer = counters(tmp_path, log, store)
    while consumer.step():
        pass
    assert store.scan("epm|", now=0) == {f"epm|{int(T0)}|page|app": 1}
    assert consumer.wm.max_ts == T0
