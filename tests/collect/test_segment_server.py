"""Segment compatibility against a real ``hexlake serve``: the official segment-analytics-python
library (every call type, retries without duplicates) and the HTTP API's answers."""

from __future__ import annotations

import base64
import gzip
import json
import uuid

import httpx
import pytest
from segment.analytics import Client as SegmentClient

from tests.client.fakeserver import LossyProxy
from tests.client.server import HexlakeServer, hexlake_server  # noqa: F401  (shared server fixture)

pytestmark = pytest.mark.slow


def segment(server: HexlakeServer, host: str | None = None, **kw: object) -> SegmentClient:
    errors: list[object] = []
    client = SegmentClient(write_key=server.write_key, host=host or server.url, on_error=lambda e, b: errors.append(e),
                           **kw)
    client.errors = errors
    return client


def test_official_library_every_call_type_arrives(hexlake_server: HexlakeServer) -> None:  # noqa: F811
    client = segment(hexlake_server, gzip=True)
    sent = [
        client.track("user-1", "Order Completed", {"revenue": 39.5},
                     context={"ip": "203.0.113.7", "location": {"latitude": 52.52, "longitude": 13.405}}),
        client.identify("user-1", {"email": "ada@example.com", "plan": "pro"}),
        client.page("user-1", "Docs", "Pricing", {"path": "/pricing"}),
        client.screen(None, "App", "Map", {"zoom": 12}, anonymous_id="anon-1"),
        client.group("user-1", "acme", {"name": "ACME"}),
        client.alias("anon-1", "user-1"),
    ]
    client.flush()
    client.join()
    assert client.errors == []
    events = {e.event_id: e for e in hexlake_server.log_events()}
    by_id = {msg["messageId"]: msg["type"] for _, msg in sent}
    assert {mid: events[mid].event_type for mid in by_id} == by_id
    track = events[sent[0][1]["messageId"]]
    assert track.properties["event"] == "Order Completed" and track.properties["revenue"] == 39.5
    assert track.user_key and track.user_key != "user-1"
    assert track.lat is not None  # context.location → lat/lng (coarsened: no consent)
    everything = repr(list(events.values()))
    assert "203.0.113.7" not in everything and "ada@example.com" not in everything
    alias = events[sent[5][1]["messageId"]]
    screen = events[sent[3][1]["messageId"]]
    assert alias.anonymous_key == screen.anonymous_key  # previousId hashed like anonymousId


def test_same_message_ids_sent_twice_are_stored_once(hexlake_server: HexlakeServer) -> None:  # noqa: F811
    run = f"dup-{uuid.uuid4().hex[:8]}-"
    first, second = segment(hexlake_server, sync_mode=True), segment(hexlake_server, sync_mode=True)
    for client in (first, second):
        for i in range(20):
            client.track("user-1", "Clicked", {"i": i}, message_id=f"{run}{i}")
    answer = httpx.post(hexlake_server.url + "/v1/batch", auth=(hexlake_server.write_key, ""), json={
        "batch": [{"type": "track", "userId": "user-1", "event": "Clicked", "messageId": f"{run}0"}]})
    assert answer.json()["duplicates"] == 1
    ids = [e.event_id for e in hexlake_server.log_events(prefix=run)]
    assert sorted(ids) == sorted(f"{run}{i}" for i in range(20))


def test_retry_after_a_lost_answer_does_not_duplicate(hexlake_server: HexlakeServer) -> None:  # noqa: F811
    proxy = LossyProxy(hexlake_server.url, drop=2)
    with proxy.serve() as host:
        client = segment(hexlake_server, host=host, upload_size=50)
        sent = [client.track("user-1", "Viewed", {"i": i})[1]["messageId"] for i in range(50)]
        client.flush()
        client.join()
    assert proxy.forwarded >= 3  # stored twice by the server without the library hearing back
    mine = set(sent)
    ids = [e.event_id for e in hexlake_server.log_events() if e.event_id in mine]
    assert sorted(ids) == sorted(sent)


def post(server: HexlakeServer, path: str, body: object, **kw: object) -> httpx.Response:
    return httpx.post(server.url + path, auth=(server.write_key, ""), json=body, **kw)  # type: ignore[arg-type]


def test_http_api_answers_like_segment(hexlake_server: HexlakeServer) -> None:  # noqa: F811
    url, key = hexlake_server.url, hexlake_server.write_key
    run = f"api-{uuid.uuid4().hex[:8]}-"
    ok = httpx.post(url + "/v1/track", json={"writeKey": key, "userId": "u", "event": "E", "messageId": f"{run}1"})
    assert ok.status_code == 200 and ok.json()["success"] is True
    packed = gzip.compress(json.dumps({"userId": "u", "traits": {"plan": "x"}}).encode())
    zipped = httpx.post(url + "/v1/identify", content=packed, headers={
        "Content-Encoding": "gzip", "Content-Type": "application/json",
        "Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()})
    assert zipped.status_code == 200, zipped.text

    bad_json = httpx.post(url + "/v1/track", content=b"{nope", auth=(key, ""))
    assert bad_json.status_code == 400 and "invalid JSON" in bad_json.json()["message"]
    no_id = post(hexlake_server, "/v1/track", {"event": "E"})
    assert no_id.status_code == 400 and "userId or anonymousId is required" in no_id.json()["error"]["message"]
    big = post(hexlake_server, "/v1/track", {"userId": "u", "event": "E", "properties": {"x": "a" * 40_000}})
    assert big.status_code == 400 and "limit" in big.json()["message"]
    big_batch = post(hexlake_server, "/v1/batch", {"batch": [
        {"type": "track", "userId": "u", "event": "E", "properties": {"x": "a" * 30_000}}] * 20})
    assert big_batch.status_code == 400 and "byte limit" in big_batch.json()["message"]
    no_key = httpx.post(url + "/v1/track", json={"userId": "u", "event": "E"})
    assert no_key.status_code == 401 and no_key.json()["success"] is False

    mixed = post(hexlake_server, "/v1/batch", {"sentAt": "2024-05-01T10:00:05Z", "batch": [
        {"type": "track", "userId": "u", "event": "A", "messageId": f"{run}2"},
        {"type": "track", "event": "no ids", "messageId": f"{run}3"},
        {"type": "page", "anonymousId": "a", "name": "Home", "messageId": f"{run}4"}]})
    assert mixed.status_code == 200
    assert mixed.json()["accepted"] == 2 and [e["index"] for e in mixed.json()["errors"]] == [1]
    assert {e.event_id for e in hexlake_server.log_events(prefix=run)} == {f"{run}1", f"{run}2", f"{run}4"}
