"""The cron scheduler: retries with backoff, no overlapping runs, invalid cron refused."""

from __future__ import annotations

import threading
import time

import pytest

from hexlake.config import Settings
from hexlake.errors import ConfigError, TransformError, WarehouseError
from hexlake.ops.scheduler import CronScheduler
from hexlake.runtime import Runtime
from hexlake.transform import service
from hexlake.transform.config import TransformConfig


def test_failing_job_is_retried_until_it_succeeds() -> None:
    attempts: list[int] = []

    def job(attempt: int) -> None:
        attempts.append(attempt)
        if attempt < 3:
            raise WarehouseError("warehouse file locked")

    sched = CronScheduler("t", "* * * * *", job, retries=3, backoff_s=0.0)
    assert sched.run_once() is True
    assert attempts == [1, 2, 3]


def test_job_failing_every_attempt_gives_up_after_retries() -> None:
    attempts: list[int] = []

    def job(attempt: int) -> None:
        attempts.append(attempt)
        raise ConnectionError("down")

    sched = CronScheduler("t", "* * * * *", job, retries=2, backoff_s=0.0)
    assert sched.run_once() is False
    assert attempts == [1, 2]


@pytest.mark.parametrize("exc", [TransformError("audit not_null failed"), ValueError("bug")])
def test_terminal_failure_is_not_retried_within_the_tick(exc: Exception) -> None:
    attempts: list[int] = []

    def job(attempt: int) -> None:
        attempts.append(attempt)
        raise exc

    sched = CronScheduler("t", "* * * * *", job, retries=3, backoff_s=0.0)
    assert sched.run_once() is False
    assert attempts == [1]


def test_failed_tick_marks_the_scheduler_unhealthy_until_a_tick_succeeds() -> None:
    outcomes = [TransformError("audit failed"), None]

    def job(attempt: int) -> None:
        exc = outcomes.pop(0)
        if exc is not None:
            raise exc

    sched = CronScheduler("t-health", "* * * * * *", job, retries=1)  # every second
    sched.start()
    try:
        deadline = time.time() + 10
        while sched.errors == 0 and time.time() < deadline:
            time.sleep(0.02)
        assert not sched.healthy and sched.status().last_error == "TransformError: audit failed"
        while not sched.healthy and time.time() < deadline:
            time.sleep(0.02)
        assert sched.healthy and sched.runs == 1
    finally:
        assert sched.stop(5.0)


def test_stop_is_bounded_while_the_job_is_stuck() -> None:
    release, entered = threading.Event(), threading.Event()

    def job(attempt: int) -> None:
        entered.set()
        release.wait(30)

    sched = CronScheduler("t-stuck", "* * * * * *", job, retries=1)
    sched.start()
    try:
        assert entered.wait(5)
        started = time.monotonic()
        assert sched.stop(0.3) is False
        assert time.monotonic() - started < 1.0
    finally:
        release.set()


def test_runs_never_overlap_even_when_ticks_are_faster_than_runs() -> None:
    running = 0
    peak = 0
    done = 0
    lock = threading.Lock()

    def job(attempt: int) -> None:
        nonlocal running, peak, done
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(1.2)  # longer than the 1-second tick
        with lock:
            running -= 1
            done += 1

    sched = CronScheduler("t", "* * * * * *", job, retries=1)  # every second
    sched.start()
    deadline = time.time() + 15
    while done < 2 and time.time() < deadline:
        time.sleep(0.1)
    sched.stop()
    assert done >= 2
    assert peak == 1


def test_invalid_cron_is_refused_naming_the_setting() -> None:
    with pytest.raises(ConfigError) as info:
        CronScheduler("t", "every minute", lambda a: None)
    assert info.value.field == "transform.cron"


def test_service_follows_settings(settings: Settings) -> None:
    sched = service.create(Runtime(settings))
    assert isinstance(sched, CronScheduler) and sched.cron == "* * * * *"
    off = Settings(data_dir=settings.data_dir, transform=TransformConfig(scheduler_enabled=False))
    assert service.create(Runtime(off)) is None
