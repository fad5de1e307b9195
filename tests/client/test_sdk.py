"""The SDK's delivery guarantees against a scripted HTTP server: batching, gzip, retries with the
same ids, backoff on 429/5xx/network errors, 413 splitting, sync mode, bounded queue, disk queue."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from hexlake.client import Client, DeliveryError, EventsRejected
from tests.client.fakeserver import Recorder, serve

FAST: dict[str, Any] = {"backoff_base": 0.01, "backoff_max": 0.05, "flush_interval": 0.05}


def sent(*event_ids: str | None) -> list[str]:
    """The ids the client returned: every event was queued (none dropped)."""
    assert None not in event_ids, event_ids
    return [i for i in event_ids if i is not None]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_background_batches_gzip_and_flush_deliver_every_event_once() -> None:
    rec = Recorder()
    with serve(rec) as host:
        client = Client("hxw_test", host, batch_size=100, **FAST)
        ids = sent(*[client.track("signup", {"n": i}, user_id=f"u{i % 7}") for i in range(1000)])
        assert client.flush(timeout=20)
        client.shutdown()
    assert sorted(rec.stored) == sorted(ids)
    assert len(rec.attempts) >= 10 and max(len(a) for a in rec.attempts) <= 100
    assert any(h.get("content-encoding") == "gzip" for h in rec.headers)
    assert rec.headers[0]["authorization"] == "Bearer hxw_test"
    first = rec.stored[ids[0]]
    assert first["event_type"] == "signup" and first["properties"] == {"n": 0} and first["user_id"] == "u0"
    assert isinstance(first["timestamp"], int)
    assert first["context"]["library"]["name"] == "hexlake-python"


def test_5xx_and_429_are_retried_with_the_same_event_ids() -> None:
    rec = Recorder(script=[503, 429, 500])
    with serve(rec) as host:
        client = Client("k", host, **FAST)
        ids = sent(*[client.track("e", user_id="u") for _ in range(5)])
        assert client.flush(timeout=20)
        stats = client.stats
        client.shutdown()
    assert len(rec.attempts) == 4
    assert all([e["event_id"] for e in attempt] == ids for attempt in rec.attempts)
    assert stats["retries"] == 3 and stats["accepted"] == 5 and stats["pending"] == 0


def test_server_down_at_first_then_up_loses_nothing() -> None:
    port = free_port()
    client = Client("k", f"http://127.0.0.1:{port}", **FAST)
    ids = sent(*[client.track("e", {"i": i}, anonymous_id="a") for i in range(50)])
    time.sleep(0.3)  # several connection-refused attempts
    rec = Recorder()
    with serve(rec, port=port):
        assert client.flush(timeout=20)
        client.shutdown()
    assert sorted(rec.stored) == sorted(ids)
    assert client.stats["retries"] >= 1


def test_payload_too_large_splits_the_batch() -> None:
    rec = Recorder(max_batch=10)
    with serve(rec) as host:
        client = Client("k", host, batch_size=64, **FAST)
        ids = sent(*[client.track("e", user_id="u") for _ in range(64)])
        assert client.flush(timeout=20)
        client.shutdown()
    assert sorted(rec.stored) == sorted(ids)


def test_refused_items_go_to_on_error_and_the_rest_is_stored() -> None:
    seen: list[tuple[Exception, list[dict]]] = []
    rec = Recorder()
    with serve(rec) as host:
        client = Client("k", host, on_error=lambda exc, events: seen.append((exc, events)), **FAST)
        good = client.track("ok", user_id="u")
        bad = client.track("bad", user_id="u")
        assert client.flush(timeout=20)
        client.shutdown()
    assert list(rec.stored) == [good]
    assert isinstance(seen[0][0], EventsRejected)
    assert [e["event_id"] for e in seen[0][1]] == [bad]
    assert client.stats["rejected"] == 1


def test_sync_mode_sends_before_returning_and_raises_on_refusal() -> None:
    rec = Recorder()
    with serve(rec) as host:
        client = Client("k", host, sync=True)
        event_id = client.identify("u1", {"plan": "pro"})
        assert event_id in rec.stored and rec.stored[event_id]["traits"] == {"plan": "pro"}
        with pytest.raises(EventsRejected, match="bad event"):
            client.track("bad", user_id="u1")
        rec.script = [401]
        with pytest.raises(EventsRejected, match="HTTP 401"):
            client.track("ok", user_id="u1")
        client.shutdown()


def test_sync_mode_gives_up_after_max_retries_with_delivery_error() -> None:
    client = Client("k", f"http://127.0.0.1:{free_port()}", sync=True, max_retries=2, **FAST)
    with pytest.raises(DeliveryError, match="after 3 attempts"):
        client.track("e", user_id="u")
    client.shutdown()


def test_full_queue_refuses_new_events_visibly() -> None:
    client = Client("k", f"http://127.0.0.1:{free_port()}", max_queue_size=10, batch_size=1000,
                    flush_interval=60, backoff_base=0.01, backoff_max=0.05)
    results = [client.track("e", user_id="u") for _ in range(15)]
    assert results[:10] == [r for r in results[:10] if r] and results[10:] == [None] * 5
    assert client.stats["dropped"] == 5
    client.shutdown(timeout=0.2)


def test_page_screen_and_location_shapes() -> None:
    rec = Recorder()
    with serve(rec) as host:
        client = Client("k", host, sync=True)
        page, screen, ping = sent(
            client.page("Home", {"path": "/"}, user_id="u"),
            client.screen("Map", anonymous_id="a"),
            client.location(52.5, 13.4, 8.0, user_id="u", consent={"precise_location": True}))
        client.shutdown()
    assert rec.stored[page]["properties"] == {"path": "/", "name": "Home"}
    assert rec.stored[screen]["event_type"] == "screen" and rec.stored[screen]["anonymous_id"] == "a"
    assert rec.stored[ping]["event_type"] == "location_ping"
    assert rec.stored[ping]["location"] == {"lat": 52.5, "lng": 13.4, "accuracy": 8.0}
    assert rec.stored[ping]["consent"] == {"precise_location": True}


CRASHING_APP = textwrap.dedent("""
    import json, sys, time
    from hexlake.client import Client
    client = Client("k", sys.argv[1], disk_queue=sys.argv[2], flush_interval=0.05,
                    backoff_base=0.01, backoff_max=0.05)
    ids = [client.track("e", {"i": i}, user_id="u") for i in range(300)]
    print(json.dumps(ids), flush=True)
    while client.stats["pending"] > client._disk.count():
        time.sleep(0.01)
    print("persisted", flush=True)
    time.sleep(60)
