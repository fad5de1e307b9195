"""Read API over the marts and the admin routes (read key dependency overridden)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hexlake.serve.errors import install_error_handlers
from hexlake.transform.api import router
from tests.helpers import act_as
from tests.transform import events as truth
from tests.transform.conftest import Built


@pytest.fixture(scope="module")
def client(built: Built) -> Iterator[TestClient]:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    app.state.runtime = built.runtime
    act_as(app)  # reads are scoped per API now: authenticate every request as an admin
    with TestClient(app) as c:
        yield c


def test_mart_pages_cover_every_row_once(client: TestClient, built: Built) -> None:
    seen, offset = [], 0
    while offset is not None:
        body = client.get("/v1/marts/marts_core_dim_users", params={"limit": 7, "offset": offset}).json()
        seen += [r["user_id"] for r in body["rows"]]
        offset = body["next_offset"]
    assert sorted(seen) == sorted(truth.dim_users(built.events, built.t0.date()))
    assert len(seen) == len(set(seen)) == body["total"]


def test_mart_filter_by_column_value(client: TestClient, built: Built) -> None:
    want = [u for u, d in truth.dim_users(built.events, built.t0.date()).items()
            if d["lifecycle_stage"] == "active"]
    body = client.get("/v1/marts/marts_core_dim_users",
                      params={"lifecycle_stage": "active", "limit": 1000}).json()
    assert sorted(r["user_id"] for r in body["rows"]) == sorted(want)


def test_unknown_mart_is_404_and_unknown_column_is_400_naming_it(client: TestClient) -> None:
    r = client.get("/v1/marts/nope")
    assert r.status_code == 404 and r.json()["error"]["type"] == "NotFound"
    r = client.get("/v1/marts/heatmap_hourly", params={"colour": "red"})
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "colour" and "colour" in r.json()["error"]["message"]
    r = client.get("/v1/marts/heatmap_hourly", params={"limit": "lots"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "limit"


def test_active_users_by_day_and_week(client: TestClient, built: Built) -> None:
    frm, to = (built.t0.date().replace(day=1)).isoformat(), built.t0.date().isoformat()
    day = client.get("/v1/metrics/active-users", params={"grain": "day", "from": frm, "to": to}).json()
    want = truth.active_users(built.events)
    for row in day["series"]:
        assert row["dau"] == want[__import__("datetime").date.fromisoformat(row["period_start"])]["dau"]
    week = client.get("/v1/metrics/active-users", params={"grain": "week", "from": frm, "to": to})
    assert week.status_code == 200 and week.json()["series"]
    bad = client.get("/v1/metrics/active-users", params={"grain": "year"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "grain"


def test_freshness_reports_each_model(client: TestClient) -> None:
    models = {m["model"]: m for m in client.get("/v1/freshness").json()["models"]}
    assert models["staging.stg_events"]["behind_raw_seconds"] == 0
    assert models["marts.heatmap_hourly"]["newest_event_time"] is not None


def test_admin_history_and_status(client: TestClient) -> None:
    runs = client.get("/v1/admin/transform/history", params={"limit": 500}).json()["runs"]
    assert {r["status"] for r in runs} <= {"success", "warning"}  # warning: non-blocking audit
    assert any(r["model"] == "marts.place_popularity" and r["rows"] for r in runs)
    status = client.get("/v1/admin/transform/status").json()
    assert status["needs_plan"] is False
    assert {m["model"] for m in status["models"]} >= {"marts.metrics_active_users", "staging.stg_users"}


def test_status_and_freshness_state_each_models_tier(client: TestClient) -> None:
    status = {m["model"]: m["tier"] for m in client.get("/v1/admin/transform/status").json()["models"]}
    assert status["marts.place_popularity"] == status["features.user_features"] == "asof"
    assert status["marts.heatmap_hourly"] == status["staging.stg_users"] == "fresh"
    fresh = {f["model"]: f for f in client.get("/v1/freshness").json()["models"] if "tier" in f}
    assert fresh["marts.marts_core_dim_users"]["tier"] == "asof"
    assert fresh["marts.metrics_active_users"]["tier"] == "fresh"
    assert all(f["built_as_of"] and f["stale_seconds"] >= 0 for f in fresh.values() if f["rows"])


def test_admin_run_refuses_an_unknown_tier(client: TestClient) -> None:
    r = client.post("/v1/admin/transform/run", params={"tier": "weekly"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "tier"
