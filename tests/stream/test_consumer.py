"""Consumer framework behaviours: backpressure on a failing sink, poison messages, graceful stop."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from hexlake.log.protocol import AppendItem
from hexlake.stream.consumer import Consumer, ConsumerOptions
from hexlake.stream.counters import CounterOperator, MemoryCounterStore
from hexlake.stream.sinks import counters_sink
from hexlake.stream.state import StreamState
from tests.stream.fakes import T0, FakeLog, append_events, make_event


class FlakySink:
    def __init__(self, store: MemoryCounterStore) -> None:
        self.down = True
        self.inner = counters_sink(store)
        self.calls = 0

    def __call__(self, outbox_id: int, payload: Any) -> None:
        self.calls += 1
        if self.down:
            raise ConnectionError("store unreachable")
        self.inner(outbox_id, payload)


def test_failing_sink_stops_reading_and_recovers_without_loss(tmp_path: Path) -> None:
    log = FakeLog()
    append_events(log, [make_event(f"e{i}", T0 + i, user=f"u{i}") for i in range(10)])
    store = MemoryCounterStore()
    sink = FlakySink(store)
    consumer = Consumer(log, StreamState(tmp_path / "s.sqlite"), CounterOperator(3600), {"counters": sink},
                        ConsumerOptions(batch_size=2, max_outbox=1, sink_retry_max_s=0.0))
    steps = [consumer.step() for _ in range(6)]
    assert steps[:2] == [2, 2] and steps[2:] == [0, 0, 0, 0]  # backpressure: outbox over its limit
    assert consumer.state.outbox_size("stream-counters") == 2
    assert log.status()[0].lag == 6  # the backlog stays in the log
    sink.down = False
    while consumer.step():
        pass
    assert store.scan("epm|", now=0)[f"epm|{int(T0)}|page|app"] == 10
    assert consumer.state.outbox_size("stream-counters") == 0


def test_undecodable_message_is_dead_lettered_alone_at_once(tmp_path: Path) -> None:
    log = FakeLog()
    append_events(log, [make_event("ok1", T0)])
    log.append([AppendItem("k", "bad", b"not json")])
    append_events(log, [make_event("ok2", T0 + 1)])
    store = MemoryCounterStore()
    consumer = Consumer(log, StreamState(tmp_path / "s.sqlite"), CounterOperator(3600),
                        {"counters": counters_sink(store)}, ConsumerOptions(batch_size=10))
    assert consumer.step() == 3
    assert log.groups["stream-counters"]["dead"] == {2}
    assert log.groups["stream-counters"]["nacked"] == set()
    assert log.groups["stream-counters"]["acked"] == {1, 2, 3}  # 2 as a dead letter
    assert store.scan("epm|", now=0) == {f"epm|{int(T0)}|page|app": 2}


def test_stop_finishes_the_batch_and_returns(tmp_path: Path) -> None:
    log = FakeLog()
    append_events(log, [make_event(f"e{i}", T0 + i) for i in range(5)])
    store = MemoryCounterStore()
    consumer = Consumer(log, StreamState(tmp_path / "s.sqlite"), CounterOperator(3600),
                        {"counters": counters_sink(store)}, ConsumerOptions(batch_size=100, idle_sleep_s=0.01))
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,))
    thread.start()
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert consumer.state.meta("stream-counters").events in (0, 5)  # never half a batch


def test_public_names_are_exported() -> None:
    import hexlake.features
    import hexlake.stream

    assert sorted(hexlake.stream.__all__) == sorted(n for n in hexlake.stream.__all__
                                                    if hasattr(hexlake.stream, n))
    assert {"OnlineStore", "SqliteOnlineStore", "open_online_store"} <= set(hexlake.features.__all__)
