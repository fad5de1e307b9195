"""Webhook deliveries retry only what retrying can fix: 5xx/408/429/network errors, not a refusing 4xx."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from hexlake.stream.webhooks import WebhookQueue


def queue_with(tmp_path: Path, handler: httpx.MockTransport) -> tuple[WebhookQueue, httpx.Client, list[float]]:
    now = [1_000.0]
    queue = WebhookQueue(tmp_path / "stream.sqlite", b"k", clock=lambda: now[0], max_attempts=4, backoff_base_s=1)
    queue.enqueue("d1", "https://hooks.example/x", {"event_id": "d1"})
    return queue, httpx.Client(transport=handler), now


def answer(status: int) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_a_refusing_4xx_fails_the_delivery_at_once(tmp_path: Path, status: int) -> None:
    queue, client, now = queue_with(tmp_path, answer(status))
    assert queue.deliver_due(client) == 0
    now[0] += 3600
    assert queue.deliver_due(client) == 0  # never tried again
    assert queue.stats() == {"failed": 1}
    assert queue.conn.execute("SELECT attempts, last_error FROM webhook_deliveries").fetchone() == (
        1, f"HTTP {status}")


@pytest.mark.parametrize("status", [500, 502, 503, 408, 429])
def test_a_transient_answer_is_retried_until_max_attempts(tmp_path: Path, status: int) -> None:
    queue, client, now = queue_with(tmp_path, answer(status))
    for _ in range(3):
        assert queue.deliver_due(client) == 0
        assert queue.stats() == {"pending": 1}  # not failed before max_attempts
        now[0] += 100
    assert queue.deliver_due(client) == 0
    assert queue.stats() == {"failed": 1}


def test_a_network_error_is_retried(tmp_path: Path) -> None:
    calls = [0]

    def flaky(request: httpx.Request) -> httpx.Response:
        calls[0] += 1
        if calls[0] == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(204)

    queue, client, now = queue_with(tmp_path, httpx.MockTransport(flaky))
    assert queue.deliver_due(client) == 0 and queue.stats() == {"pending": 1}
    now[0] += 10
    assert queue.deliver_due(client) == 1 and queue.stats() == {"delivered": 1}
