"""The SDK against a real ``hexlake serve``: every call arrives hashed, and a server killed with
SIGKILL and restarted mid-stream still ends with every tracked event stored exactly once."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from hexlake.client import Client
from tests.client.server import HexlakeServer, hexlake_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow


def test_every_call_type_arrives_with_ids_hashed(hexlake_server: HexlakeServer) -> None:  # noqa: F811
    client = Client(hexlake_server.write_key, hexlake_server.url, sync=True)
    ids = {
        client.track("signup", {"plan": "pro"}, user_id="user-1"): "signup",
        client.identify("user-1", {"email": "ada@example.com", "plan": "pro"}): "identify",
        client.page("Pricing", {"path": "/pricing"}, anonymous_id="anon-1"): "page",
        client.screen("Map", user_id="user-1"): "screen",
        client.location(52.52, 13.405, accuracy=10, user_id="user-1"): "location_ping",
    }
    client.shutdown()
    hexlake_server.stop()
    events = {e.event_id: e for e in hexlake_server.log_events()}
    assert {i: events[i].event_type for i in ids} == ids
    signup = next(e for i, e in events.items() if ids.get(i) == "signup")
    assert signup.user_key and len(signup.user_key) == 64 and signup.user_key != "user-1"
    assert signup.properties["plan"] == "pro"
    ping = next(e for i, e in events.items() if ids.get(i) == "location_ping")
    assert ping.lat is not None and ping.h3_r9 is not None
    assert "ada@example.com" not in repr(list(events.values()))


@pytest.mark.parametrize("disk", [False, True], ids=["memory-queue", "disk-queue"])
def test_server_killed_and_restarted_mid_stream_every_event_stored_exactly_once(
    hexlake_server: HexlakeServer, tmp_path: Path, disk: bool  # noqa: F811
) -> None:
    client = Client(hexlake_server.write_key, hexlake_server.url, batch_size=100, flush_interval=0.05,
                    backoff_base=0.05, backoff_max=0.5, disk_queue=tmp_path / "q.sqlite" if disk else None)
    tracked: list[str | None] = []

    def burst(n: int) -> None:
        for i in range(n):
            tracked.append(client.track("signup", {"i": len(tracked)}, user_id=f"u{i % 50}"))
            if i % 100 == 0:
                time.sleep(0.01)  # a stream, not one burst: the kill lands mid-request

    burst(1500)
    hexlake_server.kill()
    burst(1000)  # server down: queued, retried with backoff
    time.sleep(0.5)
    hexlake_server.start()
    burst(1500)
    assert client.flush(timeout=90)
    stats = client.stats
    client.shutdown()
    hexlake_server.stop()

    assert None not in tracked and len(set(tracked)) == 4000
    in_log = Counter(e.event_id for e in hexlake_server.log_events())
    assert set(in_log) == set(tracked)
    assert max(in_log.values()) == 1  # no duplicate reached the log
    assert stats["retries"] >= 1 and stats["rejected"] == 0 and stats["failed"] == 0
