"""Transient vs Terminal in the stream consumer, against the real in-memory EventLog.

A terminal error dead-letters the message that caused it on its first delivery, and only that one;
a transient error is retried with the log's backoff and never dead-lettered before ``max_attempts``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from hexlake.errors import LogError, SchemaError
from hexlake.gate.envelope import Event
from hexlake.log import LogConfig, open_log
from hexlake.log.protocol import EventLog
from hexlake.stream.consumer import BatchOutput, Consumer, ConsumerOptions, ConsumerService
from hexlake.stream.state import StreamState
from hexlake.stream.timeutil import Watermark
from tests.log.conftest import FakeClock
from tests.stream.fakes import T0, append_events, make_event

CONFIG = LogConfig(visibility_timeout_s=30.0, max_attempts=4, backoff_base_s=1.0, backoff_max_s=8.0)
GROUP = "stream-picky"


class Picky:
    """Fails a batch that holds a listed event (``budget`` times, then it passes); records the rest."""

    group = GROUP

    def __init__(self, fail: dict[str, Exception], budget: int = 1_000) -> None:
        self.fail, self.budget = fail, budget
        self.seen: set[str] = set()

    def load(self, state: dict[str, bytes]) -> None:
        self.seen = set(state)

    def process(self, events: Sequence[Event], out: BatchOutput, watermark: Watermark) -> None:
        for ev in events:
            if ev.event_id in self.fail and self.budget > 0:
                self.budget -= 1
                raise self.fail[ev.event_id]
        for ev in events:
            out.put(ev.event_id, b"1")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0 + 3600)


@pytest.fixture
def elog(clock: FakeClock) -> EventLog:
    return open_log("memory://", CONFIG, clock=clock)


def consumer(elog: EventLog, tmp_path: Path, op: Picky, batch_size: int = 10) -> Consumer:
    return Consumer(elog, StreamState(tmp_path / "s.sqlite"), op, {},
                    ConsumerOptions(batch_size=batch_size, allowed_lateness_s=1e9))


def append(elog: EventLog, *ids: str) -> None:
    append_events(elog, [make_event(i, T0 + n, user=f"u{n}") for n, i in enumerate(ids)])


def committed(c: Consumer) -> set[str]:
    return set(c.state.load_state(GROUP))


@pytest.mark.parametrize("batch_size", [1, 10])
def test_terminal_error_dead_letters_the_culprit_on_the_first_try(
        elog: EventLog, tmp_path: Path, batch_size: int) -> None:
    append(elog, "e1", "bad", "e3")
    c = consumer(elog, tmp_path, Picky({"bad": SchemaError("event bad breaks a rule")}), batch_size)
    while c.step():
        pass
    (dead,) = elog.dead_letters(GROUP)
    assert (dead.event_id, dead.attempts) == ("bad", 1)
    assert dead.error == "SchemaError: event bad breaks a rule"
    assert committed(c) == {"e1", "e3"}  # its batchmates were processed, exactly once
    assert [(s.lag, s.in_flight) for s in elog.status() if s.group == GROUP] == [(0, 0)]


def test_a_bug_in_the_operator_counts_as_terminal(elog: EventLog, tmp_path: Path) -> None:
    append(elog, "e1", "boom")
    c = consumer(elog, tmp_path, Picky({"boom": KeyError("user_key")}))
    c.step()
    assert [d.event_id for d in elog.dead_letters(GROUP)] == ["boom"]
    assert committed(c) == {"e1"}


def test_transient_error_is_retried_and_not_dead_lettered_before_max_attempts(
        elog: EventLog, tmp_path: Path, clock: FakeClock) -> None:
    append(elog, "e1", "flaky", "e3")
    op = Picky({"flaky": LogError("warehouse restarting")}, budget=CONFIG.max_attempts - 1)
    c = consumer(elog, tmp_path, op)
    for attempt in range(1, CONFIG.max_attempts):
        with pytest.raises(LogError):
            c.step()
        assert elog.dead_letters(GROUP) == [], f"dead-lettered after {attempt} transient failures"
        assert committed(c) == set()  # nothing half-applied
        assert c.step() == 0  # the log holds the batch back for its backoff
        clock.advance(CONFIG.backoff_max_s + 1)
    assert c.step() == 3  # the last allowed attempt succeeds
    assert committed(c) == {"e1", "flaky", "e3"} and elog.dead_letters(GROUP) == []


def test_transient_error_that_never_clears_dead_letters_only_at_max_attempts(
        elog: EventLog, tmp_path: Path, clock: FakeClock) -> None:
    append(elog, "stuck")
    c = consumer(elog, tmp_path, Picky({"stuck": LogError("down")}))
    for _ in range(CONFIG.max_attempts - 1):
        with pytest.raises(LogError):
            c.step()
        clock.advance(CONFIG.backoff_max_s + 1)
        assert elog.dead_letters(GROUP) == []
    with pytest.raises(LogError):
        c.step()
    (dead,) = elog.dead_letters(GROUP)
    assert dead.attempts == CONFIG.max_attempts


def test_consumer_service_backs_off_on_a_transient_error_and_recovers(
        elog: EventLog, tmp_path: Path, clock: FakeClock) -> None:
    append(elog, "e1", "flaky")
    c = consumer(elog, tmp_path, Picky({"flaky": LogError("down")}, budget=1))
    svc = ConsumerService(c)
    svc.backoff_base_s = 0.01
    assert svc._call(svc.step) is None  # one unit of work fails...
    assert not svc.healthy and svc.status().last_error == "LogError: down"
    clock.advance(CONFIG.backoff_max_s + 1)
    assert svc._call(svc.step) is True  # ...the next one succeeds
    assert svc.healthy and committed(c) == {"e1", "flaky"}


def test_a_failing_sink_makes_the_consumer_service_unhealthy_until_it_delivers(
        elog: EventLog, tmp_path: Path) -> None:
    class Emitting(Picky):
        def process(self, events: Sequence[Event], out: BatchOutput, watermark: Watermark) -> None:
            super().process(events, out, watermark)
            out.emit("hook", [e.event_id for e in events])

    delivered: list[object] = []
    down = [True]

    def hook(outbox_id: int, payload: object) -> None:
        if down[0]:
            raise ConnectionError("webhook target refused")
        delivered.append(payload)

    append(elog, "e1", "e2")
    c = Consumer(elog, StreamState(tmp_path / "s.sqlite"), Emitting({}), {"hook": hook},
                 ConsumerOptions(batch_size=1, max_outbox=1, sink_retry_max_s=0.0, allowed_lateness_s=1e9))
    svc = ConsumerService(c)
    while svc._call(svc.step):  # processes until the outbox is over its limit
        pass
    status = svc.status()
    assert not status.healthy and status.last_error is not None
    assert "SinkUnavailable" in status.last_error and "webhook target refused" in status.last_error
    assert elog.dead_letters(GROUP) == []  # a sink failure never dead-letters the events
    down[0] = False
    while svc._call(svc.step):
        pass
    assert svc.healthy and delivered == [["e1"], ["e2"]]
