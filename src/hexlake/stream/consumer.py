"""The micro-batch consumer: log → dedupe → watermark → operator → one state commit → sinks → ack.

Delivery is at-least-once from the log; the consumer makes it exactly-once in effect:

1. deliver any outbox left by a previous run (sinks are idempotent);
2. lease up to ``batch_size`` messages; skip offsets (and recent event ids) already processed;
3. split late events (watermark minus allowed lateness) into the late side output;
4. let the operator update its state and emit outputs;
5. commit processed offsets + state + late rows + outbox in ONE SQLite transaction;
6. deliver the outbox, then ack the log.

A crash between any two steps repeats work that is skipped or overwritten. Backpressure: the
consumer never leases more than one batch, and stops leasing while the outbox is above
``max_outbox`` (a sink is down), so the backlog stays in the durable log and shows as lag.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import msgspec
import orjson

from hexlake.errors import HexlakeError, Transient
from hexlake.gate.envelope import Event, decode_event
from hexlake.log.failures import settle_failed_batch
from hexlake.log.protocol import EventLog, LogMessage
from hexlake.services import BackgroundService
from hexlake.stream import metrics
from hexlake.stream.state import GroupMeta, LateEvent, StreamState
from hexlake.stream.timeutil import Watermark, epoch

log = logging.getLogger("hexlake.stream")

Sink = Callable[[int, Any], None]
"""Delivers one outbox payload; receives the outbox id (a stable idempotency key)."""


class BatchOutput:
    """What an operator changes in one batch: state rows (None deletes) and outputs per sink."""

    def __init__(self) -> None:
        self.state: dict[str, bytes | None] = {}
        self.outbox: list[tuple[str, bytes]] = []

    def put(self, key: str, value: bytes | None) -> None:
        self.state[key] = value

    def emit(self, sink: str, payload: Any) -> None:
        self.outbox.append((sink, orjson.dumps(payload)))


class Operator(Protocol):
    """A stateful stream operator run by a ``Consumer`` (one consumer group each)."""

    group: str

    def load(self, state: dict[str, bytes]) -> None:
        """Replace in-memory state with the committed rows (start-up and after a failed batch)."""
        ...

    def process(self, events: Sequence[Event], out: BatchOutput, watermark: Watermark) -> None:
        """Apply on-time events (arrival order); record dirty state and outputs in ``out``."""
        ...


class ConsumerOptions(msgspec.Struct, frozen=True, kw_only=True):
    batch_size: int = 1000
    allowed_lateness_s: float = 60.0
    idle_sleep_s: float = 0.05
    max_outbox: int = 1000
    sink_retry_max_s: float = 30.0
    dedupe_window: int = 100_000
    visibility_timeout_s: float | None = None
    # Clock bounds (docs/concepts.md): an event stamped more than this after it was received never
    # moves the watermark, and a persisted watermark beyond now + this is clamped on start.
    max_future_s: float = 86_400.0
    # Imports and backfills (gate.historical_sources): kept out of the live operators.
    historical_sources: frozenset[str] = frozenset({"takeout"})


class Consumer:
    def __init__(
        self,
        log_: EventLog,
        state: StreamState,
        operator: Operator,
        sinks: dict[str, Sink],
        options: ConsumerOptions,
        *,
        name: str = "c1",
        reload_epoch: Callable[[], int] | None = None,
    ):
        """``reload_epoch``: a counter that changes when someone else edited this group's state file
        (a privacy erasure); the consumer then reloads its in-memory state before the next batch."""
        self.log, self.state, self.op, self.sinks = log_, state, operator, sinks
        self._reload_epoch = reload_epoch
        self._epoch = reload_epoch() if reload_epoch is not None else 0
        self.opts, self.name, self.group = options, name, operator.group
        self._sink_backoff_s = 0.0
        self._sink_retry_at = 0.0
        self.sink_error: str | None = None  # the last sink failure, until a delivery succeeds
        self.log.create_group(self.group, from_start=True)
        self._restore()

    def _restore(self) -> None:
        meta = self.state.meta(self.group)
        self.meta = meta
        # A watermark poisoned by a bad clock before bounds existed heals here (never past now + skew).
        ceiling = time.time() + self.opts.max_future_s
        self.wm = Watermark(self.opts.allowed_lateness_s,
                            min(meta.watermark, ceiling) if meta.watermark is not None else -1e18)
        self.op.load(self.state.load_state(self.group))
        ids = self.state.recent_event_ids(self.group, self.opts.dedupe_window)
        self._recent: collections.OrderedDict[str, None] = collections.OrderedDict.fromkeys(reversed(ids))

    # -- one step ------------------------------------------------------------------------------
    def step(self) -> int:
        """Run one micro-batch; return the number of messages handled (0 when idle or blocked)."""
        if self._reload_epoch is not None and self._reload_epoch() != self._epoch:
            self._epoch = self._reload_epoch()
            self._restore()  # the state file was edited under us (an erasure): forget what it forgot
        if not self.deliver_outbox():
            return 0  # backpressure: a sink is failing, leave the backlog in the log
        msgs = self.log.read(self.group, self.name, self.opts.batch_size,
                             visibility_timeout_s=self.opts.visibility_timeout_s)
        if not msgs:
            return 0
        started = time.perf_counter()
        decoded, bad = _split_undecodable(msgs)
        for m, why in bad:  # no decoder understands it: terminal, retrying cannot help
            self.log.nack(self.group, [m.offset], f"undecodable payload: {why}", retry=False)
        if not decoded:
            return len(bad)
        try:
            self._process(decoded)
        except Exception as exc:
            metrics.FAILURES.labels(self.group).inc()
            self._restore()  # drop half-applied in-memory state
            events = {m.offset: ev for m, ev in decoded}
            # transient: nack all and re-raise (the service backs off); terminal: dead-letter the culprits
            settle_failed_batch(self.log, self.group, [m for m, _ in decoded], exc,
                                lambda m: self._process_one(m, events[m.offset]))
        else:
            self.log.ack(self.group, [m.offset for m, _ in decoded])
        self.deliver_outbox()
        metrics.BATCH_SECONDS.labels(self.group).observe(time.perf_counter() - started)
        return len(msgs)

    def _process_one(self, message: LogMessage, event: Event) -> None:
        """Process and ack one message alone (isolating a poison message); no partial state on error."""
        try:
            self._process([(message, event)])
        except Exception:
            self._restore()
            raise
        self.log.ack(self.group, [message.offset])

    def _process(self, msgs: list[tuple[LogMessage, Event]]) -> None:
        done = self.state.processed_offsets(self.group, [m.offset for m, _ in msgs])
        fresh: list[tuple[LogMessage, Event]] = []
        dup = 0
        for m, ev in msgs:
            if m.offset in done or m.event_id in self._recent:
                dup += 1
                continue
            fresh.append((m, ev))
        on_time, late = self._split_late(fresh)
        out = BatchOutput()
        if on_time:
            self.op.process(on_time, out, self.wm)
        meta = self.meta
        meta = GroupMeta(self.wm.max_ts if fresh or meta.watermark is not None else None,
                         meta.events + len(on_time), meta.late + len(late), meta.duplicates + dup,
                         meta.batches + 1)
        processed = [(m.offset, m.event_id) for m, _ in fresh]
        self.state.commit_batch(self.group, processed=processed, late=late, state=out.state,
                                outbox=out.outbox, meta=meta)
        self.meta = meta
        for _, eid in processed:
            self._remember(eid)
        metrics.EVENTS.labels(self.group).inc(len(on_time))
        metrics.LATE.labels(self.group).inc(len(late))
        metrics.DUPLICATES.labels(self.group).inc(dup)
        metrics.WATERMARK.labels(self.group).set(max(self.wm.max_ts, 0))

    def _split_late(self, fresh: list[tuple[LogMessage, Event]]) -> tuple[list[Event], list[LateEvent]]:
        on_time: list[Event] = []
        late: list[LateEvent] = []
        for m, ev in fresh:
            ts = epoch(ev.ts)
            if self._out_of_bounds(ev, ts) or self.wm.observe(ts):
                late.append(LateEvent(m.offset, ev.event_id, ev.event_type, ev.user_key, ts, self.wm.max_ts,
                                      self.wm.max_ts - ts, m.payload))
            else:
                on_time.append(ev)
        return on_time, late

    def _out_of_bounds(self, ev: Event, ts: float) -> bool:
        """Events the live operators never see and that never move the watermark: stamped beyond
        their arrival + max_future, or from a historical source (they reach the warehouse only)."""
        return ev.source in self.opts.historical_sources or ts > epoch(ev.received_at) + self.opts.max_future_s

    def _remember(self, event_id: str) -> None:
        self._recent[event_id] = None
        if len(self._recent) > self.opts.dedupe_window:
            self._recent.popitem(last=False)

    # -- sinks ---------------------------------------------------------------------------------
    def deliver_outbox(self) -> bool:
        """Deliver pending outputs in order; False while the outbox is over its limit (backpressure)."""
        if time.monotonic() < self._sink_retry_at:
            return self.state.outbox_size(self.group) <= self.opts.max_outbox
        while True:
            items = self.state.pending_outbox(self.group)
            if not items:
                break
            delivered: list[int] = []
            try:
                for item in items:
                    self.sinks[item.sink](item.id, orjson.loads(item.payload))
                    delivered.append(item.id)
            except Exception as exc:  # sinks are idempotent: every failure is retried (outbox kept)
                self.sink_error = f"sink {item.sink}: {type(exc).__name__}: {exc}"
                metrics.SINK_ERRORS.labels(self.group, item.sink).inc()
                log.exception("stream sink failed; will retry", extra={"group": self.group, "sink": item.sink})
                self.state.outbox_done(delivered)
                self._sink_backoff_s = min(max(self._sink_backoff_s * 2, 0.1), self.opts.sink_retry_max_s)
                self._sink_retry_at = time.monotonic() + self._sink_backoff_s
                break
            self.state.outbox_done(delivered)
            self._sink_backoff_s = 0.0
            self.sink_error = None
        pending = self.state.outbox_size(self.group)
        metrics.OUTBOX.labels(self.group).set(pending)
        return pending <= self.opts.max_outbox

    # -- loop ----------------------------------------------------------------------------------
    def run(self, stop: threading.Event, *, until_idle: bool = False) -> None:
        """Run as a ``ConsumerService`` until ``stop`` is set (finishing the current batch), or
        until idle if asked."""
        ConsumerService(self, exit_when_drained=until_idle).run_until(stop)

    def drained(self) -> bool:
        """Nothing left: the outbox is delivered and the group has no lag."""
        return self.state.outbox_size(self.group) == 0 and self.update_lag() == 0

    def await_orphaned_leases(self, stop: threading.Event) -> None:
        """After a crash, wait for the dead process's leases to expire before reading on.

        Otherwise newer messages would be processed first and push the watermark past the
        redelivered ones, turning them into late events: the restart would not equal a clean run.
        """
        while not stop.is_set():
            status = [s for s in self.log.status() if s.group == self.group]
            if not status or status[0].in_flight == 0:
                return
            log.info("waiting for %d orphaned leases of %s", status[0].in_flight, self.group)
            stop.wait(0.2)

    def update_lag(self) -> int:
        """Refresh the lag gauge from the log; return the group's lag."""
        lag = 0
        for status in self.log.status():
            if status.group == self.group:
                lag = status.lag
                metrics.LAG.labels(self.group).set(lag)
        return lag