""")


def test_disk_queue_survives_a_crashed_app_and_resends_with_the_same_ids(tmp_path: Path) -> None:
    port = free_port()
    queue_file = tmp_path / "queue.sqlite"
    app = subprocess.Popen([sys.executable, "-c", CRASHING_APP, f"http://127.0.0.1:{port}", str(queue_file)],
                           stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
    assert app.stdout is not None
    ids = json.loads(app.stdout.readline())
    assert app.stdout.readline().strip() == "persisted"
    os.kill(app.pid, signal.SIGKILL)  # no atexit, no flush: a crash
    app.wait()
    rec = Recorder()
    with serve(rec, port=port) as host:
        client = Client("k", host, disk_queue=queue_file, **FAST)
        assert client.flush(timeout=20)
        client.shutdown()
    assert sorted(rec.stored) == sorted(ids)
    assert client.stats["sent"] == 300


def test_disk_queue_keeps_events_when_shutdown_happens_while_server_is_down(tmp_path: Path) -> None:
    port = free_port()
    queue_file = tmp_path / "q.sqlite"
    client = Client("k", f"http://127.0.0.1:{port}", disk_queue=queue_file, **FAST)
    ids = sent(*[client.track("e", user_id="u") for _ in range(20)])
    client.shutdown(timeout=0.3)
    rec = Recorder()
    with serve(rec, port=port) as host:
        again = Client("k", host, disk_queue=queue_file, **FAST)
        assert again.flush(timeout=20)
        again.shutdown()
    assert sorted(rec.stored) == sorted(ids)


def test_track_is_safe_from_many_threads() -> None:
    rec = Recorder()
    with serve(rec) as host:
        client = Client("k", host, **FAST)
        out: list[str | None] = []

        def work() -> None:
            out.extend(client.track("e", user_id="u") for _ in range(300))

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert client.flush(timeout=20)
        client.shutdown()
    assert len(rec.stored) == 1200 and sorted(rec.stored) == sorted(i for i in out if i)
