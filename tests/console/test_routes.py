"""The console's server side, in process: assets, offline docs, OpenAPI, /v1/whoami, /v1/live, admin actions."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hexlake.config import Settings
from hexlake.console.api import STATIC
from hexlake.serve.app import create_app
from hexlake.serve.operations import keys_create
from hexlake.setup import initialise

VENDOR = STATIC / "vendor"
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']https?://""", re.I)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = Settings(data_dir=tmp_path / "data")
    keys = initialise(settings)
    app = create_app(settings, background=False)
    with TestClient(app) as client:
        admin = keys_create(app.state.runtime, "admin", "console")["key"]
        yield client, {"read": keys["read_key"], "write": keys["write_key"], "admin": admin}


def auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def test_console_page_and_assets_are_packaged_and_same_origin(env: Any) -> None:
    client, _ = env
    page = client.get("/")
    assert page.status_code == 200 and "<title>hexlake console</title>" in page.text
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    assert not EXTERNAL.search(page.text)
    for path in re.findall(r'(?:src|href)="(/console/static/[^"]+)"', page.text):
        assert client.get(path).status_code == 200, path
    js = client.get("/console/static/console.js").text
    assert "http://" not in js and "https://" not in js  # every call is to this server


@pytest.mark.parametrize("path", ["../api.py", "..%2Fapi.py", "vendor/../../api.py", "/etc/passwd", "nope.js"])
def test_assets_never_leave_the_static_folder(env: Any, path: str) -> None:
    client, _ = env
    r = client.get(f"/console/static/{path}")
    assert r.status_code == 404 and "def " not in r.text and "root:" not in r.text


def test_vendored_libraries_are_pinned_with_licences() -> None:
    for lib in ("leaflet", "uplot", "topojson-client", "world-atlas", "swagger-ui-dist", "redoc"):
        assert re.fullmatch(rf"{lib}@\d+\.\d+\.\d+\n", (VENDOR / lib / "VERSION").read_text()), lib
        assert (VENDOR / lib / "LICENSE").stat().st_size > 500, lib
    total = sum(f.stat().st_size for f in VENDOR.rglob("*") if f.is_file())
    assert total < 4_000_000, total
    assert b"cdn.redoc.ly" not in (VENDOR / "redoc" / "redoc.standalone.js").read_bytes()


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_load_nothing_from_other_hosts(env: Any, path: str) -> None:
    client, _ = env
    r = client.get(path)
    assert r.status_code == 200 and "/console/static/vendor/" in r.text
    assert not EXTERNAL.search(r.text) and "fonts.googleapis" not in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert '"validatorUrl": null' in r.text or path == "/redoc"


def test_openapi_declares_the_bearer_key_and_collector_bodies(env: Any) -> None:
    client, _ = env
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearerKey"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "hexlake key",
        "description": spec["components"]["securitySchemes"]["bearerKey"]["description"]}
    events = spec["paths"]["/v1/events"]["post"]
    assert events["security"] == [{"bearerKey": []}]
    examples = events["requestBody"]["content"]["application/json"]["examples"]
    assert examples["one event"]["value"]["event_type"] == "location_ping"
    for path in ("/v1/batch", "/v1/track", "/v1/import", "/capture/", "/batch/"):
        assert spec["paths"][path]["post"]["requestBody"]["required"] is True, path
    assert "security" not in spec["paths"]["/healthz"]["get"]


def test_an_openapi_example_is_accepted_by_the_collector(env: Any) -> None:
    """"Try it out" sends the example: it must be a valid event."""
    client, keys = env
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    r = client.post("/v1/events", headers=auth(keys["write"]), json=body["array"]["value"])
    assert r.status_code == 200 and r.json()["accepted"] == 2, r.text


def test_whoami_tells_the_console_what_to_show(env: Any) -> None:
    client, keys = env
    assert client.get("/v1/whoami").status_code == 401
    assert client.get("/v1/whoami", headers=auth("hxr_forged")).status_code == 401
    assert client.get("/v1/whoami", headers=auth(keys["read"])).json()["is_admin"] is False
    me = client.get("/v1/whoami", headers=auth(keys["admin"])).json()
    assert me["kind"] == "admin" and me["is_admin"] is True and "key" not in me


