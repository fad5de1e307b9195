"""A data dir with every layer populated: log, raw, staging, marts, online store, stream state,
quarantine, imports; on the embedded default or on PostgreSQL/Redis."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hexlake.config import Settings
from hexlake.runtime import Runtime
from hexlake.serve import operations as ops
from hexlake.setup import initialise

ERASED = "alice-7f3k"
OTHERS = ["bob-2m9q", "carol-8x1z", "dave-4t6w", "erin-5r2p"]
EMAIL = "alice.erased@example.org"
BASE = (datetime.now(UTC) - timedelta(days=3)).replace(hour=9, minute=0, second=0, microsecond=0)


def events_of(user: str, n: int = 6) -> list[dict[str, Any]]:
    """A realistic mix for one person: identify, pings, place interactions, tracks, a login."""
    out: list[dict[str, Any]] = [{
        "event_id": f"{user}-identify", "event_type": "identify", "user_id": user,
        "timestamp": BASE.isoformat(),
        "properties": {"email": f"{user}@example.org" if user != ERASED else EMAIL, "plan": "pro"}}]
    for i in range(n):
        t = BASE + timedelta(hours=i * 7)
        out.append({"event_id": f"{user}-ping-{i}", "event_type": "location_ping", "user_id": user,
                    "timestamp": t.isoformat(), "location": {"lat": 48.85 + i / 1000, "lng": 2.35, "accuracy": 5},
                    "consent": {"precise_location": True}})
        out.append({"event_id": f"{user}-place-{i}", "event_type": "place_interaction", "user_id": user,
                    "timestamp": t.isoformat(), "properties": {"interaction_type": "check_in",
                                                               "place_id": f"p{i % 3}", "rating": 4}})
        out.append({"event_id": f"{user}-track-{i}", "event_type": "track", "user_id": user,
                    "timestamp": t.isoformat(), "properties": {"event": "Opened", "contact": {"uid": user}}})
    return out


def mention(by: str) -> dict[str, Any]:
    """Someone else's event naming the erased person (hashed like a user_key at the gate)."""
    return {"event_id": f"{by}-follows", "event_type": "track", "user_id": by, "timestamp": BASE.isoformat(),
            "properties": {"event": "Followed", "followed_user_id": ERASED}}


def all_events(*, without_erased: bool = False) -> list[dict[str, Any]]:
    users = OTHERS if without_erased else [ERASED, *OTHERS]
    items = [e for u in users for e in events_of(u)]
    return items if without_erased else [*items, mention(OTHERS[0])]


def populate(runtime: Runtime, items: list[dict[str, Any]], *, quarantine: bool = True,
             transform: bool = True) -> None:
    send = ops.get("send")
    for i in range(0, len(items), 50):
        send(runtime, items[i:i + 50], source="app")
    if quarantine:  # a refused event keeps its raw payload, plain id included
        send(runtime, [{"event_id": "bad-1", "event_type": "location_ping", "user_id": ERASED,
                        "timestamp": BASE.isoformat(), "properties": {"speed_mps": "fast"}}], source="app")
    while ops.get("load_once")(runtime).get("rows", 0):
        pass
    _stream(runtime)
    if transform:
        report = ops.get("transform_run")(runtime)
        assert report.get("ok", True), report


def _stream(runtime: Runtime) -> None:
    from hexlake.stream.runner import build_consumers

    for consumer in build_consumers(runtime):
        while consumer.step():
            pass
        consumer.deliver_outbox()


def make_runtime(data_dir: Path, secret: Path | None = None, **urls: Any) -> Iterator[Runtime]:
    """An initialised data dir (with ``secret``'s bytes as its secret: the same user_keys)."""
    settings = Settings(data_dir=data_dir, **urls)
    initialise(settings)
    if secret is not None:
        settings.paths.secret.write_bytes(secret.read_bytes())
    runtime = Runtime(settings)
    ops.get("sources_create")(runtime, name="app")
    try:
        yield runtime
    finally:
        runtime.close()


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    yield from make_runtime(tmp_path / "data")
