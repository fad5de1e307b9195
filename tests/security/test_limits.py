"""Limits an attacker runs into: rate limits per key, body caps on every route (however the body is
framed), a bounded auth cache under a flood of bogus keys, bounded upload bookkeeping."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from hexlake.collect.sources import KeyStore
from hexlake.config import Settings
from hexlake.errors import TooManyRequests, Unauthorized
from hexlake.serve import operations as ops
from hexlake.serve.app import create_app
from hexlake.serve.principal import Principal, parse_rate
from hexlake.serve.ratelimit import RateLimiter
from hexlake.setup import initialise
from tests.helpers import Server, app_runtime, init

ADMIN_TOKEN = "hxa_limits-admin-token"
EVENT = {"event_type": "app_open", "user_id": "1", "timestamp": "2026-11-20T10:00:00Z"}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def make_client(tmp_path: Path, **serve: Any) -> tuple[TestClient, dict[str, str]]:
    settings = Settings(data_dir=tmp_path / "data", serve=serve)
    keys = initialise(settings)
    return TestClient(create_app(settings, admin_token=ADMIN_TOKEN, background=False)), keys


Limited = tuple[TestClient, dict[str, str]]  # an in-process client and the data dir's keys


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    client, keys = make_client(tmp_path, read_rate="off", ingest_rate="off", max_body_bytes=64 * 1024)
    with client:
        yield client, keys


# --- rate limits ------------------------------------------------------------------------------------
def test_a_key_over_its_own_rate_gets_429_with_retry_after_then_recovers(limited: Limited) -> None:
    client, _ = limited
    runtime = app_runtime(client)
    key = ops.keys_create(runtime, "read", name="app", rate="3/s")["key"]
    answers = [client.get("/v1/places", headers=auth(key)) for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    refused = answers[3]
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "TooManyRequests"
    assert int(refused.headers["Retry-After"]) >= 1
    # another key has its own bucket; the server's admin token is never limited
    assert client.get("/v1/places", headers=auth(ADMIN_TOKEN)).status_code == 200
    other = ops.keys_create(runtime, "read", name="other", rate="3/s")["key"]
    assert client.get("/v1/places", headers=auth(other)).status_code == 200
    time.sleep(float(refused.json()["error"]["details"][0]["retry_after"]) + 0.05)
    assert client.get("/v1/places", headers=auth(key)).status_code == 200


def test_ingest_is_limited_per_write_key_on_every_collector(limited: Limited) -> None:
    client, _ = limited
    runtime = app_runtime(client)
    ops.sources_create(runtime, "burst")
    key = ops.keys_create(runtime, "write", source="burst", rate="2/min")["key"]
    assert client.post("/v1/events", json=EVENT, headers=auth(key)).status_code == 200
    segment = {"writeKey": key, "userId": "1", "event": "Opened", "timestamp": "2026-11-20T10:00:00Z"}
    assert client.post("/v1/track", json=segment).status_code == 200
    refused = client.post("/v1/events", json=EVENT, headers=auth(key))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 25  # 2/min: 30 s per token
    refused = client.post("/v1/track", json=segment)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 25
    posthog = client.post("/capture", json={"api_key": key, "event": "x", "distinct_id": "1"})
    assert posthog.status_code == 429 and "Retry-After" in posthog.headers


def test_default_rates_come_from_settings(tmp_path: Path) -> None:
    client, keys = make_client(tmp_path, read_rate="2/s", ingest_rate="off")
    with client:
        codes = [client.get("/v1/places", headers=auth(keys["read_key"])).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        assert all(client.post("/v1/events", json=EVENT, headers=auth(keys["write_key"])).status_code == 200
                   for _ in range(5))


def test_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(parse_rate("10/s"), None, clock=lambda: now[0])
    who = Principal(key_id="k_1", kind="read")
    for _ in range(10):
        limiter.take(who, "ingest")
    with pytest.raises(TooManyRequests) as refused:
        limiter.take(who, "ingest")
    assert refused.value.retry_after == pytest.approx(0.1)
    now[0] += 0.25  # 2.5 tokens
    limiter.take(who, "ingest")
    limiter.take(who, "ingest")
    with pytest.raises(TooManyRequests):
        limiter.take(who, "ingest")
    limiter.take(who, "read")  # no default read rate: unlimited


# --- body caps ----------------------------------------------------------------------------------------
async def _asgi(app: Any, method: str, path: str, chunks: list[bytes], headers: list[tuple[bytes, bytes]]
                ) -> tuple[int, bytes, int]:
    """Drive the app with a hand-framed body: returns (status, body, how many chunks it read)."""
    pending = list(chunks)
    read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        if not pending:
            return {"type": "http.disconnect"}
        read += 1
        body = pending.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": {}}
    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body, read


MIB = 1024 * 1024
ROUTES = [("POST", "/v1/query"), ("POST", "/v1/places"), ("POST", "/v1/geofences"),
          ("POST", "/v1/features/users:batch"), ("POST", "/v1/uploads"), ("POST", "/v1/admin/ops/keys_list")]


@pytest.mark.parametrize("method, path", ROUTES)
def test_lying_content_length_and_chunked_bodies_stop_at_the_cap(limited: Limited, method: str, path: str) -> None:
    client, keys = limited
    app = client.app
    writes = ("/v1/places", "/v1/geofences", "/v1/uploads")
    key = ADMIN_TOKEN if "admin" in path else keys["write_key"] if path in writes else keys["read_key"]
    cap = 64 * 1024 if "admin" not in path else 64 * MIB
    chunks = [b"x" * (256 * 1024)] * (cap // (256 * 1024) + 8)  # 8 chunks (2 MiB) more than the cap
    base = [(b"authorization", f"Bearer {key}".encode()), (b"content-type", b"application/json")]
    for framing in ([(b"content-length", b"100")], [(b"transfer-encoding", b"chunked")]):
        status, body, read = asyncio.run(_asgi(app, method, path, chunks, base + framing))
        assert status == 413, body
        assert orjson.loads(body)["error"]["field"] == "body"
        assert orjson.loads(body)["error"]["type"] == "PayloadTooLarge"
        assert read <= cap // (256 * 1024) + 1  # stopped reading right after the cap
    status, body, read = asyncio.run(_asgi(app, method, path, chunks, [*base, (b"content-length", b"999999999")]))
    assert status == 413 and read == 0  # a declared size over the cap: refused unread


def test_admin_routes_take_big_bodies_only_from_the_server_admin_token(limited: Limited) -> None:
    client, keys = limited
    chunks = [b"x" * (256 * 1024)] * 64  # 16 MiB
    for key in ("bogus", keys["read_key"]):
        headers = [(b"authorization", f"Bearer {key}".encode()), (b"transfer-encoding", b"chunked")]
        status, _, read = asyncio.run(_asgi(client.app, "POST", "/v1/admin/ops/send", chunks, headers))
        assert status == 413 and read <= 1  # the default 64 KiB cap, not the admin 64 MiB one


def test_collectors_keep_their_own_larger_cap(limited: Limited) -> None:
    client, keys = limited
    events = [{**EVENT, "event_id": f"e{i}", "properties": {"pad": "p" * 200}} for i in range(1000)]
    body = b"\n".join(orjson.dumps(e) for e in events)
    assert len(body) > 64 * 1024  # over the general cap, under collect.max_request_bytes
    r = client.post("/v1/events", content=body,
                    headers={**auth(keys["write_key"]), "Content-Type": "application/x-ndjson"})
    assert r.status_code == 200 and r.json()["accepted"] == 1000


def _peak_rss_kb(pid: int) -> int:
    """The process's peak resident set (VmHWM): a body buffered and freed again still shows."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def _stream(total: int) -> Iterator[bytes]:
    """A valid JSON object of ``total`` bytes (one huge string), streamed chunked."""
    yield b'{"sql": "SELECT 1 --'
    piece = b"x" * (512 * 1024)
    for _ in range(total // len(piece)):
        yield piece
    yield b'"}'


def test_huge_bodies_on_read_place_geofence_and_admin_routes_keep_rss_bounded(tmp_path: Path) -> None:
    data = tmp_path / "data"
    keys = init(data)
    with Server(data, background=False) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        token = json.loads((data / "server.json").read_text())["admin_token"]
        before = _peak_rss_kb(server.proc.pid)
        targets = [("/v1/query", keys["read_key"]), ("/v1/places", keys["write_key"]),
                   ("/v1/geofences", keys["write_key"]), ("/v1/features/users:batch", keys["read_key"]),
                   ("/v1/admin/ops/send", token), ("/v1/query", "bogus"), ("/v1/places", keys["read_key"]),
                   ("/v1/admin/ops/send", keys["read_key"])]
        for path, key in targets:  # 8 × 100 MB, chunked: no Content-Length to refuse up front
            try:
                r = http.post(path, content=_stream(100 * MIB), headers=auth(key))
                assert r.status_code in (401, 403, 413), (path, r.status_code, r.text[:200])
            except httpx.TransportError:
                pass  # the server answered 413 and closed while we were still sending: also a refusal
        grown_mb = (_peak_rss_kb(server.proc.pid) - before) / 1024
        assert grown_mb < 100, f"server peak RSS grew {grown_mb:.0f} MB"
        assert http.get("/healthz").status_code == 200


# --- auth cache ---------------------------------------------------------------------------------------
def test_bogus_key_flood_keeps_the_auth_cache_under_its_cap(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    keys = initialise(settings)
    store = KeyStore(settings.paths.catalog_db, cache_size=1000)
    for i in range(100_000):
        try:
            store.resolve(f"hxr_bogus{i}")
        except Unauthorized:
            pass
        else:
            raise AssertionError("a bogus key resolved")
    assert store.cache_len() <= 1000
    assert store.resolve(keys["read_key"]).kind == "read"  # real keys still resolve
    store.close()


def test_bogus_keys_over_http_are_401_and_bounded(tmp_path: Path) -> None:
    client, keys = make_client(tmp_path, auth_cache_size=50, read_rate="off")
    with client:
        for i in range(300):
            assert client.get("/v1/places", headers=auth(f"hxr_x{i}")).status_code == 401
        from hexlake.collect.sources import get_keystore

        assert get_keystore(app_runtime(client)).cache_len() <= 50
        assert client.get("/v1/places", headers=auth(keys["read_key"])).status_code == 200


# --- uploads ------------------------------------------------------------------------------------------
def test_tiny_chunk_size_is_refused_naming_chunk_size(limited: Limited) -> None:
    client, keys = limited
    r = client.post("/v1/uploads", json={"filename": "t.zip", "size": 30_000_000, "chunk_size": 1},
                    headers=auth(keys["write_key"]))
    assert r.status_code == 400 and r.json()["error"]["field"] == "chunk_size"
    assert len(r.content) < 1000


def test_chunk_count_is_capped_and_missing_chunks_come_as_ranges(limited: Limited) -> None:
    client, keys = limited
    w = auth(keys["write_key"])
    too_many = client.post("/v1/uploads", json={"filename": "t.zip", "size": 50 * 1024**3, "chunk_size": MIB},
                           headers=w)
    assert too_many.status_code == 400 and too_many.json()["error"]["field"] == "chunk_size"
    assert "upload_max_chunks" in too_many.json()["error"]["message"]
    big = client.post("/v1/uploads", json={"filename": "t.zip", "size": 50 * 1024**3, "chunk_size": 64 * MIB},
                      headers=w)
    assert big.status_code == 201 and big.json()["missing"] == [[0, 799]] and len(big.content) < 1000
    small = client.post("/v1/uploads", json={"filename": "t.zip", "size": 3 * MIB, "chunk_size": MIB},
                        headers=w).json()
    chunk = b"\0" * small["chunk_size"]
    put = client.put(f"/v1/uploads/{small['id']}/chunks/0", content=chunk,
                     headers={**w, "X-Chunk-SHA256": hashlib.sha256(chunk).hexdigest()})
    assert put.status_code == 200 and put.json()["received"] == [[0, 0]]
    done = client.post(f"/v1/uploads/{small['id']}/complete", json={"user_id": "a"}, headers=w)
    assert done.status_code == 409 and done.json()["error"]["details"] == [[1, small["chunks_total"] - 1]]
    # the upload file itself is private
    folder = Path(app_runtime(client).paths.uploads) / small["id"]
    assert all(p.stat().st_mode & 0o077 == 0 for p in [folder, *folder.iterdir()])
