"""Geofences: enter / jitter at the edge / exit sequences, restarts, validation, signed webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hexlake.errors import BadRequest, NotFound
from hexlake.stream.consumer import Consumer, ConsumerOptions
from hexlake.stream.geofence_op import GeofenceOperator
from hexlake.stream.geofence_store import GeofenceStore
from hexlake.stream.sinks import derived_sink
from hexlake.stream.state import StreamState
from hexlake.stream.webhooks import WebhookQueue, sign
from tests.stream.fakes import T0, FakeLog, append_events, make_event

CENTER = (48.8584, 2.2945)
RADIUS = 100.0


def north_of_center(distance_m: float) -> tuple[float, float]:
    """A point ``distance_m`` north of the centre (1 degree of latitude ≈ 111,195 m on the sphere)."""
    return CENTER[0] + distance_m / (6_371_008.8 * math.pi / 180), CENTER[1]


def pings(user: str, edge_offsets: list[float], start: float = T0) -> list:
    """Pings at given signed distances from the circle's edge (negative = inside), 30 s apart."""
    out = []
    for i, off in enumerate(edge_offsets):
        lat, lng = north_of_center(RADIUS + off)
        eid = f"{user}-{i + int(start - T0) // 30}"
        out.append(make_event(eid, start + 30 * i, user=user, event_type="location_ping", lat=lat, lng=lng))
    return out


class Harness:
    def __init__(self, tmp_path: Path, queue: WebhookQueue | None = None) -> None:
        self.path = tmp_path / "stream.sqlite"
        self.fences = GeofenceStore(self.path)
        self.log = FakeLog()
        self.written: list[dict[str, Any]] = []
        self.queue = queue
        self.consumer = self._consumer()

    def _consumer(self) -> Consumer:
        return Consumer(self.log, StreamState(self.path), GeofenceOperator(self.fences, hysteresis_m=25),
                        {"derived": derived_sink(self.written.extend, self.queue)},
                        ConsumerOptions(batch_size=4, allowed_lateness_s=3600))

    def run(self, events: list) -> list[tuple[str, str, float]]:
        before = len(self.written)
        append_events(self.log, events)
        while self.consumer.step():
            pass
        return [(e["event_type"], e["properties"]["trigger_event_id"], e["properties"]["dwell_s"])
                for e in self.written[before:]]

    def restart(self) -> None:
        self.consumer = self._consumer()


