"""The EventLog contract (``hexlake.log.protocol``), run against every backend by test_contract.py.

Uses the ``log``/``clock``/``log_harness`` fixtures of conftest.py: visibility timeouts and backoff
run on a fake clock the tests move, or in real time (scaled down) on a backend whose timers run on
its server. A test wraps the call that starts a lease or backoff in ``clock.timer(period)`` and reads
through the timer: ``nothing_before`` (a hair before it runs out on the fake clock; in real time,
every read while it runs, each judged by when it ended), ``after`` (a hair after; in real time,
from 1.25 periods on, for up to 0.5 s more).
Config: visibility 10 s, max_attempts 3, backoff 1 s doubling to 8 s.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from hexlake.log import (
    AppendItem,
    EventLog,
    LogMessage,
    LogReader,
    PartitionDropper,
    Trimmable,
    as_partition_dropper,
    as_trimmable,
)

from .conftest import TEST_CONFIG, ContractClock, LogHarness


def items(n: int, *, keys: int | None = None, prefix: str = "e") -> list[AppendItem]:
    """``n`` messages; key ``u<i % keys>`` (each its own key when ``keys`` is None)."""
    return [AppendItem(key=f"u{i % keys}" if keys else f"{prefix}{i}", event_id=f"{prefix}{i}",
                       payload=f'{{"n":{i}}}'.encode()) for i in range(n)]


def offsets(messages: list[LogMessage]) -> list[int]:
    return [m.offset for m in messages]


def backoff(attempt: int) -> float:
    """The delay after the nack of delivery ``attempt``: 1 s doubling, capped at 8 s."""
    return min(TEST_CONFIG.backoff_base_s * 2 ** (attempt - 1), TEST_CONFIG.backoff_max_s)


def status_of(log: EventLog, group: str) -> dict[str, object]:
    (found,) = [s for s in log.status() if s.group == group]
    return {"lag": found.lag, "in_flight": found.in_flight, "dead_letters": found.dead_letters,
            "last_acked_offset": found.last_acked_offset}


# -- append ------------------------------------------------------------------------------------

def test_append_returns_one_increasing_offset_per_message_in_order(log: EventLog) -> None:
    first = log.append(items(3))
    second = log.append(items(2, prefix="f"))
    assert len(first) == 3 and len(second) == 2
    assert first + second == sorted(first + second)
    assert len(set(first + second)) == 5
    assert log.head_offset() == second[-1]


def test_append_of_nothing_returns_no_offsets_and_stores_nothing(log: EventLog) -> None:
    assert log.append([]) == []
    assert log.head_offset() == 0


def test_read_returns_payload_key_and_event_id_as_appended(log: EventLog) -> None:
    sent = AppendItem(key="user-1", event_id="evt-1", payload=b'{"x": "\xc3\xa9"}')
    (off,) = log.append([sent])
    (got,) = log.read("g", "c", 10)
    assert (got.offset, got.key, got.event_id, got.payload, got.attempts) == (
        off, "user-1", "evt-1", sent.payload, 1)


def test_appended_messages_and_group_progress_survive_reopen(log_harness: LogHarness) -> None:
    if not log_harness.durable:
        pytest.skip(f"{log_harness.name} keeps nothing across processes")
    log = log_harness.open()
    sent = log.append(items(5))
    log.create_group("g")
    log.ack("g", offsets(log.read("g", "c", 2)))
    log.close()
    reopened = log_harness.open()
    assert reopened.head_offset() == sent[-1]
    assert reopened.tail(5) == [f"e{i}" for i in range(5)]
    assert offsets(reopened.read("g", "c", 10)) == sent[2:]


def test_tail_returns_newest_event_ids_oldest_first(log: EventLog) -> None:
    log.append(items(10))
    assert log.tail(3) == ["e7", "e8", "e9"]
    assert log.tail(50) == [f"e{i}" for i in range(10)]
    assert log.tail(0) == []


# -- groups ------------------------------------------------------------------------------------

def test_every_group_sees_every_message(log: EventLog) -> None:
    sent = log.append(items(6))
    for group in ("loader", "stream"):
        log.create_group(group)
    assert offsets(log.read("loader", "c", 100)) == sent
    assert offsets(log.read("stream", "c", 100)) == sent


def test_group_created_from_the_end_sees_only_newer_messages(log: EventLog) -> None:
    log.append(items(4))
    log.create_group("late", from_start=False)
    newer = log.append(items(2, prefix="f"))
    assert offsets(log.read("late", "c", 100)) == newer


def test_create_group_is_idempotent(log: EventLog) -> None:
    sent = log.append(items(3))
    log.create_group("g")
    log.ack("g", offsets(log.read("g", "c", 1)))
    log.create_group("g")
    assert offsets(log.read("g", "c", 10)) == sent[1:]


def test_reading_an_unknown_group_creates_it_from_the_start(log: EventLog) -> None:
    sent = log.append(items(2))
    assert offsets(log.read("new", "c", 10)) == sent


def test_read_respects_max_and_returns_oldest_first(log: EventLog) -> None:
    sent = log.append(items(10))
    assert offsets(log.read("g", "c", 4)) == sent[:4]
    assert offsets(log.read("g", "c", 4)) == sent[4:8]
    assert log.read("g", "c", 0) == []


# -- leases and redelivery -----------------------------------------------------------------------

def test_two_consumers_of_one_group_never_get_the_same_message(log: EventLog) -> None:
    sent = log.append(items(10))
    a = log.read("g", "a", 6)
    b = log.read("g", "b", 6)
    assert set(offsets(a)).isdisjoint(offsets(b))
    assert sorted(offsets(a) + offsets(b)) == sent


def test_concurrent_consumers_receive_each_message_exactly_once(log: EventLog) -> None:
    sent = log.append(items(400))
    seen: list[int] = []
    lock = threading.Lock()

    def consume(name: str) -> None:
        while batch := log.read("g", name, 7):
            with lock:
                seen.extend(offsets(batch))
            log.ack("g", offsets(batch))

    threads = [threading.Thread(target=consume, args=(f"c{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == sent


def test_leased_message_is_not_redelivered_before_its_visibility_timeout(
        log: EventLog, clock: ContractClock) -> None:
    log.append(items(1))
    with clock.timer(TEST_CONFIG.visibility_timeout_s) as lease:
        log.read("g", "a", 10)
    lease.nothing_before(lambda: log.read("g", "b", 10))


def test_unacked_message_is_redelivered_after_visibility_timeout(log: EventLog, clock: ContractClock) -> None:
    (off,) = log.append(items(1))
    with clock.timer(TEST_CONFIG.visibility_timeout_s) as lease:
        log.read("g", "a", 10)
    (again,) = lease.after(lambda: log.read("g", "b", 10))
    assert (again.offset, again.attempts) == (off, 2)


def test_read_visibility_timeout_overrides_the_configured_one(log: EventLog, clock: ContractClock) -> None:
    log.create_group("g")  # an existing group: its first read is not the only one to choose
    (off,) = log.append(items(1))
    with clock.timer(2.0) as lease:
        log.read("g", "a", 10, visibility_timeout_s=2.0 * clock.scale)
    assert offsets(lease.after(lambda: log.read("g", "b", 10))) == [off]


def test_acked_message_is_never_redelivered(log: EventLog, clock: ContractClock) -> None:
    log.append(items(3))
    log.ack("g", offsets(log.read("g", "a", 10)))
    clock.advance(1000)
    assert log.read("g", "a", 10) == []


def test_acking_part_of_a_batch_redelivers_only_the_rest(log: EventLog, clock: ContractClock) -> None:
    sent = log.append(items(10))
    with clock.timer(TEST_CONFIG.visibility_timeout_s) as lease:
        batch = log.read("g", "a", 10)
    log.ack("g", [sent[0], sent[3], sent[4], sent[9]])
    again = lease.after(lambda: log.read("g", "a", 100))
    assert offsets(again) == [o for o in offsets(batch) if o not in (sent[0], sent[3], sent[4], sent[9])]
    assert {m.attempts for m in again} == {2}


def test_expired_lease_at_max_attempts_goes_to_dead_letters(log: EventLog, clock: ContractClock) -> None:
    (off,) = log.append(items(1))
    lease = None
    for _ in range(TEST_CONFIG.max_attempts):
        with clock.timer(TEST_CONFIG.visibility_timeout_s) as next_lease:  # leased by the read that gets it
            got = lease.after(lambda: log.read("g", "a", 10)) if lease else log.read("g", "a", 10)
        assert offsets(got) == [off]
        lease = next_lease
    assert lease is not None and lease.after(lambda: log.read("g", "a", 10)) == []
    (dead,) = log.dead_letters("g")
    assert (dead.offset, dead.attempts) == (off, TEST_CONFIG.max_attempts)
    assert "visibility timeout" in dead.error


# -- nack, backoff, dead letters -----------------------------------------------------------------

def test_nacked_message_returns_after_exponential_backoff(log_harness: LogHarness) -> None:
    # backoffs long enough to look inside in real time too (0.5 s and 1 s scaled): there a read
    # that a loaded machine makes end after the backoff ran out cannot tell, and is not counted
    log, clock = log_harness.open(TEST_CONFIG.model_copy(update={"backoff_base_s": 2.5})), log_harness.clock
    (off,) = log.append(items(1))
    got = log.read("g", "a", 10)
    for attempt, delay in ((1, 2.5), (2, 5.0)):
        (m,) = got
        assert m.attempts == attempt
        with clock.timer(delay) as backoff_of:
            log.nack("g", [off], "boom")
        got = backoff_of.only_after(lambda: log.read("g", "a", 10))
    assert [(m.offset, m.attempts) for m in got] == [(off, 3)]


def test_backoff_is_capped_at_backoff_max(log_harness: LogHarness) -> None:
    log = log_harness.open(TEST_CONFIG.model_copy(update={"max_attempts": 10}))
    (off,) = log.append(items(1))
    got = log.read("g", "a", 10)
    for attempt in range(1, 6):  # the 5th nack would wait 16 s uncapped; the cap is 8 s
        assert offsets(got) == [off]
        with log_harness.clock.timer(backoff(attempt)) as backoff_of:
            log.nack("g", [off], "boom")
        got = backoff_of.after(lambda: log.read("g", "a", 10))
    assert [(m.offset, m.attempts) for m in got] == [(off, 6)]


def test_message_is_dead_lettered_with_its_error_after_max_attempts(log: EventLog, clock: ContractClock) -> None:
    ok, poison = log.append([AppendItem(key="a", event_id="good", payload=b"1"),
                             AppendItem(key="b", event_id="bad", payload=b"2")])
    assert offsets(log.read("g", "c", 10)) == [ok, poison]
    log.ack("g", [ok])
    with clock.timer(backoff(1)) as backoff_of:
        log.nack("g", [poison], "failed #1")
    for attempt in range(2, TEST_CONFIG.max_attempts + 1):
        (m,) = backoff_of.after(lambda: log.read("g", "c", 10))
        assert (m.offset, m.attempts) == (poison, attempt)
        with clock.timer(backoff(attempt)) as backoff_of:
            log.nack("g", [poison], f"failed #{attempt}")
    assert backoff_of.after(lambda: log.read("g", "c", 10)) == []
    (dead,) = log.dead_letters("g")
    assert (dead.offset, dead.event_id, dead.payload, dead.attempts, dead.error) == (
        poison, "bad", b"2", TEST_CONFIG.max_attempts, f"failed #{TEST_CONFIG.max_attempts}")
    assert status_of(log, "g") == {"lag": 0, "in_flight": 0, "dead_letters": 1, "last_acked_offset": poison}


def test_dead_letters_are_per_group(log: EventLog, clock: ContractClock) -> None:
    (off,) = log.append(items(1))
    log.create_group("other")
    got = log.read("g", "c", 10)
    for attempt in range(1, TEST_CONFIG.max_attempts + 1):
        assert offsets(got) == [off]
        with clock.timer(backoff(attempt)) as backoff_of:
            log.nack("g", [off], "x")
        got = backoff_of.after(lambda: log.read("g", "c", 10))
    assert got == []
    assert len(log.dead_letters("g")) == 1
    assert log.dead_letters("other") == []
    assert offsets(log.read("other", "c", 10)) == [off]


def test_terminal_nack_dead_letters_at_once_and_leaves_the_rest(log: EventLog, clock: ContractClock) -> None:
    ok, poison = log.append([AppendItem(key="k", event_id="good", payload=b"1"),
                             AppendItem(key="x", event_id="bad", payload=b"2")])
    assert offsets(log.read("g", "c", 10)) == [ok, poison]
    log.nack("g", [poison], "SchemaError: refused", retry=False)
    (dead,) = log.dead_letters("g")
    assert (dead.offset, dead.attempts, dead.error) == (poison, 1, "SchemaError: refused")
    (later,) = log.append([AppendItem(key="x", event_id="next", payload=b"3")])
    log.nack("g", [later], "never delivered", retry=False)  # not delivered yet: a no-op
    assert offsets(log.read("g", "c", 10)) == [later]  # the key is free at once, no backoff
    log.ack("g", [ok, later])
    clock.advance(TEST_CONFIG.backoff_max_s * 10)
    assert log.read("g", "c", 10) == []
    assert status_of(log, "g") == {"lag": 0, "in_flight": 0, "dead_letters": 1, "last_acked_offset": later}


def test_terminal_nack_of_an_acked_message_is_a_no_op(log: EventLog) -> None:
    (off,) = log.append(items(1))
    log.ack("g", offsets(log.read("g", "c", 10)))
    log.nack("g", [off], "late failure", retry=False)
    assert log.dead_letters("g") == []


def test_backend_declares_its_optional_abilities(log: EventLog) -> None:
    trim, drop = as_trimmable(log), as_partition_dropper(log)
    assert isinstance(log, LogReader) and isinstance(log, EventLog)
    assert (trim is not None) == type(log).SUPPORTS_TRIM == isinstance(log, Trimmable)
    assert (drop is not None) == type(log).SUPPORTS_DROP_PARTITIONS == isinstance(log, PartitionDropper)


# -- per-user ordering ---------------------------------------------------------------------------

def test_messages_of_one_key_in_one_read_come_in_offset_order(log: EventLog) -> None:
    sent = log.append(items(12, keys=3))
    got = log.read("g", "a", 100)
    assert offsets(got) == sent
    for key in ("u0", "u1", "u2"):
        mine = [m.offset for m in got if m.key == key]
        assert mine == sorted(mine)


def test_later_message_of_a_key_waits_while_an_earlier_one_is_leased(log: EventLog) -> None:
    first = log.append([AppendItem(key="alice", event_id="a1", payload=b"1")])
    log.read("g", "c1", 1)
    rest = log.append([AppendItem(key="alice", event_id="a2", payload=b"2"),
                       AppendItem(key="bob", event_id="b1", payload=b"3")])
    assert [m.event_id for m in log.read("g", "c2", 10)] == ["b1"]
    log.ack("g", first)
    (a2,) = log.read("g", "c2", 10)
    assert (a2.offset, a2.event_id) == (rest[0], "a2")


def test_per_key_order_holds_under_nack_and_redelivery(log: EventLog, clock: ContractClock) -> None:
    a1, = log.append([AppendItem(key="alice", event_id="a1", payload=b"1")])
    assert offsets(log.read("g", "c1", 1)) == [a1]
    with clock.timer(backoff(1)) as backoff_of:
        log.nack("g", [a1], "transient")
    _a2, b1 = log.append([AppendItem(key="alice", event_id="a2", payload=b"2"),
                         AppendItem(key="bob", event_id="b1", payload=b"3")])
    assert offsets(log.read("g", "c2", 10)) == [b1], "a2 must wait for a1's retry"
    got = backoff_of.after(lambda: log.read("g", "c2", 10))
    assert [(m.event_id, m.attempts) for m in got] == [("a1", 2), ("a2", 1)]


def test_per_key_order_holds_after_a_consumer_crash(log: EventLog, clock: ContractClock) -> None:
    log.append(items(6, keys=2))
    with clock.timer(TEST_CONFIG.visibility_timeout_s) as lease:
        crashed = log.read("g", "dies", 3)  # u0@1, u1@2, u0@3 leased, never acked
    assert [m.key for m in crashed] == ["u0", "u1", "u0"]
    assert log.read("g", "other", 10) == [], "u0/u1 later messages must wait for the crashed lease"
    got = lease.after(lambda: log.read("g", "other", 10))
    assert [m.event_id for m in got] == [f"e{i}" for i in range(6)]
    assert [m.attempts for m in got] == [2, 2, 2, 1, 1, 1]


# -- ack semantics -------------------------------------------------------------------------------

def test_ack_is_idempotent_and_ignores_unknown_offsets(log: EventLog) -> None:
    sent = log.append(items(3))
    batch = offsets(log.read("g", "c", 2))
    log.ack("g", batch)
    log.ack("g", batch)
    log.ack("g", [999_999, sent[2]])  # unknown, and not yet delivered: both no-ops
    log.ack("nope", batch)
    log.nack("nope", batch, "x")
    assert offsets(log.read("g", "c", 10)) == [sent[2]]
    assert status_of(log, "g")["lag"] == 1


def test_nack_of_an_acked_message_is_a_no_op(log: EventLog, clock: ContractClock) -> None:
    log.append(items(1))
    got = offsets(log.read("g", "c", 10))
    log.ack("g", got)
    log.nack("g", got, "late")
    clock.advance(100)
    assert log.read("g", "c", 10) == []


# -- status --------------------------------------------------------------------------------------

def test_status_reports_lag_in_flight_dead_letters_and_watermark(log: EventLog, clock: ContractClock) -> None:
    sent = log.append(items(10))
    log.create_group("idle")
    with clock.timer(TEST_CONFIG.visibility_timeout_s) as lease:
        batch = offsets(log.read("g", "c", 4))
    log.ack("g", batch[:2])
    assert status_of(log, "g") == {"lag": 8, "in_flight": 2, "dead_letters": 0, "last_acked_offset": sent[1]}
    assert status_of(log, "idle") == {"lag": 10, "in_flight": 0, "dead_letters": 0, "last_acked_offset": None}
    log.ack("g", [batch[3]])  # acked out of order: the watermark waits for batch[2]
    assert status_of(log, "g")["last_acked_offset"] == sent[1]
    lease.after(lambda: [])  # status reads nothing: only wait the lease out
    assert status_of(log, "g") == {"lag": 7, "in_flight": 0, "dead_letters": 0, "last_acked_offset": sent[1]}


# -- concurrency ---------------------------------------------------------------------------------

def _append_from_threads(log: EventLog, threads: int, calls: int, size: int) -> list[list[int]]:
    results: list[list[int]] = [[] for _ in range(threads)]
    start = threading.Barrier(threads)

    def worker(t: int) -> None:
        start.wait()
        for c in range(calls):
            results[t].extend(log.append(items(size, prefix=f"t{t}c{c}_")))

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    return results


def test_concurrent_appends_from_8_threads_land_exactly_once_with_distinct_offsets(log: EventLog) -> None:
    results = _append_from_threads(log, threads=8, calls=25, size=20)
    every = [o for r in results for o in r]
    assert len(every) == len(set(every)) == 8 * 25 * 20
    for r in results:
        assert r == sorted(r), "one thread's offsets must increase"
    stored = Counter(m.event_id for m in log.read("g", "c", 10_000))
    assert len(stored) == 4000 and set(stored.values()) == {1}


def test_concurrent_appends_share_commits(log: EventLog) -> None:
    if not getattr(log, "SUPPORTS_GROUP_COMMIT", False):
        pytest.skip("backend has no group commit")
    before = log.commit_count  # type: ignore[attr-defined]
    _append_from_threads(log, threads=8, calls=25, size=20)
    commits = log.commit_count - before  # type: ignore[attr-defined]
    assert 0 < commits < 8 * 25, f"{commits} commits for {8 * 25} appends: nothing was shared"
