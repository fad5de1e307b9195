"""The stream HTTP API through an in-process client (auth dependencies overridden)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hexlake.config import Settings
from hexlake.features import get_online_store, user_entity
from hexlake.privacy.hashing import Hasher
from hexlake.privacy.secret import create_secret
from hexlake.runtime import Runtime
from hexlake.serve.auth import require_write_key
from hexlake.serve.errors import install_error_handlers
from hexlake.stream.api import router
from hexlake.stream.runner import get_counter_store
from tests.helpers import act_as


@pytest.fixture
def client(settings: Settings) -> Iterator[tuple[TestClient, Runtime]]:
    settings.paths.root.mkdir(parents=True)
    create_secret(settings.paths.secret)
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    app.state.runtime = Runtime(settings)
    act_as(app)  # reads are scoped per API now: authenticate every request as an admin
    app.dependency_overrides[require_write_key] = lambda: None
    with TestClient(app) as c:
        yield c, app.state.runtime
    app.state.runtime.close()


def test_user_features_are_looked_up_by_the_hashed_id(client: tuple[TestClient, Runtime]) -> None:
    c, rt = client
    from hexlake.privacy.secret import load_secret

    key = Hasher(load_secret(rt.paths.secret)).user_key("42")
    get_online_store(rt).put_many([(user_entity(key), {"events_total": 7})], ttl_s=60)
    r = c.get("/v1/features/users/42")
    assert r.status_code == 200
    assert r.json() == {"user_id": "42", "features": {"events_total": 7}}
    missing = c.get("/v1/features/users/43")
    assert missing.status_code == 404
    assert missing.json()["error"]["field"] == "user_id"
    batch = c.post("/v1/features/users:batch", json={"user_ids": ["42", 43]})
    assert batch.json() == {"features": {"42": {"events_total": 7}, "43": None}}
    bad = c.post("/v1/features/users:batch", json={"ids": []})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "user_ids"


def test_geofence_crud_and_errors(client: tuple[TestClient, Runtime]) -> None:
    c, _ = client
    r = c.post("/v1/geofences", json={"name": "hq", "lat": 37.77, "lng": -122.41, "radius_m": 120,
                                      "metadata": {"team": "ops"}})
    assert r.status_code == 201
    fence = r.json()
    assert fence["kind"] == "circle" and fence["metadata"] == {"team": "ops"}
    assert [f["id"] for f in c.get("/v1/geofences").json()["geofences"]] == [fence["id"]]
    assert c.get(f"/v1/geofences/{fence['id']}").json()["name"] == "hq"
    bad = c.post("/v1/geofences", json={"name": "x", "lat": 37.77, "lng": -122.41, "radius_m": -1})
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "radius_m"
    assert c.delete(f"/v1/geofences/{fence['id']}").status_code == 204
    gone = c.delete(f"/v1/geofences/{fence['id']}")
    assert gone.status_code == 404 and gone.json()["error"]["type"] == "NotFound"


def test_realtime_metrics_and_trending(client: tuple[TestClient, Runtime]) -> None:
    c, rt = client
    now = time.time()
    minute = int(now // 60 * 60)
    get_counter_store(rt).apply(1, [
        ("incr", f"epm|{minute}|page|app", 5, now + 600), ("max", "seen|u1", now - 30, now + 3600),
        ("incr", f"place|{minute}|p1|862830827ffffff", 3, now + 600),
        ("incr", f"epm|{minute - 7200}|page|app", 9, now - 1),  # expired: never shown
        # k = 5 distinct people were at p1 (issue 15: fewer and p1 is suppressed)
        *[("max", f"pu|{minute}|p1|u{i}", 1, now + 600) for i in range(5)],
    ])
    m = c.get("/v1/realtime/metrics").json()
    assert [r["count"] for r in m["events_per_minute"]] == [5]
    assert m["active_users"] == {"5m": 1, "15m": 1, "60m": 1}
    assert m["places"] == [{"place_id": "p1", "count": 3}]
    t = c.get("/v1/realtime/places/trending", params={"h3_r6": "862830827ffffff"}).json()
    assert [p["place_id"] for p in t["places"]] == ["p1"]
    assert c.get("/v1/realtime/late").json() == {"counts": {}, "events": []}
    assert c.get("/v1/realtime/metrics", params={"minutes": 0}).status_code in (400, 422)
