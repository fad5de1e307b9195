"""Quality monitors end to end: raw events and quarantine in a real data dir, the report at
``GET /v1/quality`` and ``/metrics``, alerts POSTed signed and retried to a local HTTP receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hexlake.config import Settings
from hexlake.gate.envelope import FailureMessage, QuarantineRecord
from hexlake.gate.resources import runtime_quarantine
from hexlake.privacy.secret import load_secret
from hexlake.quality.service import latest, run_once
from hexlake.runtime import Runtime
from hexlake.setup import initialise
from hexlake.stream.webhooks import webhook_key
from tests.stream.test_geofences import Receiver
from tests.transform.conftest import insert
from tests.transform.events import ev, to_rows

NOW = datetime(2026, 11, 30, 12, 20)  # the checked hour is 11:00-12:00
HOUR = datetime(2026, 11, 30, 11, 0)


def events(prefix: str, hour: datetime, n: int, etype: str = "track", **props: Any) -> list[dict[str, Any]]:
    return [ev(f"{prefix}{i}", etype, hour + timedelta(seconds=10 * i), f"u{i % 7}",
               props={"event": "opened", **props}) for i in range(n)]


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[tuple[Runtime, Receiver]]:
    receiver = Receiver(fail_first=1)
    settings = Settings(data_dir=tmp_path / "data", quality={"webhook_url": receiver.url},
                        stream={"webhook_backoff_s": 0.0})
    initialise(settings)
    runtime = Runtime(settings)
    for week in range(1, 5):  # same hour, four earlier weeks: 20 or so track events each
        insert(runtime, to_rows(events(f"w{week}-", HOUR - timedelta(weeks=week), 19 + week)))
    yield runtime, receiver
    runtime.close()
    receiver.close()


def quarantine(runtime: Runtime, n: int, at: datetime) -> None:
    runtime_quarantine(runtime).put([QuarantineRecord(
        processor="gate", source="app", event_type="track", event_id=f"q{at:%H}{i}", failed_at=at.replace(tzinfo=UTC),
        messages=[FailureMessage(path="/timestamp", keyword="max_future", message="x")], payload={}) for i in range(n)])


def test_a_normal_hour_raises_nothing(lake: tuple[Runtime, Receiver]) -> None:
    runtime, receiver = lake
    insert(runtime, to_rows(events("now-", HOUR, 22)))
    report = run_once(runtime, NOW)
    assert report["ok"] and report["alerts"] == [], report["alerts"]
    assert receiver.requests == []


def test_spike_drift_and_quarantine_rate_alert_once_each_by_signed_retried_webhook(
        lake: tuple[Runtime, Receiver]) -> None:
    runtime, receiver = lake
    insert(runtime, to_rows(events("now-", HOUR, 400, coupon_code="X1")))  # 20x the usual, a new key
    quarantine(runtime, 60, HOUR + timedelta(minutes=5))

    report = run_once(runtime, NOW)

    by_monitor = {a["monitor"]: a for a in report["alerts"]}
    assert set(by_monitor) == {"volume", "schema_drift", "quarantine_rate"}
    assert by_monitor["volume"]["subject"] == "track/app" and by_monitor["volume"]["value"] > 4
    assert "coupon_code" in by_monitor["schema_drift"]["message"]
    assert "event" not in by_monitor["schema_drift"]["message"].split(": ")[1].split(", ")
    assert len(receiver.requests) == len(by_monitor)  # one each; the first got a 500
    run_once(runtime, NOW + timedelta(minutes=5))  # same findings: only the failed one is retried
    run_once(runtime, NOW + timedelta(minutes=10))
    assert len(receiver.requests) == 1 + len(by_monitor)
    delivered = [json.loads(body) for headers, body in receiver.requests[1:]]
    assert sorted(d["monitor"] for d in delivered) == sorted(by_monitor)
    assert all(d["type"] == "quality_alert" and d["key"] for d in delivered)
    key = webhook_key(load_secret(runtime.paths.secret))
    for headers, body in receiver.requests:
        want = hmac.new(key, f"{headers['x-hexlake-timestamp']}.".encode() + body, hashlib.sha256).hexdigest()
        assert headers["x-hexlake-signature"] == f"sha256={want}"


def test_a_stopped_source_is_a_volume_drop(lake: tuple[Runtime, Receiver]) -> None:
    runtime, _ = lake
    report = run_once(runtime, NOW)
    (alert,) = report["alerts"]
    assert (alert["monitor"], alert["subject"]) == ("volume", "track/app") and alert["value"] < 0


def test_freshness_breach_when_the_marts_fall_behind(lake: tuple[Runtime, Receiver]) -> None:
    from hexlake.transform import operations

    runtime, _ = lake
    insert(runtime, to_rows(events("old-", HOUR - timedelta(hours=5), 22)))
    operations.run(runtime, execution_time=HOUR - timedelta(hours=4))
    insert(runtime, to_rows(events("now-", HOUR, 22)))
    report = run_once(runtime, NOW)
    assert [a["subject"] for a in report["alerts"] if a["monitor"] == "freshness"] == ["staging.stg_events"]


def test_an_event_stamped_in_the_allowed_future_is_no_freshness_breach(lake: tuple[Runtime, Receiver]) -> None:
    from hexlake.transform import operations

    runtime, _ = lake
    insert(runtime, to_rows(events("now-", HOUR, 22) + events("ahead-", NOW + timedelta(hours=12), 1)))
    operations.run(runtime, execution_time=NOW)
    report = run_once(runtime, NOW)
    assert [a for a in report["alerts"] if a["monitor"] == "freshness"] == []
    assert report["summary"]["lag_seconds"]["staging.stg_events"] < 3600


def test_api_and_metrics_show_the_latest_report(lake: tuple[Runtime, Receiver]) -> None:
    from fastapi.testclient import TestClient

    from hexlake.serve.app import create_app
    from tests.helpers import act_as

    runtime, _ = lake
    insert(runtime, to_rows(events("now-", HOUR, 400)))
    run_once(runtime, NOW)
    report = latest(runtime).report
    assert report is not None and report.alerts
    runtime.close()
    app = create_app(runtime.settings, background=False)
    act_as(app)
    with TestClient(app) as client:
        body = client.get("/v1/quality", params={"refresh": True}).json()
        assert "alerts" in body and body["window"]["start"]
        metrics = client.get("/metrics").text
        assert "hexlake_quality_alerts{" in metrics and "hexlake_quality_checks_total" in metrics
