"""Marts equal a plain-Python truth after every incremental run, whatever the lateness.

Events arrive 0, 1 h, 2 d, 20 d or 400 d after their event time, through the real EventLog and
raw loader, with duplicates, retried batches and log replays, in several rounds with a normal
``transform run`` after each. The loader records the days it touched; the run restates the ones
older than the lookback (``hexlake.transform.restate``). The truth comes from ``events.py``.
"""

from __future__ import annotations

import json
import random
import re
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hexlake.config import Settings
from hexlake.errors import BadRequest
from hexlake.runtime import Runtime
from hexlake.transform import operations, restate
from hexlake.warehouse import get_warehouse, intervals
from tests.transform import events as truth
from tests.transform.conftest import append_to_log, insert, load_log, now_minute

LATENESS = [timedelta(0), timedelta(hours=1), timedelta(days=2), timedelta(days=20), timedelta(days=400)]
ROOT = Path(__file__).resolve().parents[2]


def _cohort(t0: datetime, prefix: str, seed: int) -> list[dict[str, Any]]:
    """``generate`` with its ids and users renamed, so cohorts of different eras do not mix."""
    out = []
    for e in truth.generate(t0, seed=seed):
        e = dict(e, event_id=prefix + e["event_id"])
        for key in ("user_key", "session_id", "anonymous_key"):
            if e[key]:
                e[key] = prefix + e[key]
        out.append(e)
    return out


def rows(runtime: Runtime, sql: str) -> list[tuple[Any, ...]]:
    return get_warehouse(runtime).cursor().execute(sql).fetchall()


#: The tier of each mart checked here (``hexlake.transform.tiers``): fresh marts equal the truth
#: after every run; as-of marts after a run of their tier (``asof``, ``all``, or ``scheduled``
#: once their cron is due) and, between those, the truth of their last as-of run.
FRESH_MARTS = {"marts.marts_core_user_activity_daily", "marts.event_aggregations", "marts.metrics_active_users",
               "marts.heatmap_hourly", "marts.daily_engagement", "marts.marts_core_auth_events"}
ASOF_MARTS = {"marts.marts_core_dim_users", "marts.place_popularity"}


def test_the_marts_checked_here_are_in_the_tiers_stated() -> None:
    from hexlake.transform.marts import MARTS, tier

    assert {f"marts.{m}" for m in MARTS} == FRESH_MARTS | ASOF_MARTS
    assert {m for m in FRESH_MARTS | ASOF_MARTS if tier(m) == "asof"} == ASOF_MARTS


def assert_marts_match(runtime: Runtime, events: list[dict[str, Any]], as_of: datetime) -> None:
    """Every mart equals the truth of ``events`` (unique) as of ``as_of``."""
    assert_fresh_marts_match(runtime, events)
    assert_asof_marts_match(runtime, events, as_of)


def assert_fresh_marts_match(runtime: Runtime, events: list[dict[str, Any]]) -> None:
    """The fresh tier's marts equal the truth of ``events`` (unique)."""
    got_activity = {(r[0], r[1]): dict(zip(
        ["login_count", "session_count", "api_calls_count", "features_used", "engagement_score",
         "is_active", "days_since_signup", "days_since_last_login"], r[2:], strict=True))
        for r in rows(runtime, "SELECT activity_date, user_id, login_count, session_count, api_calls_count, "
                               "features_used, engagement_score, is_active, days_since_signup, "
                               "days_since_last_login FROM marts.marts_core_user_activity_daily")}
    assert got_activity == truth.activity_daily(events)
    got_aggs = {(r[0], r[1], r[2], r[3]): (r[4], r[5], r[6]) for r in rows(
        runtime, "SELECT period_type, period_start, event_type, source, event_count, unique_users, "
                 "unique_sessions FROM marts.event_aggregations")}
    assert got_aggs == truth.event_aggregations(events)
    got_mau = {r[0]: {"dau": r[1], "wau": r[2], "mau": r[3], "stickiness": r[4]} for r in rows(
        runtime, "SELECT activity_date, dau, wau, mau, stickiness FROM marts.metrics_active_users")}
    assert got_mau == truth.active_users(events)
    got_heat = {(r[0], r[1]): (r[2], r[3]) for r in rows(
        runtime, "SELECT hour, h3_cell, activity_count, unique_users FROM marts.heatmap_hourly")}
    assert got_heat == truth.heatmap(events, k=5)
    got_eng = {(r[0], r[1]): (r[2], r[3], r[4], r[5]) for r in rows(
        runtime, "SELECT date, h3_cell_res6, posts, reactions, comments, unique_users "
                 "FROM marts.daily_engagement")}
    assert got_eng == truth.daily_engagement(events)
    auth = sorted(e["event_id"] for e in events if e["event_type"] in truth.AUTH)
    assert [r[0] for r in rows(runtime, "SELECT event_id FROM marts.marts_core_auth_events ORDER BY 1")] == auth


