"""The SDK against a real ``hexlake serve``: every call arrives hashed, and a server killed with
SIGKILL and restarted mid-stream still ends with every tracked event stored exactly once."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from hexlake.client import Client
from tests.client.server import HexlakeServer, hexlake_server  # noqa: F401  (shared server fixture)

pytestmark = pytest.mark.slow


def test_every_call_type_arrives_with_ids_hashed(hexlake_server: HexlakeServer) -> None:  # noqa: F811
    client = Client(hexlake_server.write_key, hexlake_server.url, sync=True)
    ids = {
        client.track("signup", {"method": "password", "plan": "pro"}, user_id="user-1"): "signup",
        client.identify("user-1", {"email": "ada@example.com", "plan": "pro"}): "identify",
        client.page("Pricing", {"path": "/pricing"}, anonymous_id="anon-1"): "page",
        client.screen("Map", user_id="user-1"): "screen",
        client.location(52.52, 13.405, accuracy=10, user_id="user-1"): "location_ping",
    }
    client.shutdown()
    events = {e.event_id: e for e in hexlake_server.log_events()}
    assert {i: events[i].event_type for i in ids if i is not None} == ids
    signup = next(e for i, e in events.items() if ids.get(i) == "signup")
    assert signup.user_key and len(signup.user_key) == 64 and signup.user_key != "user-1"
    assert signup.properties["plan"] == "pro"
    ping = next(e for i, e in events.items() if ids.get(i) == "location_ping")
    assert ping.lat is not None and ping.h3_r9 is not None
    assert "ada@example.com" not in repr(list(events.values()))


def test_server_killed_and_restarted_mid_stream_every_event_stored_exactly_once(
    hexlake_server: HexlakeServer, tmp_path: Path  # noqa: F811
) -> None:
    # One outage, two clients streaming through it: memory queue and SQLite disk queue.
    clients = [Client(hexlake_server.write_key, hexlake_server.url, batch_size=100, flush_interval=0.05,
                      backoff_base=0.05, backoff_max=0.5, disk_queue=disk)
               for disk in (None, tmp_path / "q.sqlite")]
    tracked: list[list[str | None]] = [[], []]

    def burst(n: int) -> None:
        for i in range(n):
            which = i % 2
            tracked[which].append(clients[which].track(
                "track", {"event": "tick", "value": i}, user_id=f"u{i % 9}"))
            if i % 100 == 0:
                time.sleep(0.01)  # a stream, not one burst: the kill lands mid-request

    burst(2000)
    hexlake_server.kill()
    burst(1000)  # server down: queued, retried with backoff
    hexlake_server.start()
    burst(2000)
    for client in clients:
        assert client.flush(timeout=90)
    stats = [client.stats for client in clients]
    for client in clients:
        client.shutdown()

    mine = {i for ids in tracked for i in ids}
    assert None not in mine and len(mine) == 5000
    in_log = Counter(e.event_id for e in hexlake_server.log_events() if e.event_id in mine)
    assert set(in_log) == mine
    assert max(in_log.values()) == 1  # no duplicate reached the log
    for s in stats:
        assert s["retries"] >= 1 and s["rejected"] == 0 and s["failed"] == 0 and s["pending"] == 0
