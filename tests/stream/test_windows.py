"""Per-user tumbling windows: out-of-order and late arrival vs a plain-Python batch recomputation."""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter, defaultdict
from datetime import UTC
from pathlib import Path
from typing import Any

import orjson
import pytest

from hexlake.features import MemoryOnlineStore
from hexlake.gate.envelope import Event
from hexlake.stream.consumer import Consumer, ConsumerOptions
from hexlake.stream.sinks import OfflineFeatureTable, online_sink
from hexlake.stream.state import StreamState, list_late_events
from hexlake.stream.user_windows import UserWindowOperator
from hexlake.warehouse import Warehouse, open_warehouse
from tests.stream.fakes import T0, FakeLog, append_events, make_event

WINDOW_S = 600.0
LATENESS_S = 60.0


def _dist(a: Event, b: Event) -> float:
    r = 6_371_008.8
    p1, p2 = math.radians(a.lat or 0), math.radians(b.lat or 0)
    dp, dl = p2 - p1, math.radians((b.lng or 0) - (a.lng or 0))
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(h))


def reference(arrivals: list[Event]) -> tuple[dict[tuple[str, float], dict[str, Any]], list[str], float]:
    """Plain Python: classify late events in arrival order, then compute each window from scratch."""
    max_ts, kept, late = -math.inf, [], []
    for e in arrivals:
        ts = e.ts.timestamp()
        if ts < max_ts - LATENESS_S:
            late.append(e.event_id)
            continue
        max_ts = max(max_ts, ts)
        kept.append(e)
    groups: dict[tuple[str, float], list[Event]] = defaultdict(list)
    for e in kept:
        ts = e.ts.timestamp()
        groups[(e.user_key or "", ts - ts % WINDOW_S)].append(e)
    out = {}
    for wid, evs in groups.items():
        evs.sort(key=lambda e: (e.ts, e.event_id))
        located = [e for e in evs if e.lat is not None]
        sessions: dict[str, list[float]] = {}
        for e in evs:
            if e.session_id:
                sessions.setdefault(e.session_id, []).append(e.ts.timestamp())
        lengths = [max(v) - min(v) for v in sessions.values()]
        out[wid] = {
            "events_total": len(evs),
            "event_counts": dict(Counter(e.event_type for e in evs)),
            "distinct_places": len({e.properties["place_id"] for e in evs if "place_id" in e.properties}),
            "session_count": len(sessions),
            "session_seconds_total": round(sum(lengths), 3),
            "last_h3_r9": located[-1].h3_r9 if located else None,
            "distance_m": round(sum(_dist(a, b) for a, b in itertools.pairwise(located)), 3),
        }
    return out, late, max_ts


def generate(seed: int) -> list[Event]:
    """Six users over 45 minutes; arrival order shuffled by up to 40 s, plus 5 events 5 minutes late."""
    rng = random.Random(seed)
    events = []
    for i in range(600):
        ts = T0 + rng.uniform(0, 45 * 60)
        user = f"user{rng.randrange(6)}"
        kind = rng.choice(["location_ping", "place_interaction", "page"])
        lat, lng = (37.77 + rng.uniform(-0.05, 0.05), -122.42 + rng.uniform(-0.05, 0.05))
        located = kind != "page"
        events.append(make_event(
            f"e{i:04d}", round(ts, 3), user=user, event_type=kind, lat=lat if located else None,
            lng=lng if located else None, place=f"p{rng.randrange(8)}" if kind == "place_interaction" else None,
            session=f"s{user}{int(ts // 900)}" if rng.random() < 0.8 else None))
    arrivals = sorted(events, key=lambda e: e.ts.timestamp() + rng.uniform(0, 40))
    for j in range(5):  # stragglers arriving far behind the watermark
        pos = rng.randrange(300, 600)
        late = make_event(f"late{j}", arrivals[pos].ts.timestamp() - 300, user="user1", event_type="page")
        arrivals.insert(pos + 1, late)
    return arrivals


def run_stream(arrivals: list[Event], tmp_path: Path, batch_size: int,
               wh_url: str | None = None) -> tuple[Any, Warehouse, StreamState]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    log = FakeLog()
    append_events(log, arrivals)
    online = MemoryOnlineStore()
    wh = open_warehouse(wh_url or f"duckdb:///{tmp_path / 'wh.duckdb'}")
    table = OfflineFeatureTable(wh)
    state = StreamState(tmp_path / "stream.sqlite")
    consumer = Consumer(log, state, UserWindowOperator(WINDOW_S),
                        {"online": online_sink(online, 3600), "offline": table.sink()},
                        ConsumerOptions(batch_size=batch_size, allowed_lateness_s=LATENESS_S))
    while consumer.step():
        pass
    return online, wh, state