def assert_asof_marts_match(runtime: Runtime, events: list[dict[str, Any]], as_of: datetime) -> None:
    """The as-of tier's marts equal the truth of ``events`` (unique) as of ``as_of``."""
    got_dim = {r[0]: {"lifecycle_stage": r[1], "last_active_date": r[2], "signup_cohort": r[3],
                      "auth_methods": r[4], "preferred_auth_method": r[5], "email_domain": r[6]}
               for r in rows(runtime, "SELECT user_id, lifecycle_stage, last_active_date, signup_cohort, "
                                      "auth_methods, preferred_auth_method, email_domain "
                                      "FROM marts.marts_core_dim_users")}
    assert got_dim == truth.dim_users(events, as_of.date())
    want_pop = truth.place_popularity(events, as_of, k=5)
    got_pop = {r[0]: (r[1], r[2]) for r in rows(
        runtime, "SELECT place_id, unique_users, popularity_rank FROM marts.place_popularity")}
    assert got_pop == {p: (w["unique_users"], w["popularity_rank"]) for p, w in want_pop.items()}


def _feed_rounds(data: Path, lateness_seed: int, weights: list[int], retry: bool, replay_round: int,
                 dup_every: int) -> None:
    t0 = now_minute()
    recent = _cohort(t0 - timedelta(days=8), "n", seed=7)
    ancient = _cohort(t0 - timedelta(days=400), "o", seed=11)
    rnd = random.Random(lateness_seed)
    arrival = {e["event_id"]: e["ts"] + rnd.choices(LATENESS, weights=weights)[0] for e in recent + ancient}
    rounds = [t0 - timedelta(days=14), t0 - timedelta(days=6), t0 - timedelta(days=1), t0]
    runtime = Runtime(Settings(data_dir=data))
    delivered: list[dict[str, Any]] = []
    last_asof: tuple[list[dict[str, Any]], datetime] | None = None
    try:
        for i, when in enumerate(rounds):
            batch = [e for e in recent + ancient
                     if arrival[e["event_id"]] <= when and (i == 0 or arrival[e["event_id"]] > rounds[i - 1])]
            rnd.shuffle(batch)
            append_to_log(runtime, batch, timedelta(minutes=5))
            if retry:  # the whole batch retried by the client, another delivery of every event
                append_to_log(runtime, batch, timedelta(minutes=6))
            append_to_log(runtime, batch[::dup_every], timedelta(minutes=7))  # single duplicates
            if i == replay_round:  # the log replayed from the start
                append_to_log(runtime, delivered + batch, timedelta(minutes=8))
            load_log(runtime)
            delivered += batch
            # a load-triggered run: the fresh tier is exact, the as-of tier still shows its last run
            operations.run(runtime, execution_time=when, tier="fresh")
            assert_fresh_marts_match(runtime, truth.unique(delivered))
            if last_asof is not None:
                assert_asof_marts_match(runtime, truth.unique(last_asof[0]), last_asof[1])
            assert operations.pending(runtime, now=when)["events"] == 0
            if i == 0:  # the first build builds every model, whatever the tier asked
                last_asof = (list(delivered), when)
            if i % 2 == 1 or i == len(rounds) - 1:  # the as-of tier's own run, not after every round
                operations.run(runtime, execution_time=when, tier="asof")
                last_asof = (list(delivered), when)
                assert_marts_match(runtime, truth.unique(delivered), when)
    finally:
        runtime.close()