class SinkUnavailable(HexlakeError, Transient):
    """A sink keeps failing; the consumer holds its outputs in the outbox and retries."""


class ConsumerService(BackgroundService):
    """A ``Consumer`` as a background service: a batch after another, ``idle_sleep_s`` when idle,
    backoff on failures (the log unreachable, a transient error in the batch)."""

    def __init__(self, consumer: Consumer, *, exit_when_drained: bool = False, backoff_max_s: float = 30.0):
        super().__init__(f"stream-{consumer.group}", interval_s=consumer.opts.idle_sleep_s,
                         backoff_base_s=max(consumer.opts.idle_sleep_s, 0.5), backoff_max_s=backoff_max_s,
                         exit_when_drained=exit_when_drained)
        self.consumer = consumer

    def setup(self) -> None:
        self.consumer.await_orphaned_leases(self.stopping)

    def step(self) -> bool:
        try:
            handled = self.consumer.step()
        except Exception:
            self.consumer._restore()  # a failed read or commit may have left in-memory state ahead
            raise
        if not handled and self.consumer.sink_error:  # blocked on a sink: unhealthy, back off
            raise SinkUnavailable(f"stream group {self.consumer.group} waits for a failing "
                                  f"{self.consumer.sink_error}; outputs stay in its outbox")
        return handled > 0

    def drained(self) -> bool:
        return self.consumer.drained()


def _split_undecodable(
    msgs: list[LogMessage],
) -> tuple[list[tuple[LogMessage, Event]], list[tuple[LogMessage, str]]]:
    good: list[tuple[LogMessage, Event]] = []
    bad: list[tuple[LogMessage, str]] = []
    for m in msgs:
        try:
            good.append((m, decode_event(m.payload)))
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            bad.append((m, str(exc)))
    return good, bad
