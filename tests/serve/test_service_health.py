"""Background services' health in ``/readyz`` and their metrics in ``/metrics`` (in-process server)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hexlake import plugins
from hexlake.config import Settings
from hexlake.errors import WarehouseError
from hexlake.runtime import Runtime
from hexlake.serve import operations as ops
from hexlake.serve.app import create_app
from hexlake.services import BackgroundService, FunctionService
from hexlake.setup import initialise
from tests.helpers import app_runtime


def broken(runtime: Runtime) -> BackgroundService:
    """A plugin service whose every unit of work fails (a warehouse that is down)."""

    def step() -> bool:
        raise WarehouseError("warehouse unreachable")

    return FunctionService("test-broken", step, interval_s=60.0, backoff_base_s=60.0)


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", transform={"scheduler_enabled": False})
    initialise(settings)
    monkeypatch.setattr(plugins, "SERVICES", [*plugins.SERVICES, f"{__name__}:broken"])
    with TestClient(create_app(settings, background=True)) as c:
        yield c


def wait_for_status(client: TestClient, name: str, key: str, timeout_s: float = 20.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while True:
        services = {s["name"]: s for s in client.get("/readyz").json()["services"]}
        if (name in services and services[name][key]) or time.monotonic() > deadline:
            return services[name]
        time.sleep(0.05)


def test_readyz_lists_every_service_and_an_unhealthy_one_with_its_error(client: TestClient) -> None:
    broken_status = wait_for_status(client, "test-broken", "errors")
    loader = wait_for_status(client, "raw_loader", "runs")
    body = client.get("/readyz")
    assert body.status_code == 200  # a broken loader must not take the collector out of rotation
    names = [s["name"] for s in body.json()["services"]]
    assert {"raw_loader", "stream", "stream-stream-counters", "test-broken"} <= set(names)
    assert body.json()["healthy"] is False
    assert broken_status["healthy"] is False and "last_error" not in broken_status  # no key: no error text
    admin = ops.keys_create(app_runtime(client), "admin")["key"]
    detailed = client.get("/readyz", headers={"Authorization": f"Bearer {admin}"}).json()["services"]
    assert {s["name"]: s["last_error"] for s in detailed}["test-broken"] == "WarehouseError: warehouse unreachable"
    wrong = client.get("/readyz", headers={"Authorization": "Bearer hxk_wrong"})
    assert wrong.status_code == 200 and all("last_error" not in s for s in wrong.json()["services"])
    assert loader["healthy"] is True and loader["running"] is True


def test_metrics_export_each_service(client: TestClient) -> None:
    wait_for_status(client, "test-broken", "errors")
    wait_for_status(client, "raw_loader", "runs")
    text = client.get("/metrics").text
    assert 'hexlake_service_healthy{service="test-broken"} 0.0' in text
    assert 'hexlake_service_healthy{service="raw_loader"} 1.0' in text
    assert 'hexlake_service_errors_total{kind="transient",service="test-broken"}' in text


def test_shutdown_stops_every_service_within_the_bound(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", transform={"scheduler_enabled": False})
    initialise(settings)
    app = create_app(settings, background=True)
    with TestClient(app):
        services = list(app.state.services)
        assert services
        started = time.monotonic()
    assert time.monotonic() - started < 9.0
    assert not any(s.running for svc in services for s in svc.statuses())
