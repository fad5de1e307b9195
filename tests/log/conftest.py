"""The ``log`` fixture: one EventLog per backend, so ``contract.py`` runs against every backend.

Backends: ``memory``, ``sqlite`` (embedded). Service backends add a line to ``BACKENDS`` naming the
fixture that yields their URL (``pg_url``, ``redis_url``, ``nats_url``) and are marked ``services``.
Narrow the set locally with ``HEXLAKE_TEST_LOGS=sqlite,memory``.

Leases and backoff are timed by the injected clock (a ``FakeClock`` the tests move), except on a
backend whose timers run on a server (``Backend.server_clock``): it gets ``ServerTimeClock``, which
really sleeps, and its config's times are scaled down by the same factor.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

import pytest

from hexlake.log import EventLog, LogConfig, open_log

T = TypeVar("T")


class Timer(Protocol):
    """A backend timer (a lease, a nack's backoff) of ``period`` contract seconds, started by the
    call made inside ``clock.timer(period)``. Reads look at it: ``nothing_before`` (the message must
    not come back while the timer runs), ``after`` (it is back once the timer ran out)."""

    def nothing_before(self, read: Callable[[], list[T]]) -> list[T]:
        """``read`` gets nothing before the timer runs out (else AssertionError). Returns what a read
        that could not tell got (real time: one that ended after the timer ran out), else []."""
        ...

    def after(self, read: Callable[[], list[T]]) -> list[T]:
        """What ``read`` gets once the timer ran out."""
        ...

    def only_after(self, read: Callable[[], list[T]]) -> list[T]:
        """``nothing_before``, then ``after`` (unless a read already got it)."""
        ...


class ContractClock(Protocol):
    """What the contract tests do with time: read it (the backend does), move it, time a timer."""

    #: The backend's seconds per contract second (its config is scaled by this; so is a read's own
    #: visibility timeout).
    scale: float

    def __call__(self) -> float: ...

    def advance(self, seconds: float) -> None: ...

    def timer(self, period: float) -> AbstractContextManager[Timer]:
        """Around the call that starts a timer of ``period``: ``with clock.timer(p) as t: log.nack(…)``."""
        ...


class FakeClock:
    """Epoch seconds that only move when a test says so."""

    scale = 1.0

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    @contextmanager
    def timer(self, period: float) -> Iterator[Timer]:
        timer = _FakeTimer(self, period)
        yield timer
        timer.started = self.now  # the call that started it is the last thing in the block


@dataclass
class _FakeTimer:
    """An exact clock: a hair before the timer runs out is surely before, a hair after surely after."""

    clock: FakeClock
    period: float
    started: float = 0.0

    def _to(self, t: float) -> None:
        self.clock.advance(max(0.0, t - self.clock.now))

    def nothing_before(self, read: Callable[[], list[T]]) -> list[T]:
        self._to(self.started + self.period - 0.01)
        got = read()
        assert got == [], f"back before its {self.period} s timer ran out: {got}"
        return got

    def after(self, read: Callable[[], list[T]]) -> list[T]:
        self._to(self.started + self.period + 0.01)
        return read()

    def only_after(self, read: Callable[[], list[T]]) -> list[T]:
        return self.nothing_before(read) or self.after(read)


class ServerTimeClock:
    """Real time, for a backend whose leases and backoff run on its server's clock: ``advance(s)``
    sleeps ``s * scale`` (the backend's config times are scaled by ``scale`` too, ``LogHarness``).
    Sleeping past the config's longest timer shows nothing more (no lease or backoff is left), so
    longer advances stop there.

    A timer is looked at on the monotonic clock, from the moments just before and just after the
    call that started it (the server starts it in between): see ``_ServerTimer``. What a check
    could not tell is noted in ``undecided`` (the fixture puts it in the test's user_properties).
    """

    def __init__(self, scale: float, longest: float) -> None:
        self.scale, self.longest = scale, longest
        self.undecided: list[str] = []

    def __call__(self) -> float:
        return time.time()

    def advance(self, seconds: float) -> None:
        time.sleep(max(0.0, min(seconds, self.longest * PAST)) * self.scale)

    @contextmanager
    def timer(self, period: float) -> Iterator[Timer]:
        started = time.monotonic()
        timer = _ServerTimer(self, period * self.scale, started)
        yield timer
        timer.ended = time.monotonic()


#: In real time a timer is looked at again this often (s) while it runs, and until it is late.
POLL_S = 0.02
#: ``after`` first reads at ``PAST`` times the period after the starting call returned (a server
#: timer's latency), then keeps reading until ``LATE_S`` later: a loaded server can be late. Both
#: stay well short of the wrong timers the contract tells apart (an uncapped 16 s backoff against
#: the 8 s cap; a 10 s lease against a read's own 2 s), whose scaled gap is >= 1.2 s.
PAST = 1.25
LATE_S = 0.5


@dataclass
class _ServerTimer:
    """A server's timer, from the client: it started after ``started`` and before ``ended``.

    ``nothing_before`` reads over and over while the timer runs; a read that returns the message and
    *ends* before ``started + period`` saw it come back early, whatever the load: that fails. Load
    (a descheduled test thread, a read waiting 0.5 s on a parked shard) can only make a read end
    later, when it cannot tell (the message may have come after the timer ran out): such a read's
    messages are taken as ``after``'s, and the check is noted as undecided for the part of the
    period it had covered. So a backend that redelivers early fails, and load never fails a correct one.
    """

    clock: ServerTimeClock
    period: float  # real seconds
    started: float
    ended: float = 0.0

    def nothing_before(self, read: Callable[[], list[T]]) -> list[T]:
        due = self.started + self.period
        covered = self.started  # reads that ended by then saw nothing
        # stop a little before the end: a read straddling it could not tell
        while (t0 := time.monotonic()) < due - max(POLL_S, 0.1 * self.period):
            got = read()
            t1 = time.monotonic()
            if got and t1 < due:
                raise AssertionError(
                    f"back {t1 - self.started:.3f} s after its timer started, before its {self.period:.3f} s "
                    f"ran out (the read took {t1 - t0:.3f} s): {got}")
            if got:
                self.clock.undecided.append(
                    f"a {self.period:.2f} s timer: a read from {t0 - self.started:.3f} s to {t1 - self.started:.3f} s "
                    f"got the message; nothing before {covered - self.started:.3f} s")
                return got
            covered = t1
            time.sleep(POLL_S)
        if covered < self.started + 0.5 * self.period:
            self.clock.undecided.append(
                f"a {self.period:.2f} s timer: looked at only until {covered - self.started:.3f} s")
        return []

    def after(self, read: Callable[[], list[T]]) -> list[T]:
        first = self.ended + PAST * self.period
        time.sleep(max(0.0, first - time.monotonic()))
        while not (got := read()) and time.monotonic() < first + LATE_S:
            time.sleep(POLL_S)
        return got

    def only_after(self, read: Callable[[], list[T]]) -> list[T]:
        return self.nothing_before(read) or self.after(read)


@dataclass(frozen=True)
class Backend:
    url: Callable[[pytest.FixtureRequest, Path], str]
    durable: bool = True
    #: Leases and backoff are timed by the server, not by the injected clock (``ServerTimeClock``).
    server_clock: bool = False
    marks: list[pytest.MarkDecorator] = field(default_factory=list)
    #: Declared departures from the contract: test name -> why. Such a test must still fail on this
    #: backend (strict xfail), so a departure that stops failing is noticed and the list corrected.
    departures: dict[str, str] = field(default_factory=dict)


_SHARD = ("one message per shard is in flight (max_ack_pending=1): a read gets at most one message of a "
          "shard, and the next one only once it is acked")
_ROTOR = ("a read with max below the number of shards asks max shards in turn (a different first shard "
          "each read), not the shards holding the oldest messages")
#: ``nats://…?groups=durable`` (JetStream durable consumers), docs/log.md "NATS consumer groups". Its
#: leases and backoff run on the server's clock: the contract runs over it in real time (``ServerTimeClock``).
DURABLE_DEPARTURES = {
    "test_read_respects_max_and_returns_oldest_first": _ROTOR,
    "test_messages_of_one_key_in_one_read_come_in_offset_order": _SHARD,
    "test_per_key_order_holds_under_nack_and_redelivery": _SHARD + (
        " (a1's retry and a2 cannot come in one read; the check before already gets a1's retry: a read "
        "waits 0.5 s for a shard that parks its request, longer than the scaled 0.2 s backoff)"),
    "test_per_key_order_holds_after_a_consumer_crash": _SHARD + " (u0's first two events cannot be leased together)",
    "test_status_reports_lag_in_flight_dead_letters_and_watermark": (
        _ROTOR + "; in_flight is JetStream's num_ack_pending, which counts a message whose lease ran out "
        "until it is redelivered"),
    "test_concurrent_appends_from_8_threads_land_exactly_once_with_distinct_offsets": _SHARD,
    "test_erase_key_removes_the_persons_messages_and_mentions_only": _SHARD + " (Bob's b1 and b3)",
}


BACKENDS: dict[str, Backend] = {
    "memory": Backend(lambda req, tmp: "memory://", durable=False),
    "sqlite": Backend(lambda req, tmp: f"sqlite:///{tmp / 'log.sqlite'}"),
    "postgresql": Backend(lambda req, tmp: req.getfixturevalue("pg_url"), marks=[pytest.mark.services]),
    "redis": Backend(lambda req, tmp: req.getfixturevalue("redis_url"), marks=[pytest.mark.services]),
    "nats": Backend(lambda req, tmp: req.getfixturevalue("nats_url"), marks=[pytest.mark.services]),
    "nats-durable": Backend(lambda req, tmp: req.getfixturevalue("nats_url") + "?groups=durable",
                            server_clock=True, marks=[pytest.mark.services], departures=DURABLE_DEPARTURES),
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


TEST_CONFIG = LogConfig(visibility_timeout_s=10.0, max_attempts=3, backoff_base_s=1.0,
                        backoff_max_s=8.0, group_commit_ms=2.0)
#: Real seconds per contract second on a ``server_clock`` backend: visibility 2 s, backoff 0.2 s
#: doubling to 1.6 s. The first backoff must stay well above the client-server latency under load.
SERVER_TIME_SCALE = 0.2


def scaled(config: LogConfig, scale: float) -> LogConfig:
    return config.model_copy(update={
        "visibility_timeout_s": config.visibility_timeout_s * scale,
        "backoff_base_s": config.backoff_base_s * scale,
        "backoff_max_s": config.backoff_max_s * scale,
    })


@dataclass
class LogHarness:
    """Opens (and re-opens) the backend under test with its clock; closes what it opened."""

    name: str
    url: str
    durable: bool
    clock: ContractClock
    opened: list[EventLog] = field(default_factory=list)

    def open(self, config: LogConfig = TEST_CONFIG) -> EventLog:
        if isinstance(self.clock, ServerTimeClock):
            config = scaled(config, self.clock.scale)
        log = open_log(self.url, config, clock=self.clock)
        self.opened.append(log)
        return log


@pytest.fixture(params=[pytest.param(n, marks=BACKENDS[n].marks, id=n) for n in _selected()])
def log_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LogHarness]:
    backend = BACKENDS[request.param]
    longest = max(TEST_CONFIG.visibility_timeout_s, TEST_CONFIG.backoff_max_s)
    clock = ServerTimeClock(SERVER_TIME_SCALE, longest) if backend.server_clock else FakeClock()
    harness = LogHarness(request.param, backend.url(request, tmp_path), backend.durable, clock)
    yield harness
    for log in harness.opened:
        log.close()
    if isinstance(clock, ServerTimeClock):
        request.node.user_properties.extend(("realtime undecided", u) for u in clock.undecided)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "teardown":
        _UNDECIDED.extend(f"{report.nodeid}: {v}" for k, v in report.user_properties if k == "realtime undecided")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Real-time timer checks that load kept from telling (``_ServerTimer``): none fail, all are listed."""
    if _UNDECIDED:
        terminalreporter.write_sep("-", f"{len(_UNDECIDED)} real-time timer checks undecided (load)")
        for line in _UNDECIDED:
            terminalreporter.write_line(line)


_UNDECIDED: list[str] = []


@pytest.fixture
def log(log_harness: LogHarness) -> EventLog:
    return log_harness.open()


@pytest.fixture
def clock(log_harness: LogHarness) -> ContractClock:
    return log_harness.clock
