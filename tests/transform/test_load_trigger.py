"""The scheduler runs the transform as soon as the loader loaded new events (``transform.on_load``),
idles without new loads until its cron tick, and does not retry a failed run on every load."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

from hexlake.config import Settings
from hexlake.errors import TransformError
from hexlake.ops.scheduler import CronScheduler
from hexlake.runtime import Runtime
from hexlake.transform import service
from hexlake.transform.config import TransformConfig
from tests.transform.conftest import append_to_log, load_log, now_minute
from tests.transform.events import ev

NEVER_SOON = "0 0 1 1 *"  # next tick months away: only loads can trigger a run here


def _wait_for(cond: Callable[[], bool], timeout_s: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def test_a_new_load_triggers_a_run_and_no_new_load_triggers_none() -> None:
    newest: list[int | None] = [None]
    runs: list[int] = []
    sched = service.LoadTriggeredScheduler("t", NEVER_SOON, lambda attempt: runs.append(attempt),
                                           lambda: newest[0], poll_s=0.02)
    sched.start()
    try:
        time.sleep(0.2)
        assert runs == []  # nothing loaded yet
        newest[0] = 7
        assert _wait_for(lambda: len(runs) == 1)
        time.sleep(0.2)
        assert len(runs) == 1  # the same newest load: no second run
        newest[0] = 9
        assert _wait_for(lambda: len(runs) == 2)
    finally:
        assert sched.stop(timeout_s=2.0)


def test_after_a_failed_run_new_loads_wait_for_the_tick() -> None:
    newest = [1]
    runs: list[int] = []
    failed = threading.Event()

    def job(attempt: int) -> None:
        runs.append(attempt)
        failed.set()
        raise TransformError("audit not_null failed")

    sched = service.LoadTriggeredScheduler("t", NEVER_SOON, job, lambda: newest[0], poll_s=0.02)
    sched.start()
    try:
        assert failed.wait(3.0)
        newest[0] = 2
        time.sleep(0.3)
        assert runs == [1]  # not retried on the next load: the cron tick retries it
    finally:
        assert sched.stop(timeout_s=2.0)


def test_the_loader_moves_the_trigger_and_the_setting_turns_it_off(settings: Settings) -> None:
    runtime = Runtime(settings)  # on by default
    try:
        sched = service.create(runtime)
        assert isinstance(sched, service.LoadTriggeredScheduler)
        t0 = now_minute()
        append_to_log(runtime, [ev("e-1", "track", t0 - timedelta(minutes=1), "u-1")], timedelta(seconds=1))
        assert load_log(runtime) == 1
        first = service.newest_load(runtime)
        assert first is not None
        append_to_log(runtime, [ev("e-2", "track", t0, "u-1")], timedelta(seconds=1))
        assert load_log(runtime) == 1
        second = service.newest_load(runtime)
        assert second is not None and second > first
    finally:
        runtime.close()
    off = settings.model_copy(update={"transform": TransformConfig(on_load=False)})
    plain = service.create(Runtime(off))  # cron ticks only
    assert isinstance(plain, CronScheduler) and not isinstance(plain, service.LoadTriggeredScheduler)
