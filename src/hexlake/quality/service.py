"""The quality monitors inside the server: a check every ``quality.interval_s``, the latest report
kept for ``GET /v1/quality`` and ``/metrics``, new alerts POSTed to ``quality.webhook_url``.

Webhooks reuse the geofence delivery queue (``stream.webhooks``): signed with the deployment's
webhook key, queued in ``quality.sqlite`` idempotently on the alert's key (one delivery per
finding and hour, however often the check runs), retried with exponential backoff.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hexlake.plugins import BackgroundService as ServiceProtocol
from hexlake.quality.checks import QualityReport, check
from hexlake.runtime import Runtime
from hexlake.services import BackgroundService

LATEST = "quality.latest"


class _Metrics:
    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge

        self.alerts = Gauge("hexlake_quality_alerts", "Alerts of the last quality check", ["monitor"])
        self.checks = Counter("hexlake_quality_checks_total", "Quality checks run")
        self.volume_z = Gauge("hexlake_quality_volume_robust_z",
                              "Robust z-score of the last hour's events per event type/source", ["series"])


@functools.cache
def metrics() -> _Metrics:
    return _Metrics()


class Latest:
    """The most recent report, shared by the service and the API."""

    def __init__(self) -> None:
        self.report: QualityReport | None = None
        self.lock = threading.Lock()


def latest(runtime: Runtime) -> Latest:
    return runtime.resource(LATEST, lambda rt: Latest())


def publish(runtime: Runtime, report: QualityReport) -> None:
    """Keep ``report`` as the latest and export it as Prometheus gauges."""
    holder = latest(runtime)
    with holder.lock:
        holder.report = report
    m = metrics()
    m.checks.inc()
    for monitor in ("volume", "schema_drift", "quarantine_rate", "freshness"):
        m.alerts.labels(monitor).set(sum(a.monitor == monitor for a in report.alerts))
    m.volume_z.clear()
    for a in report.alerts:
        if a.monitor == "volume":
            m.volume_z.labels(a.subject).set(a.value)


def webhook_queue(runtime: Runtime) -> Any:
    from hexlake.privacy.secret import load_secret
    from hexlake.stream.webhooks import WebhookQueue, webhook_key

    cfg = runtime.settings.stream
    return runtime.resource("quality.webhooks", lambda rt: WebhookQueue(
        rt.paths.quality_db, webhook_key(load_secret(rt.paths.secret)),
        max_attempts=cfg.webhook_max_attempts, backoff_base_s=cfg.webhook_backoff_s))


def notify(runtime: Runtime, report: QualityReport) -> int:
    """Queue one webhook per alert (idempotent on its key) and deliver what is due; delivered count."""
    url = runtime.settings.quality.webhook_url
    if not url:
        return 0
    queue = webhook_queue(runtime)
    for alert in report.alerts:
        queue.enqueue(alert.key, url, {"type": "quality_alert", **alert.to_dict()})
    return int(queue.deliver_due())


class QualityService(BackgroundService):
    name = "quality"

    def __init__(self, runtime: Runtime, interval_s: float,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC).replace(tzinfo=None)):
        super().__init__(interval_s=interval_s, backoff_base_s=min(interval_s, 30.0))
        self.runtime, self.now = runtime, clock

    def step(self) -> bool:
        report = check(self.runtime, self.now())
        publish(self.runtime, report)
        notify(self.runtime, report)
        return False


def run_once(runtime: Runtime, now: datetime | None = None) -> dict[str, Any]:
    """One check now: publish, notify, return the report (the API and tests call this)."""
    report = check(runtime, now)
    publish(runtime, report)
    notify(runtime, report)
    return report.to_dict()


def create(runtime: Runtime) -> ServiceProtocol | None:
    cfg = runtime.settings.quality
    return QualityService(runtime, cfg.interval_s) if cfg.enabled else None


__all__ = ["QualityService", "create", "latest", "notify", "publish", "run_once"]
