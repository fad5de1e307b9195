"""Acknowledged means durable: SIGKILL the server mid-load; every 200 survives, exactly once."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from hexlake.config import Settings
from hexlake.log import open_log
from tests.helpers import Server, hexlake, init

pytestmark = pytest.mark.slow
# The killed server's loader held leases; they must expire before others can take the messages.
FAST_LEASES: dict[str, Any] = {"HEXLAKE_LOG__VISIBILITY_TIMEOUT_S": "1"}


def _batch(n: int, size: int) -> list[dict]:
    return [{"event_id": f"dur-{n}-{i}", "event_type": "track", "user_id": f"u{(n * size + i) % 37}",
             "timestamp": "2026-11-20T10:00:00Z", "properties": {"event": "tap", "n": i}}
            for i in range(size)]


def _sender(url: str, key: str, start: int, acked: list[int], sent: list[int], stop: threading.Event) -> None:
    n = start
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as client:
        while not stop.is_set():
            sent.append(n)
            try:
                resp = client.post("/v1/events", json=_batch(n, 50))
            except httpx.HTTPError:
                return
            if resp.status_code == 200 and resp.json()["accepted"] + resp.json()["duplicates"] == 50:
                acked.append(n)
            n += 4


def test_every_acknowledged_event_survives_sigkill_and_lands_exactly_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = init(data)["write_key"]
    acked: list[int] = []
    sent: list[int] = []
    stop = threading.Event()
    server = Server(data, **FAST_LEASES)
    threads = [threading.Thread(target=_sender, args=(server.url, key, s, acked, sent, stop)) for s in range(4)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    server.kill()  # mid-load: requests are in flight
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) > 10, server.output()

    # Every acknowledged event is in the log after the crash.
    log = open_log(Settings(data_dir=data).resolved_log_url())
    log.create_group("verify", from_start=True)
    in_log: list[str] = []
    while batch := log.read("verify", "v", 10_000):
        in_log.extend(m.event_id for m in batch)
        log.ack("verify", [m.offset for m in batch])
    log.close()
    acked_ids = {f"dur-{n}-{i}" for n in acked for i in range(50)}
    assert acked_ids <= set(in_log)

    # The client retries what was not acknowledged; then the loader catches up.
    with Server(data, background=False) as again, httpx.Client(
        base_url=again.url, headers={"Authorization": f"Bearer {key}"}
    ) as client:
        for n in sorted(set(sent) - set(acked)):
            assert client.post("/v1/events", json=_batch(n, 50)).status_code == 200
    time.sleep(1.5)
    hexlake(data, "load", **FAST_LEASES)
    out = hexlake(data, "query", "SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM raw_events "
                  "WHERE event_id LIKE 'dur-%'", "--format", "json").stdout
    import json

    row = json.loads(out)[0]
    assert row["n"] == row["d"] == len(set(sent)) * 50
