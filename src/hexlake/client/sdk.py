"""``hexlake.client.Client``: the Python SDK. Cheap calls in the app thread, delivery in a worker.

``track()`` and friends only stamp the time, generate the UUIDv7 ``event_id`` and append a tuple
to a bounded in-memory deque (a few µs). A daemon worker turns tuples into native events, batches
them (``batch_size`` or every ``flush_interval`` seconds), and delivers them through ``Transport``
(gzip, retries with backoff + jitter, same ids on every retry). With ``disk_queue=PATH`` the worker
first writes each batch to a SQLite queue and deletes it only once acknowledged: events survive a
crash of the app and a server that is down for hours, and are resent at the next start.
``sync=True`` sends every call before returning (scripts, tests) and raises on failure.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from uuid_utils import uuid7

from hexlake.client.disk import DiskQueue
from hexlake.client.errors import DeliveryError, EventsRejected
from hexlake.client.transport import Backoff, Outcome, Transport

log = logging.getLogger("hexlake.client")

ErrorHandler = Callable[[Exception, list[dict[str, Any]]], None]

# Tuple slots of a queued call (a tuple is the cheapest thing to build in the app thread).
_ID, _TYPE, _TS, _PROPS, _USER, _ANON, _EXTRA = range(7)


def _native(item: tuple[Any, ...], context: dict[str, Any] | None) -> dict[str, Any]:
    """A queued tuple → the native input dict sent to ``/v1/events``."""
    ts = item[_TS]
    if isinstance(ts, float):
        ts = int(ts * 1000)  # epoch ms: what time.time() gave in the app thread
    elif isinstance(ts, datetime):
        ts = ts.isoformat()
    event: dict[str, Any] = {"event_id": item[_ID], "event_type": item[_TYPE], "timestamp": ts}
    if item[_PROPS]:
        event["properties"] = item[_PROPS]
    if item[_USER] is not None:
        event["user_id"] = item[_USER]
    if item[_ANON] is not None:
        event["anonymous_id"] = item[_ANON]
    extra = item[_EXTRA]
    if extra:
        event.update({k: v for k, v in extra.items() if v is not None})
    if context:
        event["context"] = {**context, **event.get("context", {})}
    return event


class Client:
    """Send events to a hexlake server; see docs/sdk.md.

    ``host``: the server's base URL. ``batch_size``/``flush_interval``: send when this many events
    are queued or this many seconds passed. ``max_queue_size``: bound of the in-memory queue; when
    full, calls return ``None`` and count in ``stats["dropped"]`` (nothing else is ever dropped
    silently). ``disk_queue``: path of a SQLite file that makes the queue crash-proof.
    ``max_retries``: ``None`` retries for ever in the background (5 in sync mode).
    ``on_error(exc, events)``: called for events that were refused or, at shutdown, not delivered.
    """

    def __init__(
        self,
        write_key: str,
        host: str = "http://127.0.0.1:8600",
        *,
        batch_size: int = 250,
        flush_interval: float = 0.5,
        max_queue_size: int = 100_000,
        gzip: bool = True,
        timeout: float = 10.0,
        sync: bool = False,
        disk_queue: str | Path | None = None,
        max_retries: int | None = None,
        backoff_base: float = 0.25,
        backoff_max: float = 30.0,
        shutdown_timeout: float = 10.0,
        context: dict[str, Any] | None = None,
        on_error: ErrorHandler | None = None,
    ):
        if not write_key:
            raise ValueError("write_key is required (hexlake sources create NAME prints one)")
        self.batch_size, self.flush_interval = max(1, batch_size), flush_interval
        self.max_queue_size, self.shutdown_timeout = max_queue_size, shutdown_timeout
        self.sync = sync
        self.max_retries = (5 if sync else None) if max_retries is None else max_retries
        self.on_error = on_error
        self._context = {"library": {"name": "hexlake-python", "version": _version()}, **(context or {})}
        self._transport = Transport(write_key, host, gzip=gzip, timeout=timeout,
                                    backoff=Backoff(backoff_base, backoff_max))
        self._queue: deque[tuple[Any, ...]] = deque()
        self._disk = DiskQueue(disk_queue) if disk_queue is not None and not sync else None
        self._stats = {"sent": 0, "accepted": 0, "duplicates": 0, "quarantined": 0, "rejected": 0,
                       "dropped": 0, "failed": 0}
        self._inflight = 0
        self._wake, self._stop, self._flush_req = threading.Event(), threading.Event(), threading.Event()
        self._stop_deadline = float("inf")
        self._closed = False
        self._worker: threading.Thread | None = None
        if not sync:
            self._worker = threading.Thread(target=self._run, name="hexlake-client", daemon=True)
            self._worker.start()
        # A weak reference so registering does not keep a forgotten client alive.
        atexit.register(_shutdown_at_exit, weakref.ref(self))

    # ---- public calls (app thread) -------------------------------------------------------------

    def track(
        self,
        event_type: str,
        properties: dict[str, Any] | None = None,
        *,
        user_id: str | int | None = None,
        anonymous_id: str | None = None,
        timestamp: datetime | str | None = None,
        session_id: str | None = None,
        context: dict[str, Any] | None = None,
        consent: dict[str, bool] | None = None,
        event_id: str | None = None,
    ) -> str | None:
        """Queue one event of ``event_type``; return its ``event_id`` (None if the queue was full)."""
        extra = None
        if session_id is not None or context is not None or consent is not None:
            extra = {"session_id": session_id, "context": context, "consent": consent}
        return self._enqueue((event_id or str(uuid7()), event_type, timestamp or time.time(),
                              dict(properties) if properties else None, user_id, anonymous_id, extra))

    def identify(self, user_id: str | int, traits: dict[str, Any] | None = None, *,
                 anonymous_id: str | None = None, timestamp: datetime | str | None = None,
                 context: dict[str, Any] | None = None) -> str | None:
        """Tie ``user_id`` (hashed by the server) to ``traits``; PII traits are hashed or dropped there."""
        extra = {"traits": dict(traits or {}), "context": context}
        return self._enqueue((str(uuid7()), "identify", timestamp or time.time(), None, user_id,
                              anonymous_id, extra))

    def page(self, name: str, properties: dict[str, Any] | None = None, **ids: Any) -> str | None:
        """A web page view (``event_type`` ``page``, ``properties.name`` = ``name``)."""
        return self.track("page", {**(properties or {}), "name": name}, **ids)

    def screen(self, name: str, properties: dict[str, Any] | None = None, **ids: Any) -> str | None:
        """A mobile screen view (``event_type`` ``screen``, ``properties.name`` = ``name``)."""
        return self.track("screen", {**(properties or {}), "name": name}, **ids)

    def location(self, lat: float, lng: float, accuracy: float | None = None, *,
                 user_id: str | int | None = None, anonymous_id: str | None = None,
                 consent: dict[str, bool] | None = None, properties: dict[str, Any] | None = None,
                 timestamp: datetime | str | None = None, session_id: str | None = None) -> str | None:
        """A ``location_ping``; without ``consent={"precise_location": True}`` the server coarsens it."""
        loc: dict[str, float] = {"lat": lat, "lng": lng}
        if accuracy is not None:
            loc["accuracy"] = accuracy
        extra = {"location": loc, "consent": consent, "session_id": session_id}
        return self._enqueue((str(uuid7()), "location_ping", timestamp or time.time(),
                              dict(properties) if properties else None, user_id, anonymous_id, extra))

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued now; wait until delivered (True) or ``timeout`` seconds (False)."""
        if self.sync or self._worker is None:
            return True
        deadline = time.monotonic() + (self.shutdown_timeout if timeout is None else timeout)
        self._flush_req.set()
        self._wake.set()
        try:
            while self.pending() and time.monotonic() < deadline and self._worker.is_alive():
                time.sleep(0.005)
        finally:
            self._flush_req.clear()
        return not self.pending()

    def shutdown(self, timeout: float | None = None) -> None:
        """Flush (retrying up to ``timeout`` seconds), stop the worker and close the queue file."""
        if self._closed:
            return
        self._closed = True
        if self._worker is not None:
            self._stop_deadline = time.monotonic() + (self.shutdown_timeout if timeout is None else timeout)
            self._stop.set()
            self._wake.set()
            self._worker.join()
        self._transport.close()
        if self._disk is not None:
            self._disk.close()

    def pending(self) -> int:
        """Events accepted by this client and not yet acknowledged by the server."""
        on_disk = self._disk.count() if self._disk is not None and not self._closed else 0
        return len(self._queue) + self._inflight + on_disk

    @property
    def stats(self) -> dict[str, int]:
        """Counters: sent, accepted, duplicates, quarantined, rejected, dropped, failed, retries."""
        return {**self._stats, "retries": self._transport.retries, "pending": self.pending()}

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # ---- queueing ------------------------------------------------------------------------------

    def _enqueue(self, item: tuple[Any, ...]) -> str | None:
        if self.sync:
            self._deliver([_native(item, self._context)])
            return str(item[_ID])
        queue = self._queue
        if len(queue) >= self.max_queue_size or self._closed:
            self._stats["dropped"] += 1
            return None
        queue.append(item)
        if len(queue) >= self.batch_size and not self._wake.is_set():
            self._wake.set()
        return str(item[_ID])

    def _take(self) -> list[dict[str, Any]]:
        """Pop up to a batch; counted in ``_inflight`` before leaving the queue (flush never
        sees an empty client while a batch is between the queue and the server)."""
        queue = self._queue
        out: list[dict[str, Any]] = []
        while queue and len(out) < self.batch_size:
            self._inflight += 1
            out.append(_native(queue.popleft(), self._context))
        return out

    # ---- worker --------------------------------------------------------------------------------

    def _run(self) -> None:
        last_send = time.monotonic()
        tick = min(self.flush_interval, 0.05) if self._disk is not None else self.flush_interval
        while True:
            stopping = self._stop.is_set()
            if not stopping and len(self._queue) < self.batch_size and not self._flush_req.is_set():
                self._wake.wait(tick)
            self._wake.clear()
            self._persist()
            due = (stopping or self._flush_req.is_set() or len(self._queue) >= self.batch_size
                   or time.monotonic() - last_send >= self.flush_interval)
            if due:
                self._drain()
                last_send = time.monotonic()
            if stopping:
                self._drain()
                self._report_leftovers()
                return

    def _persist(self) -> None:
        """Disk mode: move everything queued in memory to the SQLite queue (crash-proof from here)."""
        if self._disk is None:
            return
        while self._queue:
            batch = self._take()
            try:
                self._disk.put(batch)
            finally:
                self._inflight -= len(batch)

    def _drain(self) -> None:
        """Deliver all queued events batch by batch (stops early only when shutdown time is up)."""
        try:
            if self._disk is not None:
                while rows := self._disk.peek(self.batch_size):
                    self._deliver([event for _, event in rows])
                    self._disk.delete([row_id for row_id, _ in rows])
                    self._persist()
            else:
                while self._queue:
                    batch = self._take()
                    try:
                        self._deliver(batch)
                    finally:
                        self._inflight -= len(batch)
        except DeliveryError:
            return  # shutdown deadline reached with the server still failing: see _report_leftovers

    def _give_up(self, attempt: int) -> bool:
        if self.max_retries is not None and attempt >= self.max_retries:
            return True
        return self._stop.is_set() and time.monotonic() >= self._stop_deadline

    def _sleep(self, seconds: float) -> None:
        """Back off, but keep persisting new calls (disk mode) and wake up for shutdown."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if self._stop.is_set() and time.monotonic() >= self._stop_deadline:
                return
            self._stop.wait(min(left, 0.05))
            self._persist()

    def _deliver(self, events: list[dict[str, Any]]) -> None:
        try:
            outcome: Outcome = self._transport.send(
                events, give_up=self._give_up, sleep=None if self.sync else self._sleep)
        except EventsRejected as exc:
            self._stats["rejected"] += len(events)
            self._report(exc, events)
            return
        except DeliveryError as exc:
            if self.sync:
                raise
            if self._disk is None:
                self._stats["failed"] += len(events)
                self._report(exc, events)
            raise
        self._count(outcome, events)

    def _count(self, outcome: Outcome, events: list[dict[str, Any]]) -> None:
        stats = self._stats
        stats["sent"] += len(events)
        stats["accepted"] += outcome.accepted
        stats["duplicates"] += outcome.duplicates
        stats["quarantined"] += outcome.quarantined
        if outcome.errors:
            stats["rejected"] += len(outcome.errors)
            refused = [events[e["index"]] for e in outcome.errors if 0 <= e.get("index", -1) < len(events)]
            messages = "; ".join(str(m.get("message", m)) for e in outcome.errors[:3]
                                 for m in e.get("messages", [])[:1])
            self._report(EventsRejected(f"{len(outcome.errors)} events refused: {messages}",
                                        details=outcome.errors), refused)

    def _report(self, exc: Exception, events: list[dict[str, Any]]) -> None:
        if self.sync and isinstance(exc, EventsRejected):
            raise exc
        log.error("hexlake client: %s", exc)
        if self.on_error is not None:
            try:
                self.on_error(exc, events)
            except Exception:  # a failing callback must not kill the worker
                log.exception("on_error callback failed")

    def _report_leftovers(self) -> None:
        if self._disk is not None:
            left = self._disk.count()
            if left:
                log.warning("hexlake client: %d events kept in %s; sent at next start", left, self._disk.path)
            return
        lost = [_native(item, self._context) for item in self._queue]
        self._queue.clear()
        if lost:
            self._stats["failed"] += len(lost)
            self._report(DeliveryError(f"{len(lost)} events not delivered before shutdown"), lost)


def _shutdown_at_exit(ref: weakref.ref[Client]) -> None:
    client = ref()
    if client is not None:
        client.shutdown()


def _version() -> str:
    from hexlake import __version__

    return __version__


__all__ = ["Client"]
