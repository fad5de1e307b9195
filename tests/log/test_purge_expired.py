"""The ``RetentionPurger`` capability: messages whose retention class ended go, once consumed."""

from __future__ import annotations

import pytest

from hexlake.log import AppendItem, EventLog
from hexlake.log.protocol import RetentionPurger, as_retention_purger


def purger(log: EventLog) -> RetentionPurger:
    found = as_retention_purger(log)
    if found is None:
        pytest.skip(f"{type(log).__name__} does not declare SUPPORTS_PURGE_EXPIRED")
    assert isinstance(found, RetentionPurger)
    return found


def msg(i: int, retention: str | None, ts: str) -> AppendItem:
    body = f'{{"event_id":"e{i}","ts":"{ts}"' + (f',"retention":"{retention}"' if retention else "") + "}"
    return AppendItem(key=f"k{i}", event_id=f"e{i}", payload=body.encode())


def test_expired_consumed_messages_go_and_others_stay(log: EventLog) -> None:
    p = purger(log)
    log.append([msg(1, "location", "2024-01-01T00:00:00Z"), msg(2, "location", "2026-11-30T00:00:00Z"),
                msg(3, "transaction", "2024-01-01T00:00:00Z"), msg(4, None, "2020-01-01T00:00:00Z"),
                msg(5, "location", "2024-02-01T00:00:00Z")])
    got = log.read("g", "c", 10)
    log.ack("g", [m.offset for m in got if m.event_id != "e5"])  # e5 still being processed
    cutoffs = {"location": "2026-09-01T00:00:00", "transaction": "2019-12-01T00:00:00"}
    assert p.purge_expired(cutoffs, dry_run=True) == 1
    assert p.purge_expired(cutoffs) == 1
    assert p.purge_expired(cutoffs) == 0
    assert log.tail(10) == ["e2", "e3", "e4", "e5"]
