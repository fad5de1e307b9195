"""Wiring: build the three consumers of a runtime (counters, user windows, geofences) and run them.

Used by the server's background service and by ``python -m hexlake.stream.worker``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hexlake.errors import ConfigError
from hexlake.features import get_online_store
from hexlake.gate.envelope import SourceInfo
from hexlake.privacy.suppression import get_suppression, suppressing
from hexlake.runtime import Runtime
from hexlake.services import BackgroundService
from hexlake.stream.consumer import Consumer, ConsumerOptions, ConsumerService
from hexlake.stream.counters import GROUP as counters_group
from hexlake.stream.counters import CounterOperator, CounterStore, SqliteCounterStore
from hexlake.stream.geofence_op import GeofenceOperator
from hexlake.stream.geofence_store import GeofenceStore
from hexlake.stream.sinks import OfflineFeatureTable, counters_sink, derived_sink, online_sink
from hexlake.stream.state import StreamState, group_state_path, stream_db_path
from hexlake.stream.user_windows import GROUP as features_group
from hexlake.stream.user_windows import UserWindowOperator
from hexlake.stream.webhooks import WebhookQueue, webhook_key
from hexlake.warehouse.protocol import Warehouse

log = logging.getLogger("hexlake.stream")
ALL = ("counters", "features", "geofences")
STREAM_SOURCE = SourceInfo(name="hexlake-stream", unknown_events="accept", internal=True)


def state_path(runtime: Runtime) -> Path:
    return stream_db_path(runtime.settings)


def get_counter_store(runtime: Runtime) -> CounterStore:
    url = runtime.settings.resolved_online_url()
    if url.startswith(("redis://", "rediss://")):  # realtime counters live next to the online features
        from hexlake.features import open_redis_counters

        return runtime.resource("stream.counters", lambda rt: open_redis_counters(
            url, namespace=f"{state_path(rt).resolve()}:"))
    return runtime.resource("stream.counters", lambda rt: SqliteCounterStore(state_path(rt)))


def get_geofence_store(runtime: Runtime) -> GeofenceStore:
    return runtime.resource("stream.geofences", lambda rt: GeofenceStore(state_path(rt)))


def get_warehouse_for(runtime: Runtime) -> Warehouse:
    from hexlake.warehouse import get_warehouse

    return get_warehouse(runtime)


def webhook_queue(runtime: Runtime) -> WebhookQueue:
    from hexlake.privacy.secret import load_secret

    cfg = runtime.settings.stream
    return WebhookQueue(state_path(runtime), webhook_key(load_secret(runtime.paths.secret)),
                        max_attempts=cfg.webhook_max_attempts, backoff_base_s=cfg.webhook_backoff_s)


def options(runtime: Runtime) -> ConsumerOptions:
    cfg = runtime.settings.stream
    gate = runtime.settings.gate  # the gate's clock bounds also bound the watermarks
    return ConsumerOptions(batch_size=cfg.batch_size, allowed_lateness_s=cfg.allowed_lateness_s,
                           idle_sleep_s=cfg.idle_sleep_s, max_outbox=cfg.max_outbox,
                           max_future_s=gate.max_future_s, historical_sources=frozenset(gate.historical_sources))


def build_consumers(runtime: Runtime, which: Sequence[str] = ALL) -> list[Consumer]:
    from hexlake.log import get_log

    cfg, elog = runtime.settings.stream, get_log(runtime)
    gone = get_suppression(runtime)  # erased people: their open windows never reach a sink
    out = []

    def state(group: str) -> StreamState:
        return StreamState(group_state_path(runtime.settings, group))

    if "counters" in which:
        out.append(Consumer(elog, state(counters_group), CounterOperator(cfg.counter_ttl_s),
                            {"counters": counters_sink(get_counter_store(runtime))}, options(runtime),
                            reload_epoch=gone.epoch))
    if "features" in which:
        table = OfflineFeatureTable(get_warehouse_for(runtime))
        sinks = {"online": suppressing(online_sink(get_online_store(runtime), cfg.feature_ttl_s), gone,
                                       lambda item: item[0]),
                 "offline": suppressing(table.sink(), gone, lambda row: row.get("user_key"))}
        out.append(Consumer(elog, state(features_group), UserWindowOperator(cfg.window_minutes * 60.0), sinks,
                            options(runtime), reload_epoch=gone.epoch))
    if "geofences" in which:
        op = GeofenceOperator(get_geofence_store(runtime), cfg.geofence_hysteresis_m, cfg.geofence_max_accuracy_m)
        sink = suppressing(derived_sink(lambda events: _ingest(runtime, events), webhook_queue(runtime)), gone,
                           lambda item: item.get("user_key"))
        out.append(Consumer(elog, state(op.group), op, {"derived": sink}, options(runtime),
                            reload_epoch=gone.epoch))
    return out


def _ingest(runtime: Runtime, events: list[dict[str, Any]]) -> None:
    from hexlake.collect.ingest import ingest

    ingest(runtime, events, source=STREAM_SOURCE)


class StreamService(BackgroundService):
    """The consumers in the server, one ``ConsumerService`` child each, plus this service's own
    step: webhook deliveries, lag gauges and expiry purges (reads never need them to be correct)."""

    name = "stream"

    def __init__(self, runtime: Runtime, which: Sequence[str] | None = None):
        super().__init__(interval_s=0.5, backoff_max_s=30.0)
        self.runtime = runtime
        self.which = list(runtime.settings.stream.consumers if which is None else which)
        unknown = set(self.which) - set(ALL)
        if unknown:
            raise ConfigError(f"unknown stream consumers {sorted(unknown)}; choose from {list(ALL)}",
                              field="stream.consumers")
        self.consumers: list[Consumer] = []
        self._hooks: WebhookQueue | None = None
        self._last_purge = 0.0

    def start(self) -> None:
        if not self.consumers:
            self.consumers = build_consumers(self.runtime, self.which)
            self.children = [ConsumerService(c) for c in self.consumers]
            self._hooks = webhook_queue(self.runtime) if "geofences" in self.which else None
        super().start()

    def step(self) -> bool:
        if self._hooks is not None:
            self._hooks.deliver_due()
        for c in self.consumers:
            c.update_lag()
        if time.time() - self._last_purge > 60:
            self._last_purge = time.time()
            get_counter_store(self.runtime).purge_expired(time.time())
            purge = getattr(get_online_store(self.runtime), "purge_expired", None)
            if callable(purge):
                purge()
            for c in self.consumers:
                c.state.prune_processed(c.group, 86_400)
        return False

    def stop(self, timeout_s: float | None = None) -> bool:
        """Finish the current micro-batches (bounded), then close the consumers' state."""
        done = super().stop(timeout_s)
        if done:  # a consumer still inside its batch keeps its state open
            for c in self.consumers:
                c.state.close()
        return done