@pytest.mark.slow
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    lateness_seed=st.integers(0, 2**16),
    weights=st.lists(st.integers(0, 4), min_size=5, max_size=5).filter(lambda w: sum(w) > 0),
    retry=st.booleans(),
    replay_round=st.integers(0, 4),  # 4: no replay
    dup_every=st.integers(3, 40),
)
def test_marts_equal_truth_after_every_round_whatever_the_lateness(
        lateness_seed: int, weights: list[int], retry: bool, replay_round: int, dup_every: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _feed_rounds(Path(tmp) / "data", lateness_seed, weights, retry, replay_round, dup_every)


# ---- one data dir for the quick tests -------------------------------------------------------

class Lake:
    def __init__(self, runtime: Runtime, t0: datetime, events: list[dict[str, Any]]) -> None:
        self.runtime, self.t0, self.events = runtime, t0, events


def built_lake(data: Path, t0: datetime, cohort_start: datetime, prefix: str) -> Lake:
    """A data dir whose every model was built at ``t0`` from a cohort that starts at ``cohort_start``."""
    runtime = Runtime(Settings(data_dir=data))
    events = _cohort(cohort_start, prefix, seed=7)
    append_to_log(runtime, events, timedelta(minutes=1))
    load_log(runtime)
    operations.run(runtime, execution_time=t0)
    return Lake(runtime, t0, events)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    """Built at t0 from a cohort 8..28 days old; each test adds its own late events."""
    t0 = now_minute()
    built = built_lake(tmp_path_factory.mktemp("late") / "data", t0, t0 - timedelta(days=8), "b")
    yield built
    built.runtime.close()


def _late_events(lake: Lake, prefix: str, age: timedelta, n: int = 5) -> list[dict[str, Any]]:
    base = lake.t0 - age
    return [truth.ev(f"{prefix}{i}", "track", base + timedelta(minutes=i), f"{prefix}-user{i % 2}",
                     session=f"{prefix}-s", source="app") for i in range(n)]


def test_three_year_old_events_reach_the_marts_and_only_their_days_are_restated(lake: Lake) -> None:
    late = _late_events(lake, "y3-", timedelta(days=3 * 365))
    append_to_log(lake.runtime, late, timedelta(days=3 * 365))
    load_log(lake.runtime)
    day = late[0]["ts"].date()
    assert operations.pending(lake.runtime, now=lake.t0)["days"] == [day.isoformat()]
    freshness = operations.freshness(lake.runtime, now=lake.t0)
    assert freshness[0]["late_events_pending"] == 5 and freshness[0]["oldest_late_day"] == day.isoformat()

    report = operations.run(lake.runtime, execution_time=lake.t0)

    lake.events += late
    assert_marts_match(lake.runtime, truth.unique(lake.events), lake.t0)
    assert operations.pending(lake.runtime, now=lake.t0)["events"] == 0
    stg = [(e["interval_start"], e["interval_end"]) for e in report["evaluations"]
           if e["model"] == "staging.stg_events"]
    # the late day (SQLMesh adds its lookback before it) and the normal window: not a rebuild
    old = [(datetime.fromisoformat(a).date(), datetime.fromisoformat(b).date()) for a, b in stg
           if a < (lake.t0 - timedelta(days=30)).isoformat()]
    assert old and all(day - timedelta(days=3) <= a < b <= day + timedelta(days=1) for a, b in old), old
    assert report["restated"]["days"] == [day.isoformat()]


def test_readme_curl_event_13_days_old_shows_in_the_marts(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from hexlake.serve.app import create_app
    from hexlake.setup import initialise

    body = re.search(r"/v1/events -d '(\{.*?\})'", (ROOT / "README.md").read_text(), re.S)
    assert body, "the README's curl example moved"
    event = json.loads(body.group(1))
    t0 = now_minute()
    event["timestamp"] = (t0 - timedelta(days=13)).isoformat() + "Z"
    settings_ = Settings(data_dir=tmp_path / "data")
    keys = initialise(settings_)
    with TestClient(create_app(settings_, background=False)) as client:
        resp = client.post("/v1/events", json=event, headers={"Authorization": f"Bearer {keys['write_key']}"})
        assert resp.json()["accepted"] == 1, resp.text
    runtime = Runtime(settings_)
    try:
        load_log(runtime)
        operations.run(runtime, execution_time=t0 - timedelta(days=20))  # built before it arrived
        operations.run(runtime, execution_time=t0)
        day = (t0 - timedelta(days=13)).date()
        assert rows(runtime, "SELECT event_count FROM marts.event_aggregations WHERE period_type = 'day' "
                             "AND event_type = 'place_interaction'") == [(1,)]
        assert rows(runtime, "SELECT CAST(ts AS DATE), interaction_type FROM staging.stg_place_interactions"
                    ) == [(day, "place_view")]
        assert rows(runtime, "SELECT activity_date FROM marts.marts_core_user_activity_daily") == [(day,)]
    finally:
        runtime.close()


def test_restate_recomputes_rows_written_straight_into_raw(lake: Lake) -> None:
    late = _late_events(lake, "bf-", timedelta(days=50), n=3)
    insert(lake.runtime, truth.to_rows(late, offset0=90_000))  # a backfill: no loader, nothing recorded
    lake.events += late
    day = late[0]["ts"].date()
    assert ("day", datetime.combine(day, datetime.min.time()), "track", "app") not in {
        r[:4] for r in rows(lake.runtime, "SELECT period_type, period_start, event_type, source "
                                          "FROM marts.event_aggregations")}

    out = operations.restate_range(lake.runtime, from_day=day.isoformat(), to_day=day.isoformat(),
                                   models=["staging.stg_events"], execution_time=lake.t0)

    assert "marts.event_aggregations" in out["restated"]["models"]  # downstream of stg_events
    assert restate.downstream(operations.engine(lake.runtime), ["marts.heatmap_hourly"]) == {
        "marts.heatmap_hourly"}  # a leaf restates alone
    assert_marts_match(lake.runtime, truth.unique(lake.events), lake.t0)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"from_day": "yesterday", "to_day": "2026-01-01"}, "from_day"),
    ({"from_day": "2026-01-02", "to_day": "2026-01-01"}, "to_day"),
    ({"from_day": "2026-01-01", "to_day": "2026-01-01", "models": ["marts.nope"]}, "models"),
])
def test_restate_refuses_bad_ranges_and_models_naming_the_field(lake: Lake, kwargs: dict[str, Any],
                                                                field: str) -> None:
    with pytest.raises(BadRequest) as err:
        operations.restate_range(lake.runtime, **kwargs)
    assert err.value.field == field


