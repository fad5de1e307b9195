"""Randomised lockstep check: the SQLite log answers exactly like the in-memory reference model.

The same random sequence of append/read/ack/nack/clock steps is applied to ``memory://`` and to
SQLite; reads, statuses and dead letters must match step for step. This exercises the SQLite span
bookkeeping (splits on partial acks, retries, per-key blocking) far beyond the hand-written cases in
contract.py. It also pins details the protocol leaves open (how far one read scans past blocked
keys), which other backends are free to choose, so it runs for SQLite only.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from hexlake.log import AppendItem, EventLog, open_log

from .conftest import TEST_CONFIG, FakeClock


def _step(rnd: random.Random, logs: list[EventLog], delivered: list[int], clock_advance: list[float]) -> None:
    op = rnd.choices(["append", "read", "ack", "nack", "tick"], weights=[3, 4, 3, 2, 2])[0]
    if op == "append":
        batch = [AppendItem(key=f"u{rnd.randrange(6)}", event_id=f"e{rnd.random()}", payload=b"{}")
                 for _ in range(rnd.randint(1, 12))]
        answers: list[Any] = [log.append(batch) for log in logs]
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
def test_sqlite_log_behaves_like_the_reference_model(tmp_path: Path, seed: int) -> None:
    clock = FakeClock()
    logs = [open_log("memory://", TEST_CONFIG, clock=clock),
            open_log(f"sqlite:///{tmp_path / 'log.sqlite'}", TEST_CONFIG, clock=clock)]
    try:
        rnd = random.Random(seed)
        delivered: list[int] = []
        for _ in range(250):
            ticks: list[float] = []
            _step(rnd, logs, delivered, ticks)
            for t in ticks:
                clock.advance(t)
            assert logs[1].status() == logs[0].status()
        for group in ("g1", "g2"):
            assert logs[1].dead_letters(group) == logs[0].dead_letters(group)
    finally:
        for log in logs:
            log.close()
