"""PostHog compatibility against a real ``hexlake serve``: the official posthog library and the
capture API's body variants (gzip, gzip-js, form-encoded base64, arrays with the token inside)."""

from __future__ import annotations

import base64
import gzip
import json
import uuid

import httpx
import pytest
from posthog import Posthog

from tests.client.server import HexlakeServer, hexlake_server  # noqa: F401  (shared server fixture)

pytestmark = pytest.mark.slow


def test_official_library_capture_set_alias_group_arrive(hexlake_server: HexlakeServer) -> None:  # noqa: F811
    client = Posthog(hexlake_server.write_key, host=hexlake_server.url, gzip=True, sync_mode=True)
    ids = [
        client.capture("clicked_buy", distinct_id="user-1", properties={"sku": "A1", "$ip": "198.51.100.2"}),
        client.capture("$pageview", distinct_id="user-1", properties={"$current_url": "https://ex.com/p"}),
        client.set(distinct_id="user-1", properties={"email": "ada@example.com", "plan": "pro"}),
        client.alias(previous_id="anon-1", distinct_id="user-1"),
        client.group_identify("company", "acme", {"name": "ACME"}, distinct_id="user-1"),
    ]
    client.shutdown()
    events = {e.event_id: e for e in hexlake_server.log_events()}
    assert [events[str(i)].event_type for i in ids] == ["track", "page", "identify", "alias", "group"]
    buy = events[str(ids[0])]
    assert buy.properties["event"] == "clicked_buy" and buy.properties["sku"] == "A1"
    assert buy.context["library"]["name"].startswith("posthog")
    everything = repr(list(events.values()))
    assert "198.51.100.2" not in everything and "ada@example.com" not in everything


def test_capture_body_variants(hexlake_server: HexlakeServer) -> None:  # noqa: F811
    url, key = hexlake_server.url, hexlake_server.write_key
    run = f"ph-{uuid.uuid4().hex[:8]}-"

    def ev(n: str) -> dict:
        return {"event": "e", "distinct_id": "u", "uuid": run + n, "properties": {"token": key}}

    single = httpx.post(url + "/capture/", json={"api_key": key, **ev("1")})
    assert single.status_code == 200 and single.json()["status"] == 1
    array = httpx.post(url + "/e/", json=[ev("2"), ev("3")])
    assert array.json()["accepted"] == 2
    gz = httpx.post(url + "/i/v0/e/?compression=gzip-js", content=gzip.compress(json.dumps([ev("4")]).encode()))
    assert gz.json()["accepted"] == 1, gz.text
    form = httpx.post(url + "/e", data={"data": base64.b64encode(json.dumps(ev("5")).encode()).decode()})
    assert form.json()["accepted"] == 1, form.text
    batch = httpx.post(url + "/batch/", json={"api_key": key, "sent_at": "2024-05-01T10:00:00+00:00",
                                              "batch": [ev("1"), {"event": "x"}]})
    assert batch.json()["duplicates"] == 1 and batch.json()["errors"][0]["index"] == 1

    no_key = httpx.post(url + "/capture/", json={"event": "e", "distinct_id": "u"})
    assert no_key.status_code == 401 and "api_key" in no_key.json()["detail"]
    no_distinct = httpx.post(url + "/capture/", json={"api_key": key, "event": "e"})
    assert no_distinct.status_code == 400 and "distinct_id" in no_distinct.json()["detail"]
    assert {e.event_id for e in hexlake_server.log_events(prefix=run)} == {f"{run}{i}" for i in range(1, 6)}
