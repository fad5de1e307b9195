"""The native collector over HTTP (in-process app): answers, auth, limits, one error shape."""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from hexlake.config import Settings
from hexlake.serve import operations as ops
from hexlake.serve.app import create_app
from hexlake.setup import initialise
from tests.helpers import app_runtime

Keys = tuple[Settings, dict[str, Any]]  # settings and what `initialise` printed (write and read keys)


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    settings = Settings(data_dir=tmp_path / "data", collect={"max_batch_events": 50})
    return settings, initialise(settings)


@pytest.fixture
def client(keys: Keys) -> Iterator[TestClient]:
    settings, _ = keys
    app = create_app(settings, background=False)
    with TestClient(app) as c:
        yield c


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def ping(event_id: str, user: str = "alice", **extra: Any) -> dict:
    return {"event_id": event_id, "event_type": "location_ping", "user_id": user,
            "timestamp": "2026-11-20T10:00:00Z",
            "properties": {"location": {"lat": 48.8566, "lng": 2.3522, "accuracy": 5}},
            "consent": {"precise_location": True}, **extra}


def assert_error_shape(resp: Any, status: int, field: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) >= {"type", "message"} and err["message"]
    if field:
        assert err.get("field") == field
    return err


def test_batch_is_counted_and_retry_is_a_duplicate(client: TestClient, keys: Keys) -> None:
    _, k = keys
    batch = [ping("e1"), ping("e2"), ping("e1")]
    first = client.post("/v1/events", json=batch, headers=auth(k["write_key"]))
    assert first.status_code == 200
    assert first.json() == {"accepted": 2, "duplicates": 1, "quarantined": 0, "errors": []}
    again = client.post("/v1/events", json=batch, headers=auth(k["write_key"])).json()
    assert again["accepted"] == 0 and again["duplicates"] == 3


def test_invalid_events_are_quarantined_with_reason_and_the_rest_accepted(client: TestClient, keys: Keys) -> None:
    _settings, k = keys
    bad = ping("bad-1", properties={"location": {"lat": 999, "lng": 2.0}})
    resp = client.post("/v1/events", json=[ping("ok-1"), bad], headers=auth(k["write_key"])).json()
    assert resp["accepted"] == 1 and resp["quarantined"] == 1
    assert resp["errors"][0]["index"] == 1 and resp["errors"][0]["event_id"] == "bad-1"
    assert resp["errors"][0]["messages"][0]["path"]
    admin = ops.keys_create(app_runtime(client), "admin")["key"]  # quarantine is admin-only
    listed = client.get("/v1/quarantine", headers=auth(admin)).json()
    assert [i["event_id"] for i in listed["items"]] == ["bad-1"]


def test_user_id_is_stored_only_as_hmac(client: TestClient, keys: Keys) -> None:
    settings, k = keys
    client.post("/v1/events", json=[ping("h1", user="bob@example.org")], headers=auth(k["write_key"]))
    ops.load_once(app_runtime(client))
    rows = ops.query(app_runtime(client), "SELECT user_key, lat, h3_r9 FROM raw_events")["rows"]
    secret = settings.paths.secret.read_bytes()
    expected = hmac.new(secret, b"bob@example.org", hashlib.sha256).hexdigest()
    assert rows == [[expected, 48.8566, rows[0][2]]] and rows[0][2]


def test_basic_auth_with_key_as_username_is_accepted(client: TestClient, keys: Keys) -> None:
    _, k = keys
    basic = base64.b64encode(f"{k['write_key']}:".encode()).decode()
    resp = client.post("/v1/events", json=ping("b1"), headers={"Authorization": f"Basic {basic}"})
    assert resp.status_code == 200 and resp.json()["accepted"] == 1


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic !!"}])
def test_missing_or_unknown_key_is_401(client: TestClient, headers: Any) -> None:
    assert_error_shape(client.post("/v1/events", json=ping("x"), headers=headers), 401)