def test_enter_jitter_at_the_edge_and_exit_give_exactly_two_events(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    fence = h.fences.create({"name": "tower", "lat": CENTER[0], "lng": CENTER[1], "radius_m": RADIUS,
                             "metadata": {"kind": "landmark"}})
    # far, near, inside (enter), jitter across the edge within the 25 m margin, inside, out by 40 m (exit)
    got = h.run(pings("u1", [500, 30, -5, 10, -3, 20, 24, -10, 40, 60]))
    assert got == [("geofence_enter", "u1-2", 0.0), ("geofence_exit", "u1-8", 180.0)]
    enter = h.written[0]
    assert enter["properties"]["geofence_id"] == fence.id
    assert enter["properties"]["user_key"] == "u1"
    assert enter["properties"]["metadata"] == {"kind": "landmark"}
    assert enter["timestamp"] == "2026-01-01T00:01:00Z"


def test_polygon_fence_and_two_users_are_independent(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    d = 0.001  # ~111 m square around the centre
    ring = [[CENTER[1] - d, CENTER[0] - d], [CENTER[1] + d, CENTER[0] - d], [CENTER[1] + d, CENTER[0] + d],
            [CENTER[1] - d, CENTER[0] + d], [CENTER[1] - d, CENTER[0] - d]]
    h.fences.create({"name": "square", "geometry": {"type": "Polygon", "coordinates": [ring]}})
    inside = make_event("a1", T0, user="a", event_type="location_ping", lat=CENTER[0], lng=CENTER[1])
    far = make_event("b1", T0, user="b", event_type="location_ping", lat=CENTER[0] + 0.01, lng=CENTER[1])
    out = make_event("a2", T0 + 60, user="a", event_type="location_ping", lat=CENTER[0] + 0.0015, lng=CENTER[1])
    assert h.run([inside, far, out]) == [("geofence_enter", "a1", 0.0), ("geofence_exit", "a2", 60.0)]


def test_inside_state_survives_a_restart(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.fences.create({"name": "tower", "lat": CENTER[0], "lng": CENTER[1], "radius_m": RADIUS})
    assert h.run(pings("u1", [-20, -10])) == [("geofence_enter", "u1-0", 0.0)]
    h.restart()
    later = pings("u1", [-15, 80], start=T0 + 600)
    assert h.run(later) == [("geofence_exit", "u1-21", 630.0)]


def test_fences_created_while_running_are_picked_up(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    assert h.run(pings("u1", [-50])) == []
    h.fences.create({"name": "tower", "lat": CENTER[0], "lng": CENTER[1], "radius_m": RADIUS})
    assert h.run(pings("u1", [-40], start=T0 + 60)) == [("geofence_enter", "u1-2", 0.0)]


@pytest.mark.parametrize(("body", "field"), [
    ({"lat": 1, "lng": 2, "radius_m": 5}, "name"),
    ({"name": "x", "lat": 91, "lng": 2, "radius_m": 5}, "lat"),
    ({"name": "x", "lat": 1, "lng": 2}, "radius_m"),
    ({"name": "x", "geometry": {"type": "Point", "coordinates": [1, 2]}}, "geometry"),
    ({"name": "x", "lat": 1, "lng": 2, "radius_m": 5, "webhook_url": "ftp://x"}, "webhook_url"),
])
def test_bad_fence_bodies_name_the_field(tmp_path: Path, body: dict[str, Any], field: str) -> None:
    with pytest.raises(BadRequest) as err:
        GeofenceStore(tmp_path / "s.sqlite").create(body)
    assert err.value.field == field


def test_list_and_delete(tmp_path: Path) -> None:
    store = GeofenceStore(tmp_path / "s.sqlite")
    a = store.create({"name": "a", "lat": 1, "lng": 2, "radius_m": 5})
    store.create({"name": "b", "lat": 1, "lng": 2, "radius_m": 5})
    store.delete(a.id)
    assert [f.name for f in store.list()] == ["b"]
    with pytest.raises(NotFound):
        store.delete(a.id)


class Receiver:
    """A local HTTP server that fails the first ``fail_first`` requests with 500."""

    def __init__(self, fail_first: int) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                outer.requests.append((dict(self.headers.items()), body))
                self.send_response(500 if len(outer.requests) <= fail_first else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def test_webhooks_are_signed_and_retried_with_backoff(tmp_path: Path) -> None:
    receiver = Receiver(fail_first=2)
    now = [T0]
    queue = WebhookQueue(tmp_path / "stream.sqlite", b"k3y", clock=lambda: now[0], backoff_base_s=2)
    h = Harness(tmp_path, queue)
    h.fences.create({"name": "t", "lat": CENTER[0], "lng": CENTER[1], "radius_m": RADIUS,
                     "webhook_url": receiver.url})
    h.run(pings("u1", [-5]))
    assert queue.deliver_due() == 0  # 500
    assert queue.deliver_due() == 0  # not due yet: backoff 2 s
    now[0] += 2
    assert queue.deliver_due() == 0  # 500 again, next in 4 s
    now[0] += 3.9
    assert queue.deliver_due() == 0 and len(receiver.requests) == 2
    now[0] += 0.1
    assert queue.deliver_due() == 1
    receiver.close()
    assert queue.stats() == {"delivered": 1}
    headers, body = receiver.requests[-1]
    expected = "sha256=" + hmac.new(b"k3y", headers["x-hexlake-timestamp"].encode() + b"." + body,
                                    hashlib.sha256).hexdigest()
    assert headers["x-hexlake-signature"] == expected == sign(b"k3y", headers["x-hexlake-timestamp"], body)
    assert json.loads(body)["event_type"] == "geofence_enter"
    assert headers["x-hexlake-delivery"] == json.loads(body)["event_id"]
