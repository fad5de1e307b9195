"""``BackgroundService``: backoff with bounded jitter, health, metrics, bounded stop, children."""

from __future__ import annotations

import random
import threading
import time

import pytest
from prometheus_client import generate_latest

from hexlake.errors import LogError, SchemaError
from hexlake.services import BackgroundService, FunctionService


def wait_for(condition: object, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.005)
    return False


class Flaky(BackgroundService):
    """Fails ``failures`` times (with ``exc``), then succeeds; records when each step ran."""

    def __init__(self, failures: int, exc: Exception, **kwargs: object) -> None:
        super().__init__("test-flaky", **kwargs)  # type: ignore[arg-type]
        self.failures, self.exc = failures, exc
        self.calls: list[float] = []
        self.health_seen: list[bool] = []

    def step(self) -> bool:
        self.calls.append(time.monotonic())
        self.health_seen.append(self.healthy)
        if len(self.calls) <= self.failures:
            raise self.exc
        return False


@pytest.mark.parametrize("jitter", [0.0, 0.2, 1.0])
def test_backoff_doubles_up_to_the_cap_and_jitter_only_shortens_it(jitter: float) -> None:
    svc = FunctionService("t", lambda: False, backoff_base_s=0.5, backoff_max_s=10.0, jitter=jitter,
                          rng=random.Random(7))
    for n, full in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 10.0), (500, 10.0)]:
        delays = [svc.backoff(n) for _ in range(200)]
        assert all(full * (1 - jitter) <= d <= full for d in delays), (n, min(delays), max(delays))
        if jitter:
            assert max(delays) - min(delays) > full * jitter * 0.5  # jitter does spread peers out


def test_failing_work_backs_off_reports_unhealthy_then_healthy_again() -> None:
    svc = Flaky(3, LogError("log down"), interval_s=60.0, backoff_base_s=0.04, backoff_max_s=1.0, jitter=0.0)
    svc.start()
    try:
        assert wait_for(lambda: len(svc.calls) == 4)
        assert wait_for(lambda: svc.healthy)
    finally:
        assert svc.stop(2.0)
    gaps = [b - a for a, b in zip(svc.calls, svc.calls[1:], strict=False)]
    assert gaps[0] >= 0.035 and gaps[1] >= 0.075 and gaps[2] >= 0.15  # 0.04, 0.08, 0.16: it grows
    assert gaps[1] > gaps[0] and gaps[2] > gaps[1]
    assert svc.health_seen == [True, False, False, False]  # unhealthy while failing
    status = svc.status()
    assert (status.healthy, status.runs, status.errors, status.consecutive_errors) == (True, 1, 3, 0)
    assert status.last_error == "LogError: log down" and status.last_error_at is not None
    assert status.last_success_at is not None and status.last_success_at >= status.last_error_at
    assert not status.running


def test_metrics_are_exported_per_service_and_error_kind() -> None:
    svc = Flaky(1, SchemaError("bad schema"), interval_s=60.0, backoff_base_s=0.01, jitter=0.0)
    svc.name = "test-metrics-svc"
    svc.start()
    try:
        assert wait_for(lambda: svc.runs == 1)
    finally:
        svc.stop(2.0)
    text = generate_latest().decode()
    assert 'hexlake_service_errors_total{kind="terminal",service="test-metrics-svc"} 1.0' in text
    assert 'hexlake_service_runs_total{service="test-metrics-svc"} 1.0' in text
    assert 'hexlake_service_healthy{service="test-metrics-svc"} 1.0' in text
    assert 'hexlake_service_last_error_timestamp_seconds{service="test-metrics-svc"}' in text


