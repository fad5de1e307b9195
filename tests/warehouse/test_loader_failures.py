"""The loader settles a failed batch like every consumer: transient → retry later, terminal → only the culprit
is dead-lettered, on its first delivery (``LoaderBase.load_leased``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from hexlake.errors import LogError, SchemaError
from hexlake.log import EventLog, LogMessage, open_log
from hexlake.warehouse import Warehouse, open_warehouse
from hexlake.warehouse.loader import LoaderBase

from .conftest import LOG_CONFIG, FakeClock, as_items, make_event


class Fussy(LoaderBase):
    """Refuses any batch holding an event id in ``refuse`` with that id's error; records the rest."""

    def __init__(self, log: EventLog, warehouse: Warehouse, refuse: dict[str, Exception]) -> None:
        super().__init__(log, warehouse)
        self.refuse = refuse
        self.stored: set[str] = set()

    def load_batch(self, messages: Sequence[LogMessage]) -> tuple[int, int]:
        for m in messages:
            if m.event_id in self.refuse:
                raise self.refuse[m.event_id]
        self.stored.update(m.event_id for m in messages)
        self.log.ack(self.group, [m.offset for m in messages])
        return len(messages), 0


@pytest.fixture
def parts(tmp_path: Path) -> tuple[EventLog, Warehouse, FakeClock]:
    clock = FakeClock()
    warehouse = open_warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}")
    return open_log("memory://", LOG_CONFIG, clock=clock), warehouse, clock


def test_terminal_failure_dead_letters_only_the_culprit_at_once(
        parts: tuple[EventLog, Warehouse, FakeClock]) -> None:
    log, warehouse, _ = parts
    log.append(as_items([make_event(i) for i in range(4)]))
    loader = Fussy(log, warehouse, {"evt-2": SchemaError("raw_events refuses evt-2")})
    assert loader.run_once() == 3
    assert loader.stored == {"evt-0", "evt-1", "evt-3"}
    assert [(d.event_id, d.attempts) for d in log.dead_letters(loader.group)] == [("evt-2", 1)]
    warehouse.close()


def test_transient_failure_retries_the_batch_and_never_dead_letters_early(
        parts: tuple[EventLog, Warehouse, FakeClock]) -> None:
    log, warehouse, clock = parts
    log.append(as_items([make_event(i) for i in range(3)]))
    loader = Fussy(log, warehouse, {"evt-1": LogError("warehouse busy")})
    with pytest.raises(LogError):
        loader.run_once()
    assert log.dead_letters(loader.group) == [] and loader.stored == set()
    loader.refuse.clear()  # the warehouse is back
    clock.advance(LOG_CONFIG.backoff_max_s + 1)
    assert loader.run_once() == 3 and log.dead_letters(loader.group) == []
    warehouse.close()