def test_revoked_key_is_401(client: TestClient, keys: Keys) -> None:
    _, k = keys
    ops.sources_revoke(app_runtime(client), "default")
    import time

    time.sleep(1.1)  # key lookups are cached for a second
    assert_error_shape(client.post("/v1/events", json=ping("r1"), headers=auth(k["write_key"])), 401)


def test_read_key_cannot_write_and_write_key_cannot_read(client: TestClient, keys: Keys) -> None:
    _, k = keys
    assert_error_shape(client.post("/v1/events", json=ping("x"), headers=auth(k["read_key"])), 403)
    assert_error_shape(client.get("/v1/quarantine", headers=auth(k["write_key"])), 403)


def test_body_that_is_not_json_is_400_and_stores_nothing(client: TestClient, keys: Keys) -> None:
    _, k = keys
    err = assert_error_shape(client.post("/v1/events", content=b"{oops", headers={
        **auth(k["write_key"]), "Content-Type": "application/json"}), 400, field="body")
    assert "JSON" in err["message"]
    assert ops.log_status(app_runtime(client))["head_offset"] == 0


def test_too_many_events_is_413_and_wrong_type_is_415(client: TestClient, keys: Keys) -> None:
    _, k = keys
    assert_error_shape(client.post("/v1/events", json=[ping(f"m{i}") for i in range(51)],
                                   headers=auth(k["write_key"])), 413)
    assert_error_shape(client.post("/v1/events", content=b"<a/>", headers={
        **auth(k["write_key"]), "Content-Type": "application/xml"}), 415)


def test_gzip_and_ndjson_bodies(client: TestClient, keys: Keys) -> None:
    _, k = keys
    nd = b"\n".join(orjson.dumps(ping(f"n{i}")) for i in range(3))
    resp = client.post("/v1/events", content=gzip.compress(nd), headers={
        **auth(k["write_key"]), "Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"})
    assert resp.json()["accepted"] == 3


def _accepted_metric(client: TestClient) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith('hexlake_events_total{outcome="accepted",source="default"}'):
            return float(line.split()[-1])
    return 0.0


def test_health_ready_metrics_and_openapi(client: TestClient, keys: Keys) -> None:
    _, k = keys
    before = _accepted_metric(client)
    client.post("/v1/events", json=[ping("m1"), ping("m2")], headers=auth(k["write_key"]))
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    assert _accepted_metric(client) == before + 2
    assert "/v1/events" in client.get("/openapi.json").json()["paths"]


def test_metrics_need_no_key_and_name_no_person_key_or_place(client: TestClient, keys: Keys) -> None:
    """/metrics is open to a scraper (docs/operations.md): it must carry counts only. Routes are
    labelled by their template, so a user id in a path never becomes a label value."""
    _, k = keys
    who = "dana.reyes@example.com"
    client.post("/v1/events", json=[ping("mx1", user=who)], headers=auth(k["write_key"]))
    client.get(f"/v1/subjects/{who}/export", headers=auth(k["read_key"]))
    client.get(f"/v1/features/users/{who}", headers=auth(k["read_key"]))
    client.get("/v1/places/place-77123/similar", headers=auth(k["read_key"]))
    client.get(f"/v1/no-such-route/{who}")
    text = client.get("/metrics").text
    assert 'route="/v1/subjects/{user_id}/export"' in text and 'route="/v1/places/{place_id}/similar"' in text
    for secret in (who, "dana", "place-77123", k["write_key"], k["read_key"], "48.8566", "2.3522"):
        assert secret not in text, secret


def test_unknown_route_and_bad_query_params_use_the_error_shape(client: TestClient, keys: Keys) -> None:
    assert_error_shape(client.get("/v1/nope"), 404)
    admin = ops.keys_create(app_runtime(client), "admin")["key"]
    err = assert_error_shape(client.get("/v1/quarantine?limit=0", headers=auth(admin)), 400)
    assert err["field"] == "limit"


def test_read_only_query_refuses_writes(client: TestClient, keys: Keys) -> None:
    _, k = keys
    resp = client.post("/v1/query", json={"sql": "DROP TABLE raw_events"}, headers=auth(k["read_key"]))
    assert_error_shape(resp, 400)
