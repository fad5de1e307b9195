"""Signed webhook deliveries of derived geofence events, retried with exponential backoff.

Like every consumer in hexlake, a failure is retried only if retrying can help: network errors,
timeouts, HTTP 5xx, 408, 425 and 429 are transient (retried up to ``max_attempts``); any other 4xx
(the receiver refuses this delivery) and a malformed URL fail the delivery at once.

Deliveries are queued in the stream state file (idempotent on the event id), so a crash neither
loses nor duplicates them in the queue. Each POST carries ``X-Hexlake-Signature: sha256=<hex>``,
the HMAC-SHA256 of ``<timestamp>.<body>`` with the deployment's webhook key
(``hexlake geofences webhook-key`` prints it), plus ``X-Hexlake-Timestamp`` and ``X-Hexlake-Delivery``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson

from hexlake.stream.state import connect

TRANSIENT_HTTP = frozenset({408, 425, 429})  # 4xx answers that mean "later", not "never"
_DDL = (
    "CREATE TABLE IF NOT EXISTS webhook_deliveries (id TEXT PRIMARY KEY, url TEXT NOT NULL, body BLOB NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL, status TEXT NOT NULL DEFAULT 'pending',"
    " last_error TEXT)"
)


def webhook_key(secret: bytes) -> bytes:
    """The signing key, derived from the data dir secret (never the secret itself)."""
    return hmac.new(secret, b"hexlake-webhook-v1", hashlib.sha256).hexdigest().encode()


def sign(key: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class WebhookQueue:
    def __init__(self, path: Path, key: bytes, *, clock: Callable[[], float] = time.time,
                 max_attempts: int = 6, backoff_base_s: float = 1.0, timeout_s: float = 5.0):
        self.conn = connect(path)
        self.conn.execute(_DDL)
        self.key, self.clock = key, clock
        self.max_attempts, self.base, self.timeout = max_attempts, backoff_base_s, timeout_s

    def enqueue(self, delivery_id: str, url: str, payload: dict[str, object]) -> None:
        self.conn.execute("INSERT OR IGNORE INTO webhook_deliveries (id, url, body, next_at) VALUES (?, ?, ?, ?)",
                          (delivery_id, url, orjson.dumps(payload), self.clock()))

    def deliver_due(self, client: httpx.Client | None = None) -> int:
        """POST every due delivery once; return how many succeeded."""
        rows = self.conn.execute(
            "SELECT id, url, body, attempts FROM webhook_deliveries WHERE status = 'pending' AND next_at <= ?"
            " ORDER BY next_at LIMIT 100", (self.clock(),)).fetchall()
        if not rows:
            return 0
        own = client is None
        client = client or httpx.Client(timeout=self.timeout)
        ok = 0
        try:
            for did, url, body, attempts in rows:
                ok += self._attempt(client, did, url, body, attempts + 1)
        finally:
            if own:
                client.close()
        return ok

    def _attempt(self, client: httpx.Client, did: str, url: str, body: bytes, attempt: int) -> int:
        ts = str(int(self.clock()))
        headers = {"content-type": "application/json", "x-hexlake-delivery": did, "x-hexlake-timestamp": ts,
                   "x-hexlake-signature": sign(self.key, ts, body)}
        try:
            resp = client.post(url, content=body, headers=headers)
            error = None if resp.status_code < 300 else f"HTTP {resp.status_code}"
            transient = resp.status_code >= 500 or resp.status_code in TRANSIENT_HTTP
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
            transient = isinstance(exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError)
        if error is None:
            self.conn.execute("UPDATE webhook_deliveries SET status = 'delivered', attempts = ? WHERE id = ?",
                              (attempt, did))
            return 1
        status = "failed" if attempt >= self.max_attempts or not transient else "pending"
        next_at = self.clock() + self.base * 2 ** (attempt - 1)
        self.conn.execute(
            "UPDATE webhook_deliveries SET attempts = ?, next_at = ?, status = ?, last_error = ? WHERE id = ?",
            (attempt, next_at, status, error, did))
        return 0

    def stats(self) -> dict[str, int]:
        return dict(self.conn.execute("SELECT status, count(*) FROM webhook_deliveries GROUP BY status").fetchall())

    def close(self) -> None:
        self.conn.close()