def _live(client: TestClient, key: str) -> dict[str, Any]:
    with client.stream("GET", "/v1/live", params={"count": 1}, headers=auth(key)) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line.startswith("data: ")]
    return dict(json.loads(lines[0][6:]))


def test_live_sends_only_groups_of_at_least_k_people(env: Any) -> None:
    client, keys = env
    rt = client.app.state.runtime
    from hexlake.stream.runner import get_counter_store

    k = rt.settings.transform.heatmap_k
    minute = int(time.time() // 60 * 60)
    exp = minute + 3600
    ops: list[tuple[str, str, float, float]] = []
    for place, people in (("crowded", k), ("lonely", k - 1)):
        ops.append(("incr", f"place|{minute}|{place}|861f", float(people * 3), exp))
        ops += [("max", f"pu|{minute}|{place}|user{i}", 1.0, exp) for i in range(people)]
    ops.append(("incr", f"epm|{minute}|geofence_enter|hexlake-stream", 2.0, exp))
    get_counter_store(rt).apply(1, ops)
    snap = _live(client, keys["read"])
    names = json.dumps(snap["places"])
    assert "crowded" in names and "lonely" not in names  # fewer than k people: never sent
    assert snap["k"] == k and snap["geofence_events"][0]["count"] == 2
    assert "user0" not in json.dumps(snap)


def test_live_needs_a_key_allowed_realtime(env: Any) -> None:
    client, keys = env
    assert client.get("/v1/live", params={"count": 1}).status_code == 401
    assert client.get("/v1/live", params={"count": 1}, headers=auth(keys["write"])).status_code == 403
    limited = keys_create(client.app.state.runtime, "read", "only-query", apis=["query"])["key"]
    assert client.get("/v1/live", params={"count": 1}, headers=auth(limited)).status_code == 403
    r = client.get("/v1/live", params={"count": 1, "interval_s": 0}, headers=auth(keys["read"]))
    assert r.status_code == 400 and "interval_s" in r.text  # the one error shape names the field


def test_admin_geofences_and_discard_need_an_admin_key(env: Any) -> None:
    client, keys = env
    fence = {"name": "hq", "lat": 48.85, "lng": 2.35, "radius_m": 100}
    for who in ("read", "write"):
        assert client.post("/v1/admin/geofences", headers=auth(keys[who]), json=fence).status_code == 403
        assert client.post("/v1/quarantine/1/discard", headers=auth(keys[who])).status_code == 403
    made = client.post("/v1/admin/geofences", headers=auth(keys["admin"]), json=fence)
    assert made.status_code == 201 and made.json()["name"] == "hq"
    bad = client.post("/v1/admin/geofences", headers=auth(keys["admin"]), json={**fence, "radius_m": -5})
    assert 400 <= bad.status_code < 500 and "radius" in bad.text
    fid = made.json()["id"]
    assert client.delete(f"/v1/admin/geofences/{fid}", headers=auth(keys["admin"])).status_code == 204
    assert client.delete(f"/v1/admin/geofences/{fid}", headers=auth(keys["admin"])).status_code == 404


def test_discard_marks_one_quarantined_event(env: Any) -> None:
    client, keys = env
    bad = [{"event_id": f"b{i}", "event_type": "location_ping", "user_id": "u",
            "properties": {"location": {"lat": 999, "lng": 0}}} for i in range(2)]
    assert client.post("/v1/events", headers=auth(keys["write"]), json=bad).json()["quarantined"] == 2
    admin = auth(keys["admin"])
    first, second = (i["id"] for i in client.get("/v1/quarantine", headers=admin).json()["items"])
    assert client.post(f"/v1/quarantine/{first}/discard", headers=admin).json() == {"id": first, "status": "discarded"}
    assert client.get(f"/v1/quarantine/{first}", headers=admin).json()["status"] == "discarded"
    assert client.get(f"/v1/quarantine/{second}", headers=admin).json()["status"] == "open"
    assert client.post("/v1/quarantine/999999/discard", headers=admin).status_code == 404
    assert client.post("/v1/quarantine/0/discard", headers=admin).status_code == 400
