from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hexlake.errors import BadRequest, NotFound
from hexlake.gate import Gate, QuarantineStore, SourceInfo

from .conftest import NOW, WEB
from .examples import example


@pytest.fixture
def store(tmp_path: Path) -> Iterator[QuarantineStore]:
    s = QuarantineStore(tmp_path / "catalog.sqlite")
    yield s
    s.close()


def refused(gate: Gate, items: list[Any], source: SourceInfo = WEB) -> list[Any]:
    return gate.process(items, source=source, received_at=NOW).quarantined


def test_put_then_list_returns_design_failure_shape(gate: Gate, store: QuarantineStore) -> None:
    bad = example("login", properties={"method": "telepathy"})
    ids = store.put(refused(gate, [bad]))
    (row,) = store.list()
    assert row.id == ids[0] and row.status == "open" and row.replayed_at is None
    assert (row.source, row.event_type, row.event_id, row.processor) == ("web", "login", "login-1", "gate")
    assert row.failure["timestamp"] == NOW.isoformat()
    assert row.failure["messages"][0]["path"] == "/properties/method"
    assert row.failure["messages"][0]["keyword"] == "enum"
    assert row.payload == bad
    assert store.get(ids[0]) == row


def test_filters_and_paging(gate: Gate, store: QuarantineStore) -> None:
    store.put(refused(gate, [example("login", properties={}, event_id=f"l{i}") for i in range(3)]))
    store.put(refused(gate, [5], source=WEB.__class__(name="ios")))
    assert len(store.list(event_type="login")) == 3
    assert [r.event_type for r in store.list(source="ios")] == [None]
    assert [r.event_id for r in store.list(event_type="login", limit=2, offset=1)] == ["l1", "l2"]


def test_counts_group_by_type_and_reason(gate: Gate, store: QuarantineStore) -> None:
    store.put(refused(gate, [example("login", properties={}, event_id=f"l{i}") for i in range(3)]))
    store.put(refused(gate, [{"event_type": "page", "timestamp": "bad"}]))
    counts = [(c.event_type, c.reason, c.count) for c in store.counts()]
    assert counts == [("login", "required at /properties/method", 3), ("page", "format at /timestamp", 1)]


def test_mark_replayed_stamps_time_and_leaves_open_list(gate: Gate, store: QuarantineStore) -> None:
    ids = store.put(refused(gate, [example("login", properties={})]))
    assert store.mark(ids, "replayed") == 1
    assert store.list() == []
    (row,) = store.list(status="replayed")
    assert row.replayed_at is not None
    assert len(store.list(status=None)) == 1


def test_mark_rejects_unknown_status(store: QuarantineStore) -> None:
    with pytest.raises(BadRequest):
        store.mark([1], "gone")


def test_fix_then_replay_through_the_gate(gate: Gate, store: QuarantineStore) -> None:
    (qid,) = store.put(refused(gate, [example("login", properties={})]))
    store.update_payload(qid, example("login"))
    row = store.get(qid)
    assert row is not None
    fixed = row.payload
    result = gate.process([fixed], source=WEB, received_at=NOW)
    assert len(result.accepted) == 1


def test_update_missing_row_is_not_found(store: QuarantineStore) -> None:
    with pytest.raises(NotFound):
        store.update_payload(99, {})


def test_rows_persist_across_reopen(gate: Gate, tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    QuarantineStore(path).put(refused(gate, [7]))
    assert QuarantineStore(path).list()[0].payload == 7
