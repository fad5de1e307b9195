"""Every mart equals a truth computed in plain Python, despite duplicates, retried batches,
late and out-of-order events and a full log replay (see conftest.built).

conftest.built runs both tiers (``hexlake transform run``'s default ``all``), so the as-of marts
(``marts_core_dim_users``, ``place_popularity``) are checked as of that run together with the fresh
ones; how each tier behaves between as-of runs is in test_exactness_lateness.py and test_tiers.py."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.transform import events as truth
from tests.transform.conftest import Built


def test_raw_holds_duplicates_but_staging_has_each_event_once(built: Built) -> None:
    raw = built.rows("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM raw_events")[0]
    assert raw[0] > raw[1] == len(built.events)
    assert built.rows("SELECT COUNT(*) FROM staging.stg_events") == [(len(built.events),)]


def test_late_events_were_picked_up_by_the_second_run(built: Built) -> None:
    second = built.reports[1]["evaluations"]
    stg = next(e for e in second if e["model"] == "staging.stg_events")
    assert stg["interval_start"] <= (built.t0 - timedelta(days=3)).date().isoformat()


def test_user_activity_daily_matches_truth(built: Built) -> None:
    want = truth.activity_daily(built.events)
    got = {(r[0], r[1]): {"login_count": r[2], "session_count": r[3], "api_calls_count": r[4],
                          "features_used": r[5], "engagement_score": r[6], "is_active": r[7],
                          "days_since_signup": r[8], "days_since_last_login": r[9]}
           for r in built.rows(
               "SELECT activity_date, user_id, login_count, session_count, api_calls_count, "
               "features_used, engagement_score, is_active, days_since_signup, days_since_last_login "
               "FROM marts.marts_core_user_activity_daily")}
    assert got == want


def test_dim_users_lifecycle_and_attributes_match_truth(built: Built) -> None:
    want = truth.dim_users(built.events, built.t0.date())
    got = {r[0]: {"lifecycle_stage": r[1], "last_active_date": r[2], "signup_cohort": r[3],
                  "auth_methods": r[4], "preferred_auth_method": r[5], "email_domain": r[6]}
           for r in built.rows(
               "SELECT user_id, lifecycle_stage, last_active_date, signup_cohort, auth_methods, "
               "preferred_auth_method, email_domain FROM marts.marts_core_dim_users")}
    assert got == want
    assert {v["lifecycle_stage"] for v in want.values()} >= {"new", "active", "at_risk"}


def test_auth_events_mart_has_every_auth_event_once(built: Built) -> None:
    want = sorted(e["event_id"] for e in built.events if e["event_type"] in truth.AUTH)
    got = [r[0] for r in built.rows("SELECT event_id FROM marts.marts_core_auth_events ORDER BY 1")]
    assert got == want
    failures = sum(e["event_type"] == "login_failed" for e in built.events)
    assert built.rows("SELECT COUNT(*) FILTER (WHERE is_failure) FROM marts.marts_core_auth_events") == [
        (failures,)]


def test_event_aggregations_match_truth_for_every_grain(built: Built) -> None:
    want = truth.event_aggregations(built.events)
    got = {(r[0], r[1], r[2], r[3]): (r[4], r[5], r[6]) for r in built.rows(
        "SELECT period_type, period_start, event_type, source, event_count, unique_users, "
        "unique_sessions FROM marts.event_aggregations")}
    assert got == want


def test_active_users_dau_wau_mau_match_truth(built: Built) -> None:
    want = truth.active_users(built.events)
    got = {r[0]: {"dau": r[1], "wau": r[2], "mau": r[3], "stickiness": r[4]} for r in built.rows(
        "SELECT activity_date, dau, wau, mau, stickiness FROM marts.metrics_active_users")}
    assert got == want


def test_heatmap_suppresses_cells_under_k_people(built: Built) -> None:
    want = truth.heatmap(built.events, k=5)
    got = {(r[0], r[1]): (r[2], r[3]) for r in built.rows(
        "SELECT hour, h3_cell, activity_count, unique_users FROM marts.heatmap_hourly")}
    assert got == want
    assert want, "the generator makes at least one dense cell"
    assert all(people >= 5 for _, people in got.values())


def test_daily_engagement_matches_truth(built: Built) -> None:
    want = truth.daily_engagement(built.events)
    got = {(r[0], r[1]): (r[2], r[3], r[4], r[5]) for r in built.rows(
        "SELECT date, h3_cell_res6, posts, reactions, comments, unique_users "
        "FROM marts.daily_engagement")}
    assert got == want


def test_place_popularity_scores_and_ranks_match_truth(built: Built) -> None:
    want = truth.place_popularity(built.events, built.t0, k=5)
    got = {r[0]: dict(zip(["unique_users", "follower_count", "post_count", "recent_engagement",
                           "popularity_score", "popularity_rank"], r[1:], strict=True))
           for r in built.rows(
               "SELECT place_id, unique_users, follower_count, post_count, recent_engagement, "
               "popularity_score, popularity_rank FROM marts.place_popularity")}
    assert set(got) == set(want)
    for place, w in want.items():
        g = got[place]
        assert g["popularity_rank"] == w["popularity_rank"], place
        assert g["popularity_score"] == pytest.approx(w["popularity_score"], rel=1e-12)
        assert {k: g[k] for k in ("unique_users", "follower_count", "post_count", "recent_engagement")} \
            == {k: w[k] for k in ("unique_users", "follower_count", "post_count", "recent_engagement")}