def test_a_redelivered_batch_records_its_days_again(lake: Lake) -> None:
    late = _late_events(lake, "rd-", timedelta(days=90), n=2)
    append_to_log(lake.runtime, late, timedelta(days=90))
    load_log(lake.runtime)
    intervals.clear(get_warehouse(lake.runtime).cursor(), intervals.touched(get_warehouse(lake.runtime).cursor()))
    append_to_log(lake.runtime, late, timedelta(days=91))  # e.g. a crash before the first ack
    load_log(lake.runtime)
    assert [d.day for d in intervals.touched(get_warehouse(lake.runtime).cursor())] == [late[0]["ts"].date()]
    operations.run(lake.runtime, execution_time=lake.t0)
    lake.events += late
    assert_marts_match(lake.runtime, truth.unique(lake.events), lake.t0)


def test_days_before_the_models_start_reach_nothing_and_never_overflow() -> None:
    from datetime import date

    from hexlake.warehouse.intervals import TouchedDay

    days = [TouchedDay(date(1, 1, 1), 1, 1), TouchedDay(date(2019, 12, 31), 1, 0),
            TouchedDay(date(2024, 2, 29), 2, 0)]
    spans = restate.plan_spans(days, ["staging.stg_events", "marts.event_aggregations",
                                      "marts.metrics_active_users"], first=date(2020, 1, 1))
    assert spans == {"staging.stg_events": [(date(2024, 2, 29), date(2024, 3, 1))],
                     "marts.event_aggregations": [(date(2024, 2, 26), date(2024, 3, 4))],
                     "marts.metrics_active_users": [(date(2024, 2, 29), date(2024, 3, 30))]}
