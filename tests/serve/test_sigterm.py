"""SIGTERM stops a real server within 10 s whatever it is doing: mid-transform, mid-import,
mid-clustering, mid-query — 20 rounds at random moments (seed: ``HEXLAKE_SIGTERM_SEED``)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from hexlake.config import Settings
from hexlake.serve.client import ServerInfo, call_remote, find_server
from tests.helpers import Server, init
from tests.importers import fixtures as fx

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]  # 20 server starts and stops
ROUNDS = 20
STOP_WITHIN_S = 10.0
# Clustering and transform also run on their own schedules, so a SIGTERM can meet them anywhere.
ENV: dict[str, Any] = {"HEXLAKE_SPATIAL__CLUSTER_INTERVAL_S": "2",
                       "HEXLAKE_SPATIAL__CLUSTER_WINDOW_MINUTES": "100000000"}


def _events(n: int, start: int) -> list[dict]:
    rng = random.Random(start)
    return [{"event_id": f"sig-{start + i}", "event_type": "location_ping", "user_id": f"u{i % 40}",
             "timestamp": "2026-11-20T10:00:00Z",
             "properties": {"location": {"lat": 48.85 + rng.gauss(0, 0.01), "lng": 2.35 + rng.gauss(0, 0.01)}}}
            for i in range(n)]


def _seed(url: str, key: str) -> None:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
        for n in range(0, 8_000, 1000):
            assert client.post("/v1/events", json=_events(1000, n)).status_code == 200


def _upload(url: str, key: str, archive: bytes, user: str) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        up = client.post("/v1/uploads", json={"filename": "takeout.zip", "size": len(archive)}).json()
        size = up["chunk_size"]
        for n, i in enumerate(range(0, len(archive), size)):
            chunk = archive[i:i + size]
            client.put(f"/v1/uploads/{up['id']}/chunks/{n}", content=chunk,
                       headers={"X-Chunk-SHA256": hashlib.sha256(chunk).hexdigest()}).raise_for_status()
        client.post(f"/v1/uploads/{up['id']}/complete", json={"user_id": user}).raise_for_status()


def _activities(info: ServerInfo, url: str, key: str, archive: bytes, round_: int) -> dict[str, Callable[[], None]]:
    heavy = ("SELECT count(*) FROM raw_events a JOIN raw_events b ON a.user_key = b.user_key "
             "WHERE a.lat < b.lat")
    return {
        "transform": lambda: call_remote(info, "transform_run", timeout=60),
        "import": lambda: _upload(url, key, archive, f"user-{round_}"),
        "clustering": lambda: call_remote(info, "places_cluster", timeout=60),
        "query": lambda: call_remote(info, "query", sql=heavy, timeout=60),
    }


def _in_background(fn: Callable[[], None]) -> threading.Thread:
    def run() -> None:
        with contextlib.suppress(Exception):  # the server goes away under it: that is the point
            fn()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _sigterm_and_time(server: Server) -> float:
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    try:
        server.proc.wait(STOP_WITHIN_S + 20)
    except subprocess.TimeoutExpired:
        server.kill()
    return time.monotonic() - started


def test_sigterm_at_random_moments_stops_the_server_within_10_s(tmp_path: Path) -> None:
    seed = int(os.environ.get("HEXLAKE_SIGTERM_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    data = tmp_path / "data"
    key = init(data)["write_key"]
    archive = (tmp_path / "takeout.zip")
    fx.write_zip(archive, {"Takeout/Location History/Records.json": fx.records_json(40_000)})
    archive_bytes = archive.read_bytes()
    timings: list[tuple[str, float, float]] = []
    for round_ in range(ROUNDS):
        with Server(data, **ENV) as server:
            if round_ == 0:
                _seed(server.url, key)
            info = find_server(Settings(data_dir=data))
            assert info is not None
            name = ("transform", "import", "clustering", "query")[round_ % 4]
            _in_background(_activities(info, server.url, key, archive_bytes, round_)[name])
            delay = rng.uniform(0.05, 2.5)
            time.sleep(delay)
            took = _sigterm_and_time(server)
            timings.append((name, round(delay, 2), round(took, 2)))
            print(f"round {round_}: SIGTERM {delay:.2f}s into {name}, stopped in {took:.2f}s "
                  f"(exit {server.proc.returncode})", file=sys.stderr, flush=True)
            assert took < STOP_WITHIN_S, f"seed {seed}: {name} after {delay:.2f}s stopped in {took:.1f}s\n" \
                                         f"{timings}\n{server.output()}"
            assert server.proc.returncode is not None
    print(f"seed {seed}: {timings}")
