"""Keys as an attacker holds them: beyond their scope, expired, revoked, rotated, someone else's.

Each test drives the real server app in-process (no dependency overrides): the keys are real keys
made by the same operations the CLI calls.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hexlake.collect.sources import KeyStore
from hexlake.config import Settings
from hexlake.errors import Unauthorized
from hexlake.serve import operations as ops
from hexlake.serve.app import create_app
from hexlake.setup import initialise
from tests.helpers import hexlake

ADMIN_TOKEN = "hxa_test-admin-token"


class Env:
    def __init__(self, settings: Settings, client: TestClient, keys: dict[str, str]) -> None:
        self.settings, self.client, self.keys = settings, client, keys
        self.runtime = client.app.state.runtime  # type: ignore[attr-defined]

    def key(self, kind: str, **kwargs: Any) -> str:
        return str(ops.keys_create(self.runtime, kind, **kwargs)["key"])

    def get(self, path: str, key: str | None, **kwargs: Any) -> Any:
        return self.client.get(path, headers=auth(key) if key else {}, **kwargs)

    def post(self, path: str, key: str | None, **kwargs: Any) -> Any:
        return self.client.post(path, headers=auth(key) if key else {}, **kwargs)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    settings = Settings(data_dir=tmp_path / "data", serve={"read_rate": "off", "ingest_rate": "off"})
    keys = initialise(settings)
    app = create_app(settings, admin_token=ADMIN_TOKEN, background=False)
    with TestClient(app) as client:
        yield Env(settings, client, keys)


ADMIN_ROUTES = [
    ("GET", "/v1/quarantine"), ("GET", "/v1/quarantine/1"), ("GET", "/v1/schemas"),
    ("GET", "/v1/schemas/location_ping"), ("POST", "/v1/admin/transform/run"),
    ("GET", "/v1/admin/transform/status"), ("GET", "/v1/admin/transform/history"),
    ("POST", "/v1/admin/ops/keys_list"), ("POST", "/v1/admin/ops/sources_create"),
]


@pytest.mark.parametrize("method, path", ADMIN_ROUTES)
def test_read_write_and_subject_keys_cannot_reach_admin_routes(env: Env, method: str, path: str) -> None:
    subject = env.key("subject", subject="42")
    for key in (env.keys["read_key"], env.keys["write_key"], subject):
        r = env.client.request(method, path, headers=auth(key), json={"name": "evil"})
        assert r.status_code == 403, (path, r.text)
        assert r.json()["error"]["type"] == "Forbidden"
    assert env.client.request(method, path, json={}).status_code == 401


def test_admin_keys_and_the_server_token_reach_admin_routes(env: Env) -> None:
    admin = env.key("admin", name="ops")
    for key in (admin, ADMIN_TOKEN):
        assert env.get("/v1/quarantine", key).status_code == 200
        assert env.get("/v1/schemas", key).status_code == 200
        listed = env.post("/v1/admin/ops/keys_list", key, json={})
        assert listed.status_code == 200 and {k["kind"] for k in listed.json()} >= {"read", "write", "admin"}


def test_a_read_key_limited_to_some_apis_gets_403_elsewhere(env: Env) -> None:
    places = env.key("read", name="app", apis=["places"])
    assert env.get("/v1/places", places).status_code == 200
    for path in ("/v1/heatmap", "/v1/realtime/metrics", "/v1/log/status", "/v1/freshness",
                 "/v1/geofences", "/v1/features/users/42", "/v1/marts/marts_core_dim_users"):
        r = env.get(path, places)
        assert r.status_code == 403, (path, r.text)
        assert "'places'" not in r.json()["error"]["message"] or "may call: places" in r.json()["error"]["message"]
    assert env.post("/v1/query", places, json={"sql": "SELECT 1"}).status_code == 403
    # the full read key from `hexlake init` still reads everything
    assert env.get("/v1/log/status", env.keys["read_key"]).status_code == 200


def test_a_write_key_sends_events_and_manages_only_what_it_was_created_for(env: Env) -> None:
    """A write key ships inside apps: anyone can take it out. It used to create, rename and delete
    every place and geofence (a geofence's webhook_url makes the server POST wherever it says). Now it
    sends events only, unless created with --apis places / geofences; admins manage both."""
    place = {"id": "hq", "name": "HQ", "lat": 52.52, "lng": 13.405}
    fence = {"name": "HQ", "lat": 52.52, "lng": 13.405, "radius_m": 100, "webhook_url": "http://127.0.0.1:9/x"}
    app_key, read_key = env.keys["write_key"], env.keys["read_key"]
    for key in (app_key, read_key, env.key("subject", subject="42")):
        for path, body in (("/v1/places", place), ("/v1/geofences", fence)):
            r = env.post(path, key, json=body)
            assert r.status_code == 403 and r.json()["error"]["type"] == "Forbidden", (path, r.text)
        assert env.client.patch("/v1/places/hq", headers=auth(key), json={"name": "x"}).status_code == 403
        assert env.client.delete("/v1/geofences/g1", headers=auth(key)).status_code == 403
    assert "--apis places" in env.post("/v1/places", app_key, json=place).json()["error"]["message"]
    places_key = env.key("write", source="default", apis=["places"])
    assert env.post("/v1/places", places_key, json=place).status_code == 201
    assert env.client.patch("/v1/places/hq", headers=auth(places_key), json={"name": "Head office"}).status_code == 200
    form = env.client.patch("/v1/places/hq", content=b'{"name": "x"}',  # what `curl -d` sends: a form
                            headers={**auth(places_key), "Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 400 and "Content-Type: application/json" in form.json()["error"]["message"]
    assert env.post("/v1/geofences", places_key, json=fence).status_code == 403  # places only
    admin = env.key("admin", name="ops")
    created = env.post("/v1/geofences", admin, json=fence)
    assert created.status_code == 201
    assert env.client.delete(f"/v1/geofences/{created.json()['id']}", headers=auth(admin)).status_code == 204
    assert env.client.delete("/v1/places/hq", headers=auth(places_key)).status_code == 204
    assert env.post("/v1/events", places_key, json={"event_type": "app_open", "user_id": "1",
                                                    "timestamp": "2026-11-20T10:00:00Z"}).status_code == 200


def test_a_read_key_cannot_send_events_and_a_write_key_cannot_read(env: Env) -> None:
    event = {"event_type": "app_open", "user_id": "1", "timestamp": "2026-11-20T10:00:00Z"}
    assert env.post("/v1/events", env.keys["read_key"], json=event).status_code == 403
    assert env.get("/v1/places", env.keys["write_key"]).status_code == 403
    assert env.post("/v1/events", env.keys["write_key"], json=event).status_code == 200


def _fake_mart(env: Env) -> None:
    from hexlake.warehouse import get_warehouse

    cur = get_warehouse(env.runtime).cursor()
    cur.execute("CREATE SCHEMA IF NOT EXISTS marts")
    cur.execute("CREATE TABLE marts.marts_core_dim_users (user_id VARCHAR, signup_date DATE, lifecycle VARCHAR)")
    cur.execute("INSERT INTO marts.marts_core_dim_users VALUES ('u1', DATE '2026-01-01', 'active')")


def test_mart_and_column_scopes(env: Env) -> None:
    _fake_mart(env)
    narrow = env.key("read", name="bi", apis=["marts"], marts=["marts_core_dim_users"],
                     columns=["user_id", "marts_core_dim_users.lifecycle"])
    r = env.get("/v1/marts/marts_core_dim_users", narrow)
    assert r.status_code == 200, r.text
    assert r.json()["columns"] == ["user_id", "lifecycle"]
    assert r.json()["rows"] == [{"user_id": "u1", "lifecycle": "active"}]
    # filtering on a hidden column is refused like an unknown one: it does not exist for this key
    hidden = env.get("/v1/marts/marts_core_dim_users", narrow, params={"signup_date": "2026-01-01"})
    assert hidden.status_code == 400 and hidden.json()["error"]["field"] == "signup_date"
    other = env.get("/v1/marts/heatmap_hourly", narrow)
    assert other.status_code == 403 and other.json()["error"]["field"] == "name"
    full = env.get("/v1/marts/marts_core_dim_users", env.keys["read_key"]).json()
    assert full["columns"] == ["user_id", "signup_date", "lifecycle"]


def test_expired_key_is_refused(env: Env) -> None:
    row = ops.keys_create(env.runtime, "read", name="short", expires_in="1s")
    assert env.get("/v1/places", row["key"]).status_code == 200
    time.sleep(1.1)
    r = env.get("/v1/places", row["key"])
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
    assert ops.keys_list(env.runtime, all=True)[0]["status"] in ("expired", "active")
    assert row["id"] not in [k["id"] for k in ops.keys_list(env.runtime)]


def test_revoked_read_key_is_refused_within_a_second_even_when_revoked_elsewhere(env: Env) -> None:
    key = env.keys["read_key"]
    assert env.get("/v1/places", key).status_code == 200
    other_process = KeyStore(env.settings.paths.catalog_db)  # the CLI's own catalog connection
    other_process.revoke_key("default", kind="read")
    other_process.close()
    time.sleep(1.1)  # the server's lookup cache lives one second
    r = env.get("/v1/places", key)
    assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]


def test_rotated_key_works_during_its_grace_then_not(env: Env) -> None:
    old = env.keys["read_key"]
    rotated = ops.keys_rotate(env.runtime, "default", kind="read", grace="1s")
    new = rotated["key"]
    assert env.get("/v1/places", old).status_code == 200
    assert env.get("/v1/places", new).status_code == 200
    time.sleep(1.2)
    r = env.get("/v1/places", old)
    assert r.status_code == 401 and "rotated" in r.json()["error"]["message"]
    assert env.get("/v1/places", new).status_code == 200


def test_write_key_rotation_without_grace_and_source_recreated_after_revoke(env: Env) -> None:
    event = {"event_type": "app_open", "user_id": "1", "timestamp": "2026-11-20T10:00:00Z"}
    old = env.keys["write_key"]
    new = ops.keys_rotate(env.runtime, "default", kind="write", grace="0s")["key"]
    assert env.post("/v1/events", old, json=event).status_code == 401
    assert env.post("/v1/events", new, json=event).status_code == 200
    ops.sources_revoke(env.runtime, "default")
    assert env.post("/v1/events", new, json=event).status_code == 401
    again = ops.sources_create(env.runtime, "default")["write_key"]  # used to be "already exists"
    assert env.post("/v1/events", again, json=event).status_code == 200
    assert env.post("/v1/events", new, json=event).status_code == 401


def test_keys_are_stored_only_as_digests(env: Env) -> None:
    created = [env.key("admin"), env.key("subject", subject="7"), env.keys["read_key"], env.keys["write_key"]]
    blob = b"".join(p.read_bytes() for p in env.settings.paths.root.glob("catalog.sqlite*"))
    for key in created:
        assert key.encode() not in blob
        assert hashlib.sha256(key.encode()).hexdigest().encode() in blob


def test_subject_token_reads_its_own_person_only(env: Env) -> None:
    from hexlake.features import get_online_store
    from hexlake.features.protocol import user_entity
    from hexlake.privacy.hashing import Hasher
    from hexlake.privacy.secret import load_secret

    hasher = Hasher(load_secret(env.settings.paths.secret))
    get_online_store(env.runtime).put_many(
        [(user_entity(hasher.user_key("42")), {"events_10m": 3}), (user_entity(hasher.user_key("43")), {"x": 1})],
        ttl_s=600)
    row = ops.keys_create(env.runtime, "subject", subject="42")
    assert row["subject"] == hasher.user_key("42")  # the gate's own HMAC, never the plain id
    token = row["key"]
    own = env.get("/v1/features/users/42", token)
    assert own.status_code == 200 and own.json()["features"] == {"events_10m": 3}
    assert env.get("/v1/features/users/43", token).status_code == 403
    assert env.get("/v1/features/users/042", token).status_code == 403
    assert env.post("/v1/features/users:batch", token, json={"user_ids": ["42", "43"]}).status_code == 403
    for path in ("/v1/places", "/v1/heatmap", "/v1/log/status", "/v1/quarantine"):
        assert env.get(path, token).status_code == 403, path
    assert env.post("/v1/query", token, json={"sql": "SELECT 1"}).status_code == 403
    # and nobody else's token reads person 42 as a subject
    other = env.key("subject", subject="43")
    assert env.get("/v1/features/users/42", other).status_code == 403


def _upload(env: Env, key: str) -> str:
    r = env.post("/v1/uploads", key, json={"filename": "t.zip", "size": 10})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_another_sources_uploads_and_imports_are_invisible(env: Env) -> None:
    mine = _upload(env, env.keys["write_key"])
    other = ops.sources_create(env.runtime, "intruder")["write_key"]
    chunk = b"0123456789"
    sha = hashlib.sha256(chunk).hexdigest()
    assert env.get(f"/v1/uploads/{mine}", other).status_code == 404
    put = env.client.put(f"/v1/uploads/{mine}/chunks/0", content=chunk,
                         headers={**auth(other), "X-Chunk-SHA256": sha})
    assert put.status_code == 404
    hijack = env.post(f"/v1/uploads/{mine}/complete", other, json={"user_id": "victim"})
    assert hijack.status_code == 404
    # the owner and an admin see it; the owner completes it
    assert env.get(f"/v1/uploads/{mine}", ADMIN_TOKEN).status_code == 200
    put = env.client.put(f"/v1/uploads/{mine}/chunks/0", content=chunk,
                         headers={**auth(env.keys["write_key"]), "X-Chunk-SHA256": sha})
    assert put.status_code == 200
    done = env.post(f"/v1/uploads/{mine}/complete", env.keys["write_key"], json={"user_id": "alice"})
    assert done.status_code == 202, done.text
    import_id = done.json()["import"]["id"]
    assert env.get("/v1/imports", other).json()["imports"] == []
    assert env.get(f"/v1/imports/{import_id}", other).status_code == 404
    assert [i["id"] for i in env.get("/v1/imports", env.keys["write_key"]).json()["imports"]] == [import_id]
    assert env.get(f"/v1/imports/{import_id}", ADMIN_TOKEN).status_code == 200
    # a subject token sees its own person's imports only
    alice = env.key("subject", subject="alice")
    bob = env.key("subject", subject="bob")
    assert [i["id"] for i in env.get("/v1/imports", alice).json()["imports"]] == [import_id]
    assert env.get("/v1/imports", bob).json()["imports"] == []
    assert env.get(f"/v1/imports/{import_id}", bob).status_code == 404
    assert env.get("/v1/imports", env.keys["read_key"]).status_code == 403


def test_legacy_data_dir_keys_keep_working(tmp_path: Path) -> None:
    """A catalog from before key kinds: sources and read_keys tables with plain digests."""
    db = tmp_path / "catalog.sqlite"
    conn = sqlite3.connect(db)
    conn.executescript("""
        CREATE TABLE sources (name TEXT PRIMARY KEY, key_digest TEXT NOT NULL UNIQUE,
            unknown_events TEXT NOT NULL DEFAULT 'accept', geoip INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL, revoked_at TEXT);
        CREATE TABLE read_keys (name TEXT PRIMARY KEY, key_digest TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL, revoked_at TEXT);
    """)
    digest = {k: hashlib.sha256(k.encode()).hexdigest() for k in ("hxw_old", "hxw_gone", "hxr_old")}
    conn.execute("INSERT INTO sources VALUES ('app', ?, 'quarantine', 1, '2026-01-01T00:00:00+00:00', NULL)",
                 (digest["hxw_old"],))
    conn.execute("INSERT INTO sources VALUES ('gone', ?, 'accept', 0, '2026-01-01T00:00:00+00:00', "
                 "'2026-02-01T00:00:00+00:00')", (digest["hxw_gone"],))
    conn.execute("INSERT INTO read_keys VALUES ('default', ?, '2026-01-01T00:00:00+00:00', NULL)",
                 (digest["hxr_old"],))
    conn.commit()
    conn.close()
    for _ in range(2):  # opening twice migrates once
        store = KeyStore(db)
        source = store.resolve_write_key("hxw_old")
        assert (source.name, source.unknown_events, source.geoip) == ("app", "quarantine", True)
        assert store.resolve("hxr_old").kind == "read" and store.resolve("hxr_old").apis is None
        with pytest.raises(Unauthorized):
            store.resolve("hxw_gone")
        assert sorted((k.kind, k.name) for k in store.list_keys()) == [("read", "default"), ("write", "app")]
        store.close()
    store = KeyStore(db)
    store.rotate_key("app", kind="write")
    with pytest.raises(Unauthorized):
        store.resolve("hxw_old")
    store.close()


def test_bad_key_requests_name_the_field(env: Env) -> None:
    for kwargs, field in [
        ({"kind": "root"}, "kind"), ({"kind": "write"}, "source"), ({"kind": "subject"}, "subject"),
        ({"kind": "read", "apis": ["admin"]}, "apis"), ({"kind": "read", "rate": "lots"}, "rate"),
        ({"kind": "read", "expires_in": "soon"}, "expires_in"), ({"kind": "admin", "marts": ["x"]}, "marts"),
        ({"kind": "write", "source": "nope"}, "source"), ({"kind": "admin", "apis": ["places"]}, "apis"),
        ({"kind": "write", "source": "default", "apis": ["query"]}, "apis"),
    ]:
        r = env.post("/v1/admin/ops/keys_create", ADMIN_TOKEN, json=kwargs)
        assert 400 <= r.status_code < 500 and r.json()["error"]["field"] == field, (kwargs, r.text)


def test_cli_keys_lifecycle(tmp_path: Path) -> None:
    data = tmp_path / "data"
    hexlake(data, "init", "--json")
    created = hexlake(data, "keys", "create", "--subject", "42", "--json").stdout
    row = json.loads(created)
    listed = json.loads(hexlake(data, "keys", "list", "--json").stdout)
    assert row["id"] in [k["id"] for k in listed] and all("key" not in k for k in listed)
    rotated = json.loads(hexlake(data, "keys", "rotate", row["id"], "--grace", "0s", "--json").stdout)
    assert rotated["kind"] == "subject" and rotated["subject"] == row["subject"]
    hexlake(data, "keys", "revoke", rotated["id"])
    everything = json.loads(hexlake(data, "keys", "list", "--all", "--json").stdout)
    assert {k["id"]: k["status"] for k in everything}[rotated["id"]] == "revoked"
    bad = hexlake(data, "keys", "revoke", "k_nope", check=False)
    assert bad.returncode == 1 and bad.stderr.startswith("Error:")
    ambiguous = hexlake(data, "keys", "revoke", "default", check=False)
    assert ambiguous.returncode == 1 and "give the key id or the kind" in " ".join(ambiguous.stderr.split())
    sync = json.loads(hexlake(data, "keys", "create", "--source", "default", "--apis", "places", "--name", "sync",
                              "--json").stdout)
    again = json.loads(hexlake(data, "keys", "rotate", sync["id"], "--json").stdout)
    assert again["apis"] == ["places"] and again["source"] == "default"  # a rotated key keeps its scope
    listed = {k["id"]: k for k in json.loads(hexlake(data, "keys", "list", "--json").stdout)}
    assert listed[again["id"]]["apis"] == ["places"]


def test_require_subject_or_admin_lets_a_person_and_admins_in_and_nobody_else(env: Env) -> None:
    """The dependency the subject routes (export, erase) are built on, on a probe route."""
    from fastapi import Depends

    from hexlake.serve.auth import require_subject_or_admin
    from hexlake.serve.principal import Principal

    async def probe(user_id: str, who: Principal = Depends(require_subject_or_admin)) -> dict[str, str]:
        return {"user_id": user_id, "kind": who.kind}

    env.client.app.add_api_route("/v1/subjects/{user_id}/probe", probe)  # type: ignore[attr-defined]
    token = env.key("subject", subject="42")
    assert env.get("/v1/subjects/42/probe", token).json() == {"user_id": "42", "kind": "subject"}
    assert env.get("/v1/subjects/43/probe", token).status_code == 403
    assert env.get("/v1/subjects/42/probe", ADMIN_TOKEN).json()["kind"] == "admin"
    for key in (env.keys["read_key"], env.keys["write_key"]):
        assert env.get("/v1/subjects/42/probe", key).status_code == 403
    assert env.get("/v1/subjects/42/probe", None).status_code == 401
    expired = ops.keys_create(env.runtime, "subject", subject="42", expires_in="1s")["key"]
    time.sleep(1.1)
    assert env.get("/v1/subjects/42/probe", expired).status_code == 401


def test_every_route_refuses_a_read_key_outside_its_scope(env: Env) -> None:
    """Each route the app has, a new one included, with a read key limited to the `log` API: only
    that API and /v1/whoami answer it; everything else (admin, write, subject, other read APIs) is
    403. A route that forgot its scope (as /v1/pipelines did: any read key read run errors naming
    source hosts) fails here."""
    from fastapi.routing import APIRoute

    def routes(of: list[Any]) -> Iterator[APIRoute]:  # FastAPI 0.165 keeps included routers whole
        for route in of:
            if isinstance(route, APIRoute):
                yield route
            elif hasattr(route, "original_router"):
                yield from routes(route.original_router.routes)

    log_only = env.key("read", name="lag-dashboard", apis=["log"])
    allowed = {("GET", "/v1/log/status"), ("GET", "/v1/whoami")}
    # no key by design: probes and the scraper (docs/operations.md), the API docs, and the console's
    # page and assets (it asks for a key in the browser and sends it with every call)
    public = {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect",
              "/", "/console/static/{path:path}"}
    checked, wrong = 0, []
    for route in routes(env.client.app.routes):  # type: ignore[attr-defined]
        if route.path in public:
            continue
        path = route.path.replace("{", "").replace("}", "")  # a value for every path parameter
        for method in sorted((route.methods or set()) - {"HEAD", "OPTIONS"}):
            r = env.client.request(method, path, headers=auth(log_only), json={})
            checked += 1
            expect = 200 if (method, route.path) in allowed else 403
            if r.status_code != expect:
                wrong.append((method, route.path, r.status_code))
    assert checked >= 60 and not wrong, wrong
