"""A real ``hexlake serve`` (a subprocess, logging to its file, every request logged) receives PII
through every ingest route — in bodies, in nested and free-text fields, in ``X-Forwarded-For`` and
other client-address headers, in URLs — and through requests it refuses (bad JSON, bad fields,
wrong key, too large, unknown route). Then its log files, its stdout/stderr and every byte of the
data dir are searched for the plain values: none may be there, and no refusal may echo one back.
"""

from __future__ import annotations

import base64
import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import Server, env_for, free_port, init

pytestmark = [pytest.mark.slow]

_n = itertools.count(1)


def pii() -> dict[str, str]:
    """Fresh values (unique per call, so a hit names the request that leaked it)."""
    i = next(_n)
    return {"email": f"srvlog{i}.person@example.org", "phone": f"+1 415 555 {2000 + i}",
            "ip": f"198.51.100.{i % 250 + 1}", "id": f"plain-user-{i}-kq"}


class LoggingServer(Server):
    """``hexlake serve --access-log`` writing its JSON log to ``server.log`` in the data dir."""

    def __init__(self, data_dir: Path):  # Server's start-up, with the access log on
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(data_dir / f"server-{self.port}.log", "wb")  # noqa: SIM115 - closed by stop()
        env = env_for(data_dir, HEXLAKE_LOGGING__FILE="server.log", HEXLAKE_LOGGING__LEVEL="DEBUG")
        self.proc = subprocess.Popen([sys.executable, "-m", "hexlake.cli", "serve", "--port", str(self.port),
                                      "--access-log"], env=env, stdout=self.log, stderr=self.log)
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[LoggingServer, dict[str, Any]]]:
    data = tmp_path / "data"
    keys = init(data)
    server = LoggingServer(data)
    try:
        yield server, keys
    finally:
        server.stop()


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def headers(p: dict[str, str]) -> dict[str, str]:
    """Client-address headers a proxy or a client sets, and a user agent with an address in it."""
    return {"X-Forwarded-For": p["ip"], "X-Real-IP": p["ip"], "Forwarded": f"for={p['ip']}",
            "User-Agent": f"app/1.0 ({p['email']})", "Referer": f"https://shop.example/?email={p['email']}"}


def body(p: dict[str, str]) -> dict[str, Any]:
    """Properties holding every kind of value, nested, in lists and in free text."""
    return {"email": p["email"], "contact": {"Phone": p["phone"], "ids": [{"uid": p["id"]}]},
            "note": f"call {p['phone']} or write {p['email']} from {p['ip']}", "ip_address": p["ip"],
            "url": f"https://shop.example/p?email={p['email'].replace('@', '%40')}"}


