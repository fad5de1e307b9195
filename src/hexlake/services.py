"""One model for every background job: ``BackgroundService``.

A service runs ``step()`` in its own thread, again and again: at once while ``step`` reports more
work, every ``interval_s`` when idle, and with exponential backoff plus jitter after a failure
(``backoff_base_s`` doubling up to ``backoff_max_s``, each delay shortened by up to ``jitter``
of itself so that peers restarting together spread out). It counts runs and errors, remembers the
last success and the last error, reports ``healthy`` (no error since the last success) and
exports the same numbers as Prometheus metrics labelled ``service``, served by ``/metrics``.

``stop()`` is bounded: it sets the stop event, joins for at most ``stop_timeout_s`` and returns
False (with a warning) if the unit of work is still blocked. The thread is a daemon, so a blocked
job never keeps the process alive.

The ``step`` decides what to do with the failed work itself (retry a ``Transient`` error, dead-
letter a ``Terminal`` one, see ``hexlake.errors.is_transient``); the service only paces and reports.
A service may own ``children`` (the stream consumers of ``StreamService``): they start and stop
with it and appear in ``statuses()``.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import msgspec

from hexlake.errors import is_transient

log = logging.getLogger("hexlake.services")


class _Metrics:
    """The services' Prometheus metrics, created on first use (the CLI never pays the import)."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge

        self.runs = Counter("hexlake_service_runs_total", "Units of work a background service finished",
                            ["service"])
        self.errors = Counter("hexlake_service_errors_total", "Failed units of work", ["service", "kind"])
        self.healthy = Gauge("hexlake_service_healthy", "1 if the service's last unit of work succeeded",
                             ["service"])
        self.consecutive = Gauge("hexlake_service_consecutive_errors", "Failures since the last success",
                                 ["service"])
        self.last_success = Gauge("hexlake_service_last_success_timestamp_seconds",
                                  "Epoch of the last success", ["service"])
        self.last_error = Gauge("hexlake_service_last_error_timestamp_seconds", "Epoch of the last failure",
                                ["service"])


@functools.cache
def metrics() -> _Metrics:
    return _Metrics()


class ServiceLike(Protocol):
    """What ``stop_all`` needs (``hexlake.plugins.BackgroundService`` has it)."""

    def stop(self, timeout_s: float | None = None) -> bool: ...


class ServiceStatus(msgspec.Struct, frozen=True):
    """What ``/readyz`` and ``hexlake status`` show for one service."""

    name: str
    running: bool
    healthy: bool
    runs: int
    errors: int
    consecutive_errors: int
    last_success_at: float | None
    last_error_at: float | None
    last_error: str | None
    next_delay_s: float