def test_stop_returns_within_its_bound_even_when_the_work_is_blocked() -> None:
    release = threading.Event()
    entered = threading.Event()

    def blocked() -> bool:
        entered.set()
        release.wait(30)  # ignores the stop event, like a hung driver call
        return False

    svc = FunctionService("test-blocked", blocked, interval_s=0.01)
    svc.start()
    try:
        assert entered.wait(5)
        started = time.monotonic()
        assert svc.stop(0.3) is False  # says it did not finish...
        assert time.monotonic() - started < 1.0  # ...but never hangs
        assert svc.running
    finally:
        release.set()
    assert wait_for(lambda: not svc.running)


def test_stop_interrupts_the_idle_wait_and_the_backoff_wait() -> None:
    idle = FunctionService("test-idle", lambda: False, interval_s=3600.0)
    failing = FunctionService("test-failing", lambda: 1 / 0, backoff_base_s=3600.0)  # type: ignore[arg-type,return-value]
    for svc in (idle, failing):
        svc.start()
    assert wait_for(lambda: idle.runs == 1 and failing.errors == 1)
    started = time.monotonic()
    assert idle.stop(5.0) and failing.stop(5.0)
    assert time.monotonic() - started < 1.0
    assert not failing.healthy and failing.status().last_error is not None
    assert "ZeroDivisionError" in (failing.status().last_error or "")


def test_children_start_and_stop_with_their_parent_and_share_its_deadline() -> None:
    parent = FunctionService("test-parent", lambda: False, interval_s=3600.0)
    kids = [FunctionService(f"test-child-{i}", lambda: False, interval_s=3600.0) for i in range(3)]
    parent.children.extend(kids)
    parent.start()
    assert wait_for(lambda: all(k.runs == 1 for k in kids) and parent.runs == 1)
    assert [s.name for s in parent.statuses()] == ["test-parent", "test-child-0", "test-child-1", "test-child-2"]
    started = time.monotonic()
    assert parent.stop(2.0)
    assert time.monotonic() - started < 1.0 and not any(k.running for k in kids)


def test_an_unhealthy_child_makes_the_parent_unhealthy() -> None:
    parent = FunctionService("test-parent2", lambda: False, interval_s=3600.0)
    child = FunctionService("test-child-bad", lambda: 1 / 0, backoff_base_s=3600.0)  # type: ignore[arg-type,return-value]
    parent.children.append(child)
    parent.start()
    try:
        assert wait_for(lambda: child.errors == 1 and parent.runs == 1)
        assert parent.status().healthy and not parent.healthy
    finally:
        parent.stop(2.0)


def test_exit_when_drained_ends_the_thread_once_idle() -> None:
    work = [3]

    def step() -> bool:
        work[0] -= 1
        return work[0] > 0

    svc = FunctionService("test-drain", step, interval_s=3600.0, exit_when_drained=True)
    svc.start()
    svc.join(5.0)
    assert not svc.running and work[0] == 0 and svc.runs == 3


def test_a_failing_setup_is_retried_with_backoff_before_any_step() -> None:
    tries: list[int] = []

    class Svc(BackgroundService):
        def setup(self) -> None:
            tries.append(1)
            if len(tries) < 3:
                raise LogError("not yet")

        def step(self) -> bool:
            return False

    svc = Svc("test-setup", interval_s=3600.0, backoff_base_s=0.01, jitter=0.0)
    svc.start()
    try:
        assert wait_for(lambda: svc.runs == 1)
    finally:
        svc.stop(2.0)
    assert len(tries) == 3 and svc.errors == 2 and svc.healthy


def test_a_failing_drained_check_keeps_the_service_running_and_reports_it() -> None:
    checks = [0]

    class Svc(BackgroundService):
        def step(self) -> bool:
            return False

        def drained(self) -> bool:
            checks[0] += 1
            if checks[0] == 1:
                raise LogError("status unavailable")
            return True

    svc = Svc("test-drained", interval_s=0.01, backoff_base_s=0.01, exit_when_drained=True)
    svc.start()
    svc.join(5.0)
    assert not svc.running and checks[0] == 2 and svc.errors == 1
