"""Randomised lockstep check: the SQLite log answers exactly like the in-memory reference model.

The same random sequence of append/read/ack/nack/clock steps is applied to ``memory://`` and to
SQLite; reads, statuses and dead letters must match step for step. This exercises the SQLite span
bookkeeping (splits on partial acks, retries, per-key blocking) far beyond the hand-written cases in
contract.py. It also pins details the protocol leaves open (how far one read scans past blocked
keys), so it runs only for backends that promise the reference's exact answers (``LOCKSTEP``).
"""

from __future__ import annotations

import random

import pytest

from hexlake.log import AppendItem, EventLog, open_log

from .conftest import TEST_CONFIG, LogHarness

#: Backends that must give exactly the reference model's answers.
LOCKSTEP = {"sqlite"}


def _step(rnd: random.Random, logs: list[EventLog], delivered: list[int], clock_advance: list[float]) -> None:
    op = rnd.choices(["append", "read", "ack", "nack", "tick"], weights=[3, 4, 3, 2, 2])[0]
    if op == "append":
        batch = [AppendItem(key=f"u{rnd.randrange(6)}", event_id=f"e{rnd.random()}", payload=b"{}")
                 for _ in range(rnd.randint(1, 12))]
        answers = [log.append(batch) for log in logs]
    elif op == "read":
        group, consumer, n = rnd.choice(["g1", "g2"]), rnd.choice(["a", "b", "c"]), rnd.randint(1, 15)
        vt = rnd.choice([None, 2.0])
        answers = [log.read(group, consumer, n, visibility_timeout_s=vt) for log in logs]
        delivered.extend(m.offset for m in answers[0])
    elif op in ("ack", "nack"):
        group = rnd.choice(["g1", "g2"])
        chosen = [*rnd.sample(delivered, min(len(delivered), rnd.randint(0, 10))), rnd.randint(1, 400)]
        for log in logs:
            log.ack(group, chosen) if op == "ack" else log.nack(group, chosen, f"err{len(delivered)}")
        answers = [None for _ in logs]
    else:
        clock_advance.append(rnd.choice([0.5, 1.0, 2.5, 9.0, 31.0]))
        answers = [None for _ in logs]
    assert answers[1] == answers[0], f"{op} differs from the reference"


@pytest.mark.parametrize("seed", range(8))
def test_backend_behaves_like_the_reference_model(log_harness: LogHarness, seed: int) -> None:
    if log_harness.name not in LOCKSTEP:
        pytest.skip(f"{log_harness.name} is not held to the reference's unspecified details")
    reference = open_log("memory://", TEST_CONFIG, clock=log_harness.clock)
    logs = [reference, log_harness.open()]
    rnd = random.Random(seed)
    delivered: list[int] = []
    for _ in range(250):
        ticks: list[float] = []
        _step(rnd, logs, delivered, ticks)
        for t in ticks:
            log_harness.clock.advance(t)
        assert logs[1].status() == logs[0].status()
    for group in ("g1", "g2"):
        assert logs[1].dead_letters(group) == logs[0].dead_letters(group)