def offline_rows(wh: Warehouse) -> dict[tuple[str, float], dict[str, Any]]:
    """The offline table by (user, window start epoch); the same SQL on DuckDB and PostgreSQL."""
    rows = wh.cursor().execute(
        "SELECT user_key, window_start, events_total, CAST(event_counts AS VARCHAR), distinct_places,"
        " session_count, session_seconds_total, last_h3_r9, distance_m FROM features_user_window").fetchall()
    return {(r[0], r[1].replace(tzinfo=UTC).timestamp()): {
        "events_total": r[2], "event_counts": orjson.loads(r[3]), "distinct_places": r[4], "session_count": r[5],
        "session_seconds_total": r[6], "last_h3_r9": r[7], "distance_m": r[8]} for r in rows}


def test_out_of_order_and_late_events_match_batch_recomputation(tmp_path: Path) -> None:
    arrivals = generate(seed=7)
    expected, late_ids, max_ts = reference(arrivals)
    online, wh, state = run_stream(arrivals, tmp_path, batch_size=37)

    closed = {wid: f for wid, f in expected.items() if wid[1] + WINDOW_S <= max_ts - LATENESS_S}
    assert closed and len(closed) < len(expected)  # some windows final, some still open
    got = offline_rows(wh)
    assert set(got) == set(closed)
    for wid, feats in closed.items():
        assert got[wid]["event_counts"] == feats["event_counts"]
        assert got[wid] == {**feats, "session_seconds_total": got[wid]["session_seconds_total"]}
        assert math.isclose(got[wid]["session_seconds_total"], feats["session_seconds_total"], abs_tol=1e-6)

    # the online store holds each user's most recent window, partial while it is open
    for user in {u for u, _ in expected}:
        latest = max(s for u, s in expected if u == user)
        value = online.get(f"user:{user}")
        ref = expected[(user, latest)]
        assert value is not None
        assert {k: value[k] for k in ref} == ref
        assert value["final"] is ((user, latest) in closed)

    late = list_late_events([tmp_path / "stream.sqlite"], "stream-features", 100)
    assert sorted(r["event_id"] for r in late) == sorted(late_ids) and len(late_ids) == 5
    assert state.meta("stream-features").late == 5


def test_batch_size_does_not_change_results(tmp_path: Path) -> None:
    arrivals = generate(seed=11)
    _, wh_a, _ = run_stream(arrivals, tmp_path / "a", batch_size=1)
    _, wh_b, _ = run_stream(arrivals, tmp_path / "b", batch_size=500)
    assert offline_rows(wh_a) == offline_rows(wh_b) != {}


def test_redelivered_batch_is_not_counted_twice(tmp_path: Path) -> None:
    arrivals = [make_event(f"e{i}", T0 + i, user="u", event_type="page") for i in range(10)]
    arrivals.append(make_event("tick", T0 + 3600, user="u", event_type="page"))  # closes the window
    log = FakeLog()
    append_events(log, arrivals)
    online = MemoryOnlineStore()
    wh = open_warehouse(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    state = StreamState(tmp_path / "stream.sqlite")
    opts = ConsumerOptions(batch_size=4, allowed_lateness_s=LATENESS_S)
    consumer = Consumer(log, state, UserWindowOperator(WINDOW_S),
                        {"online": online_sink(online, 3600), "offline": OfflineFeatureTable(wh).sink()}, opts)
    consumer.step()
    log.groups["stream-features"]["acked"].clear()  # as if the ack was lost in a crash
    log.expire_leases("stream-features")
    while consumer.step():
        pass
    rows = offline_rows(wh)
    assert rows[("u", T0)]["events_total"] == 10
    assert state.meta("stream-features").duplicates == 4


@pytest.mark.services
def test_postgres_warehouse_gets_the_same_offline_windows_as_duckdb(tmp_path: Path, pg_url: str) -> None:
    arrivals = generate(seed=5)
    _, duck, _ = run_stream(arrivals, tmp_path / "duck", batch_size=50)
    _, pg, _ = run_stream(arrivals, tmp_path / "pg", batch_size=50, wh_url=pg_url)
    try:
        expected = offline_rows(duck)
        got = offline_rows(pg)
        assert expected and got.keys() == expected.keys()
        for wid, row in expected.items():
            assert got[wid] == {**row, "session_seconds_total": got[wid]["session_seconds_total"]}
            assert math.isclose(got[wid]["session_seconds_total"], row["session_seconds_total"], abs_tol=1e-6)
    finally:
        pg.close()
        duck.close()


@pytest.mark.services
def test_postgres_offline_replay_overwrites_instead_of_duplicating(tmp_path: Path, pg_url: str) -> None:
    wh = open_warehouse(pg_url)
    table = OfflineFeatureTable(wh)
    row = {"user_key": "u", "window_start": "2024-05-01T12:00:00Z", "window_end": "2024-05-01T12:10:00Z",
           "events_total": 3, "event_counts": {"page": 3}, "distinct_places": 0, "session_count": 1,
           "session_seconds_total": 1.5, "session_seconds_max": 1.5, "last_h3_r9": None, "distance_m": 0.0}
    table.write([row])
    table.write([{**row, "events_total": 4}, {**row, "events_total": 5}])  # a replay, and a repeat in one batch
    try:
        assert wh.query_arrow("SELECT events_total FROM features_user_window").to_pylist() == [{"events_total": 5}]
    finally:
        wh.close()
