"""``settle_failed_batch``: the one rule every consumer applies to a batch whose processing raised."""

from __future__ import annotations

import pytest

from hexlake.errors import LogError, SchemaError
from hexlake.log import AppendItem, EventLog, LogMessage, open_log
from hexlake.log.failures import settle_failed_batch

from .conftest import TEST_CONFIG, FakeClock

GROUP = "g"


@pytest.fixture
def leased() -> tuple[EventLog, list[LogMessage], FakeClock]:
    clock = FakeClock()
    log = open_log("memory://", TEST_CONFIG, clock=clock)
    log.append([AppendItem(key=f"k{i}", event_id=f"e{i}", payload=b"{}") for i in range(4)])
    return log, log.read(GROUP, "c", 10), clock


def outcome(log: EventLog, clock: FakeClock) -> tuple[list[str], list[str]]:
    """(dead-lettered ids, ids redelivered once their backoff passed)."""
    clock.advance(TEST_CONFIG.backoff_max_s + 1)
    return [d.event_id for d in log.dead_letters(GROUP)], [m.event_id for m in log.read(GROUP, "c", 10)]


def test_transient_nacks_the_whole_batch_and_reraises(leased: tuple[EventLog, list[LogMessage], FakeClock]) -> None:
    log, msgs, clock = leased
    with pytest.raises(LogError):
        settle_failed_batch(log, GROUP, msgs, LogError("down"), lambda m: pytest.fail("no isolation"))
    assert outcome(log, clock) == ([], ["e0", "e1", "e2", "e3"])


def test_terminal_isolates_and_dead_letters_only_the_culprits(
        leased: tuple[EventLog, list[LogMessage], FakeClock]) -> None:
    log, msgs, clock = leased

    def one(m: LogMessage) -> None:
        if m.event_id in ("e1", "e3"):
            raise SchemaError(f"{m.event_id} is bad")
        log.ack(GROUP, [m.offset])

    assert settle_failed_batch(log, GROUP, msgs, SchemaError("batch failed"), one) == 2
    assert outcome(log, clock) == (["e1", "e3"], [])
    assert {d.error for d in log.dead_letters(GROUP)} == {"SchemaError: e1 is bad", "SchemaError: e3 is bad"}


def test_a_transient_error_during_isolation_stops_it_and_retries_the_rest(
        leased: tuple[EventLog, list[LogMessage], FakeClock]) -> None:
    log, msgs, clock = leased
    done: list[str] = []

    def one(m: LogMessage) -> None:
        if m.event_id == "e1":
            raise SchemaError("bad")
        if m.event_id == "e2":
            raise LogError("store went away")
        done.append(m.event_id)
        log.ack(GROUP, [m.offset])

    with pytest.raises(LogError):
        settle_failed_batch(log, GROUP, msgs, ValueError("bug"), one)
    assert done == ["e0"]  # e3 is never processed ahead of e2
    assert outcome(log, clock) == (["e1"], ["e2", "e3"])


def test_a_single_message_is_dead_lettered_without_rerunning(
        leased: tuple[EventLog, list[LogMessage], FakeClock]) -> None:
    log, msgs, clock = leased
    log.ack(GROUP, [m.offset for m in msgs[1:]])
    assert settle_failed_batch(log, GROUP, msgs[:1], KeyError("x"), lambda m: pytest.fail("no rerun")) == 1
    assert outcome(log, clock) == (["e0"], [])
