"""The cron scheduler: retries with backoff, no overlapping runs, invalid cron refused."""

from __future__ import annotations

import threading
import time

import pytest

from hexlake.config import Settings
from hexlake.errors import ConfigError
from hexlake.ops.scheduler import CronScheduler
from hexlake.runtime import Runtime
from hexlake.transform import service
from hexlake.transform.config import TransformConfig


def test_failing_job_is_retried_until_it_succeeds() -> None:
    attempts: list[int] = []

    def job(attempt: int) -> None:
        attempts.append(attempt)
        if attempt < 3:
            raise RuntimeError("flaky")

    sched = CronScheduler("t", "* * * * *", job, retries=3, backoff_s=0.0)
    assert sched.run_once() is True
    assert attempts == [1, 2, 3]


def test_job_failing_every_attempt_gives_up_after_retries() -> None:
    attempts: list[int] = []

    def job(attempt: int) -> None:
        attempts.append(attempt)
        raise RuntimeError("down")

    sched = CronScheduler("t", "* * * * *", job, retries=2, backoff_s=0.0)
    assert sched.run_once() is False
    assert attempts == [1, 2]


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
