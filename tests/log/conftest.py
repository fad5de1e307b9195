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


BACKENDS: dict[str, Backend] = {
    "memory": Backend(lambda req, tmp: "memory://", durable=False),
    "sqlite": Backend(lambda req, tmp: f"sqlite:///{tmp / 'log.sqlite'}"),
    "postgresql": Backend(lambda req, tmp: req.getfixturevalue("pg_url"), marks=[pytest.mark.services]),
    "redis": Backend(lambda req, tmp: req.getfixturevalue("redis_url"), marks=[pytest.mark.services]),
    "nats": Backend(lambda req, tmp: req.getfixturevalue("nats_url"), marks=[pytest.mark.services]),
}


def _selected() -> list[str]:
    wanted = os.environ.get("HEXLAKE_TEST_LOGS")
    names = [n.strip() for n in wanted.split(",")] if wanted else list(BACKENDS)
    return [n for n in names if n in BACKENDS]


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