def send_all(client: httpx.Client, keys: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Every ingest route, accepted and refused; returns the planted values and the refusals' bodies."""
    planted: list[str] = []
    refusals: list[str] = []
    write = keys["write_key"]
    bearer = {"Authorization": f"Bearer {write}"}

    def new() -> dict[str, str]:
        p = pii()
        planted.extend(p.values())
        return p

    def post(path: str, payload: Any, p: dict[str, str], auth: dict[str, str], ok: bool = True,
             raw: bytes | None = None) -> None:
        r = client.post(path, content=raw if raw is not None else json.dumps(payload).encode(),
                        headers={**auth, **headers(p), "Content-Type": "application/json"})
        if ok:
            assert r.status_code == 200, (path, r.status_code, r.text)
        else:  # refused whole (4xx) or item by item (quarantined, with the reasons)
            assert 400 <= r.status_code < 500 or (r.status_code == 200 and '"errors"' in r.text), \
                (path, r.status_code, r.text)
        if r.status_code >= 400 or '"errors"' in r.text:
            refusals.append(r.text)

    # Accepted: native, SDK batch, Segment (every call type, batch, import), PostHog (every path).
    p = new()
    post("/v1/events", [{"event_type": "track", "user_id": p["id"], "properties": {"event": "Logged", **body(p)},
                         "context": {"ip": p["ip"], "user_agent": f"ua {p['email']}"}}], p, bearer)
    p = new()
    post("/v1/events", {"batch": [{"event_type": "track", "user_id": p["id"], "properties": body(p),
                                   "sent_at": "2026-12-01T10:00:00Z", "timestamp": "2026-12-01T09:59:59Z"}]},
         p, bearer)
    for call in ("track", "identify", "page", "screen", "group", "alias"):
        p = new()
        msg: dict[str, Any] = {"userId": p["id"], "messageId": f"m-{call}-{next(_n)}",
                               "context": {"ip": p["ip"], "traits": {"email": p["email"]}}}
        extra: dict[str, dict[str, Any]] = {
            "track": {"event": "Logged", "properties": body(p)}, "identify": {"traits": body(p)},
            "page": {"name": "Home", "properties": body(p)}, "screen": {"name": "Home", "properties": body(p)},
            "group": {"groupId": "g1", "traits": body(p)}, "alias": {"previousId": p["email"]}}
        msg.update(extra[call])
        post(f"/v1/{call}", msg, p, basic(write))
    for path in ("/v1/batch", "/v1/import"):
        p = new()
        post(path, {"batch": [{"type": "track", "userId": p["id"], "event": "Logged", "properties": body(p),
                               "messageId": f"b-{next(_n)}", "timestamp": "2026-12-01T09:59:59Z"}]}, p, basic(write))
    for path in ("/capture/", "/batch/", "/e/", "/i/v0/e/"):
        p = new()
        event = {"event": "logged", "distinct_id": p["id"], "uuid": f"00000000-0000-4000-8000-{next(_n):012d}",
                 "properties": {**body(p), "$ip": p["ip"], "$set": {"email": p["email"], "$name": p["id"]}}}
        payload = {"api_key": write, "batch": [event]} if path == "/batch/" else {"api_key": write, **event}
        post(path, payload, p, {})

    # Refused: the values are in what the server reads and must not end up in what it writes.
    p = new()
    post("/v1/events", None, p, bearer, ok=False, raw=b'[{"event_type": "track", "user_id": "' +
         p["id"].encode() + b'", "properties": {"email": "' + p["email"].encode() + b'"')  # truncated JSON
    p = new()
    post("/v1/events", [{"event_type": p["email"], "user_id": p["id"], "timestamp": p["phone"],
                         "properties": body(p)}], p, bearer, ok=False)  # invalid type and timestamp
    p = new()
    post("/v1/events", [{"event_type": "track", "user_id": p["id"], "properties": body(p)}], p,
         {"Authorization": f"Bearer wk_{p['email']}"}, ok=False)  # unknown key
    p = new()
    post("/v1/track", {"userId": p["id"], "event": 12, "properties": body(p), "timestamp": p["email"]}, p,
         basic(write), ok=False)
    p = new()
    post("/capture/", {"api_key": write, "event": None, "distinct_id": p["id"], "properties": body(p),
                       "timestamp": p["ip"]}, p, {}, ok=False)
    p = new()
    post("/capture/", {"api_key": f"phc_{p['email']}", "event": "x", "distinct_id": p["id"]}, p, {}, ok=False)
    p = new()
    post("/v1/events", [{"event_type": "track", "user_id": p["id"], "properties": {"blob": p["email"] * 400_000}}],
         p, bearer, ok=False)  # too large
    p = new()
    r = client.get(f"/v1/events?email={p['email']}&uid={p['id']}", headers={**bearer, **headers(p)})
    assert 400 <= r.status_code < 500
    refusals.append(r.text)

    # Read routes that name a person in the path or the query (the access log had the path as sent).
    reader = {"Authorization": f"Bearer {keys['read_key']}"}
    p = new()
    for path in (f"/v1/features/users/{p['id']}", f"/v1/subjects/{p['id']}/export",
                 f"/v1/subjects/{p['email']}", f"/v1/recommend?user_id={p['id']}&k=3"):
        r = client.get(path, headers={**reader, **headers(p)})
        if r.status_code >= 400:
            refusals.append(r.text)
    return planted, refusals


def leaked(values: list[str], data: bytes) -> list[str]:
    return sorted({v for v in values if v.encode() in data or json.dumps(v)[1:-1].encode() in data})


def test_the_server_log_and_refusals_hold_no_planted_pii(served: tuple[LoggingServer, dict[str, Any]]) -> None:
    server, keys = served
    with httpx.Client(base_url=server.url, timeout=30) as client:
        planted, refusals = send_all(client, keys)
        # the background loader and stream consumers handle what was accepted (and log about it)
        assert client.get("/v1/log/status", headers={"Authorization": f"Bearer {keys['read_key']}"}).status_code \
            in (200, 403)
    server.stop()
    logs = sorted(server.data_dir.glob("server.log*"))
    assert logs and logs[0].stat().st_size > 0, "the server wrote no log file"
    log_text = b"".join(p.read_bytes() for p in logs)
    assert b'"logger": "uvicorn.access"' in log_text or b'"logger":"uvicorn.access"' in log_text  # requests logged
    assert not leaked(planted, log_text), f"in the server log: {leaked(planted, log_text)[:6]}"
    answer = "\n".join(refusals).encode()
    assert not leaked(planted, answer), f"echoed by a refusal: {leaked(planted, answer)[:6]}"
    everything = b"".join(p.read_bytes() for p in sorted(server.data_dir.rglob("*")) if p.is_file())
    assert not leaked(planted, everything), f"in the data dir: {leaked(planted, everything)[:6]}"
