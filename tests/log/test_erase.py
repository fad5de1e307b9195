"""The ``KeyEraser`` capability (GDPR erasure): every backend that declares it removes exactly one
person's messages, dead letters included, and keeps delivering everyone else's."""

from __future__ import annotations

import pytest

from hexlake.log import AppendItem, EventLog
from hexlake.log.protocol import KeyEraser, as_key_eraser

ALICE, BOB = "a" * 64, "b" * 64


def eraser(log: EventLog) -> KeyEraser:
    found = as_key_eraser(log)
    if found is None:
        pytest.skip(f"{type(log).__name__} does not declare SUPPORTS_ERASE_KEY")
    assert isinstance(found, KeyEraser)
    return found


def seed(log: EventLog) -> None:
    log.append([
        AppendItem(key=ALICE, event_id="a1", payload=b'{"user_key":"' + ALICE.encode() + b'"}'),
        AppendItem(key=BOB, event_id="b1", payload=b'{"user_key":"' + BOB.encode() + b'"}'),
        # Bob's event naming Alice (e.g. a follow): it mentions her, so it goes too
        AppendItem(key=BOB, event_id="b2", payload=b'{"properties":{"followed":"' + ALICE.encode() + b'"}}'),
        AppendItem(key=ALICE, event_id="a2", payload=b"{}"),
        AppendItem(key=BOB, event_id="b3", payload=b"{}"),
    ])


def test_erase_key_removes_the_persons_messages_and_mentions_only(log: EventLog) -> None:
    er = eraser(log)
    seed(log)
    assert er.count_key(ALICE) == 3
    assert er.erase_key(ALICE) == 3
    assert er.count_key(ALICE) == 0
    assert er.count_key(BOB) == 2
    got = log.read("g", "c", 10)
    assert [m.event_id for m in got] == ["b1", "b3"]
    assert all(ALICE.encode() not in m.payload for m in got)


def test_erase_key_reaches_dead_letters(log: EventLog) -> None:
    er = eraser(log)
    seed(log)
    msgs = log.read("g", "c", 10)
    log.nack("g", [m.offset for m in msgs if m.key == ALICE], "boom", retry=False)
    log.ack("g", [m.offset for m in msgs if m.key == BOB])
    assert any(d.key == ALICE for d in log.dead_letters("g"))
    er.erase_key(ALICE)
    assert all(ALICE.encode() not in d.payload and d.key != ALICE for d in log.dead_letters("g"))


def test_appends_after_an_erase_get_new_offsets_and_are_delivered(log: EventLog) -> None:
    er = eraser(log)
    seed(log)
    before = log.head_offset()
    assert log.read("g", "c", 10)
    er.erase_key(ALICE)  # Alice's message was the newest but one; offsets must still grow
    log.append([AppendItem(key=ALICE, event_id="a3", payload=b"{}")])
    assert log.head_offset() > before
    log.ack("g", [m.offset for m in log.read("g", "c", 10, visibility_timeout_s=0.0)])
    assert [m.event_id for m in log.read("g", "c", 10)] in (["a3"], [])