class BackgroundService:
    """Base of every long-running job: subclasses implement ``step()`` (and may override
    ``setup``/``teardown``/``drained``). Implements ``hexlake.plugins.BackgroundService``."""

    name: str = "service"

    def __init__(self, name: str | None = None, *, interval_s: float = 1.0, backoff_base_s: float | None = None,
                 backoff_max_s: float = 60.0, jitter: float = 0.2, stop_timeout_s: float = 10.0,
                 exit_when_drained: bool = False, clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None):
        self.name = name or type(self).name
        self.interval_s = interval_s
        self.backoff_base_s = max(backoff_base_s if backoff_base_s is not None else interval_s, 0.01)
        self.backoff_max_s = max(backoff_max_s, self.backoff_base_s)
        self.jitter = min(max(jitter, 0.0), 1.0)
        self.stop_timeout_s = stop_timeout_s
        self.exit_when_drained = exit_when_drained
        self.children: list[BackgroundService] = []
        self._clock, self._rng = clock, rng or random.Random()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.runs = self.errors = self.consecutive_errors = 0
        self.last_success_at: float | None = None
        self.last_error_at: float | None = None
        self.last_error: str | None = None
        self.next_delay_s = 0.0
        metrics().healthy.labels(self.name).set(1)

    # -- what subclasses provide -----------------------------------------------------------------
    def step(self) -> bool:
        """One unit of work; True if there is more to do right away (no sleep)."""
        raise NotImplementedError

    def setup(self) -> None:
        """Runs in the service thread before the first step (may wait on ``self.stopping``)."""

    def teardown(self) -> None:
        """Runs in the service thread after the last step, even after a failure."""

    def drained(self) -> bool:
        """With ``exit_when_drained``: True once an idle step means the work is all done."""
        return True

    # -- lifecycle -------------------------------------------------------------------------------
    @property
    def stopping(self) -> threading.Event:
        """Set when the service is asked to stop; wait on it instead of sleeping."""
        return self._stop

    def start(self) -> None:
        """Start the thread (and the children's); return at once. Idempotent while running."""
        for child in self.children:
            child.start()
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"hexlake-{self.name}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Set the stop events (this service's and its children's) without waiting."""
        self._stop.set()
        for child in self.children:
            child.request_stop()

    def stop(self, timeout_s: float | None = None) -> bool:
        """Ask to stop, wait at most ``timeout_s`` (default ``stop_timeout_s``) for this service and
        its children together; True if every thread ended in time."""
        deadline = time.monotonic() + (self.stop_timeout_s if timeout_s is None else timeout_s)
        self.request_stop()
        done = all([child.stop(max(deadline - time.monotonic(), 0.0)) for child in self.children])
        return self._join(deadline) and done

    def _join(self, deadline: float) -> bool:
        thread = self._thread
        if thread is None:
            return True
        thread.join(max(deadline - time.monotonic(), 0.0))
        if thread.is_alive():
            log.warning("service %s did not stop in time; leaving its daemon thread behind", self.name)
            return False
        self._thread = None
        return True

    def join(self, timeout_s: float | None = None) -> None:
        """Wait for the thread to end on its own (``exit_when_drained``) or after ``stop``."""
        if self._thread is not None:
            self._thread.join(timeout_s)

    def run_until(self, stop: threading.Event, poll_s: float = 0.1) -> None:
        """Run until ``stop`` is set or the service ends on its own, then stop (bounded)."""
        self.start()
        while self.running and not stop.wait(poll_s):
            pass
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the loop --------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stop.is_set() and not self._call(self.setup, count=False):
                self._stop.wait(self.next_delay_s)
            while not self._stop.is_set():
                busy = self._call(self.step)
                if busy is None:  # failed: back off
                    self._stop.wait(self.next_delay_s)
                elif not busy:
                    if self.exit_when_drained and self._call(self.drained, count=False):
                        return
                    self._stop.wait(self.interval_s)
        finally:
            self._call(self.teardown, count=False, record=False)

    def _call(self, fn: Callable[[], bool | None], *, count: bool = True, record: bool = True) -> bool | None:
        """Run ``fn``; record a failure (``record``) and a success (``count``); None if it raised."""
        try:
            result = fn()
        except Exception as exc:  # the service must outlive any one unit of work
            if record:
                self.record_failure(exc)
            else:
                log.exception("service %s: %s failed", self.name, getattr(fn, "__name__", "call"))
            return None
        if count and not (result is False and self._stop.is_set()):  # stopped before any work
            self.record_success()
        return True if result is None else bool(result)

    # -- health ----------------------------------------------------------------------------------
    def record_success(self) -> None:
        with self._lock:
            self.runs += 1
            self.consecutive_errors = 0
            self.last_success_at = self._clock()
            self.next_delay_s = 0.0
        m = metrics()
        m.runs.labels(self.name).inc()
        m.healthy.labels(self.name).set(1)
        m.consecutive.labels(self.name).set(0)
        m.last_success.labels(self.name).set(self.last_success_at)

    def record_failure(self, exc: BaseException) -> None:
        kind = "transient" if is_transient(exc) else "terminal"
        with self._lock:
            self.errors += 1
            self.consecutive_errors += 1
            self.last_error_at = self._clock()
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.next_delay_s = self.backoff(self.consecutive_errors)
        m = metrics()
        m.errors.labels(self.name, kind).inc()
        m.healthy.labels(self.name).set(0)
        m.consecutive.labels(self.name).set(self.consecutive_errors)
        m.last_error.labels(self.name).set(self.last_error_at)
        log.error("service %s failed (%s, %d in a row); retrying in %.2fs: %s", self.name, kind,
                  self.consecutive_errors, self.next_delay_s, self.last_error,
                  exc_info=(type(exc), exc, exc.__traceback__))

    def backoff(self, failures: int) -> float:
        """Delay after ``failures`` failures in a row: base·2^(n−1), capped, minus up to ``jitter``."""
        delay = min(self.backoff_base_s * 2.0 ** min(max(failures - 1, 0), 62), self.backoff_max_s)
        return delay * (1.0 - self.jitter * self._rng.random())

    @property
    def healthy(self) -> bool:
        """No failure since the last success (children included)."""
        return self.consecutive_errors == 0 and all(c.healthy for c in self.children)

    def status(self) -> ServiceStatus:
        with self._lock:
            return ServiceStatus(self.name, self.running, self.consecutive_errors == 0, self.runs, self.errors,
                                 self.consecutive_errors, self.last_success_at, self.last_error_at,
                                 self.last_error, self.next_delay_s)

    def statuses(self) -> list[ServiceStatus]:
        """This service's status followed by its children's."""
        return [self.status(), *(s for c in self.children for s in c.statuses())]


def stop_all(services: Sequence[ServiceLike], timeout_s: float = 10.0) -> bool:
    """Stop ``services`` with one shared deadline: every stop event is set first, so they wind down
    in parallel (a SIGTERM'd process exits within ``timeout_s``). True if all ended in time."""
    deadline = time.monotonic() + timeout_s
    for service in services:
        if isinstance(service, BackgroundService):
            service.request_stop()
    return all([s.stop(max(deadline - time.monotonic(), 0.0)) for s in reversed(services)])


class FunctionService(BackgroundService):
    """A service around a plain function: ``fn()`` is one unit of work (True: more to do now)."""

    def __init__(self, name: str, fn: Callable[[], bool | None], **kwargs: Any):
        super().__init__(name, **kwargs)
        self._fn = fn

    def step(self) -> bool:
        return bool(self._fn())


__all__ = ["BackgroundService", "FunctionService", "ServiceLike", "ServiceStatus", "stop_all"]
