"""The ``log`` fixture: one EventLog per backend, so ``contract.py`` runs against every backend.

Backends: ``memory``, ``sqlite`` (embedded). Service backends add a line to ``BACKENDS`` naming the
fixture that yields their URL (``pg_url``, ``redis_url``, ``nats_url``) and are marked ``services``.
Narrow the set locally with ``HEXLAKE_TEST_LOGS=sqlite,memory``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hexlake.log import EventLog, LogConfig, open_log


class FakeClock:
    """Epoch seconds that only move when a test says so."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class Backend:
    url: Callable[[pytest.FixtureRequest, Path], str]
    durable: bool = True
    marks: list[pytest.MarkDecorator] = field(default_factory=list)
    #: Declared departures from the contract: test name -> why. Such a test must still fail on this
    #: backend (strict xfail), so a departure that stops failing is noticed and the list corrected.
    departures: dict[str, str] = field(default_factory=dict)


_SERVER_CLOCK = ("leases and nak delays run on the NATS server's clock; the contract moves a fake clock "
                 "(real-time versions: test_nats_durable.py)")
_SHARD = ("one message per shard is in flight (max_ack_pending=1): a read gets at most one message of a "
          "shard, and a waiting message holds back its whole shard")
#: ``nats://…?groups=durable`` (JetStream durable consumers), docs/log.md "NATS consumer groups".
DURABLE_DEPARTURES = {
    "test_unacked_message_is_redelivered_after_visibility_timeout": _SERVER_CLOCK,
    "test_read_visibility_timeout_overrides_the_configured_one":
        "ack_wait is fixed per consumer when the group is created; a read cannot ask for its own",
    "test_acking_part_of_a_batch_redelivers_only_the_rest": _SERVER_CLOCK,
    "test_expired_lease_at_max_attempts_goes_to_dead_letters": _SERVER_CLOCK,
    "test_nacked_message_returns_after_exponential_backoff": _SERVER_CLOCK,
    "test_backoff_is_capped_at_backoff_max": _SERVER_CLOCK,
    "test_message_is_dead_lettered_with_its_error_after_max_attempts": _SERVER_CLOCK,
    "test_dead_letters_are_per_group": _SERVER_CLOCK,
    "test_per_key_order_holds_under_nack_and_redelivery": _SERVER_CLOCK,
    "test_per_key_order_holds_after_a_consumer_crash": _SERVER_CLOCK,
    "test_status_reports_lag_in_flight_dead_letters_and_watermark":
        _SERVER_CLOCK + "; in_flight also counts messages waiting for their nak delay",
    "test_read_respects_max_and_returns_oldest_first": _SHARD,
    "test_messages_of_one_key_in_one_read_come_in_offset_order": _SHARD,
    "test_concurrent_appends_from_8_threads_land_exactly_once_with_distinct_offsets": _SHARD,
    "test_erase_key_removes_the_persons_messages_and_mentions_only": _SHARD,
}


BACKENDS: dict[str, Backend] = {
    "memory": Backend(lambda req, tmp: "memory://", durable=False),
    "sqlite": Backend(lambda req, tmp: f"sqlite:///{tmp / 'log.sqlite'}"),
    "postgresql": Backend(lambda req, tmp: req.getfixturevalue("pg_url"), marks=[pytest.mark.services]),
    "redis": Backend(lambda req, tmp: req.getfixturevalue("redis_url"), marks=[pytest.mark.services]),
    "nats": Backend(lambda req, tmp: req.getfixturevalue("nats_url"), marks=[pytest.mark.services]),
    "nats-durable": Backend(lambda req, tmp: req.getfixturevalue("nats_url") + "?groups=durable",
                            marks=[pytest.mark.services], departures=DURABLE_DEPARTURES),
}


def _selected() -> list[str]:
    wanted = os.environ.get("HEXLAKE_TEST_LOGS")
    names = [n.strip() for n in wanted.split(",")] if wanted else list(BACKENDS)
    return [n for n in names if n in BACKENDS]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each declared departure of a backend as a strict xfail naming the reason."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        name = callspec.params.get("log_harness") if callspec else None
        backend = BACKENDS.get(name) if isinstance(name, str) else None
        reason = backend.departures.get(item.originalname) if backend else None  # type: ignore[attr-defined]
        if reason:
            item.add_marker(pytest.mark.xfail(strict=True, reason=f"{name}: {reason}"))


TEST_CONFIG = LogConfig(visibility_timeout_s=30.0, max_attempts=3, backoff_base_s=1.0,
                        backoff_max_s=8.0, group_commit_ms=2.0)


@dataclass
class LogHarness:
    """Opens (and re-opens) the backend under test with a fake clock; closes what it opened."""

    name: str
    url: str
    durable: bool
    clock: FakeClock
    opened: list[EventLog] = field(default_factory=list)

    def open(self, config: LogConfig = TEST_CONFIG) -> EventLog:
        log = open_log(self.url, config, clock=self.clock)
        self.opened.append(log)
        return log


@pytest.fixture(params=[pytest.param(n, marks=BACKENDS[n].marks, id=n) for n in _selected()])
def log_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LogHarness]:
    backend = BACKENDS[request.param]
    harness = LogHarness(request.param, backend.url(request, tmp_path), backend.durable, FakeClock())
    yield harness
    for log in harness.opened:
        log.close()


@pytest.fixture
def log(log_harness: LogHarness) -> EventLog:
    return log_harness.open()


@pytest.fixture
def clock(log_harness: LogHarness) -> FakeClock:
    return log_harness.clock
