"""The monitors as pure functions: what counts as an anomaly, drift, spike or breach."""

from __future__ import annotations

import pytest

from hexlake.quality import monitors


def test_robust_z_ignores_one_odd_week() -> None:
    assert monitors.robust_z(100, [98, 102, 100, 5000]) == pytest.approx(0.0, abs=0.5)
    assert monitors.robust_z(400, [98, 102, 100, 5000]) > 50


def test_flat_baseline_still_scores_instead_of_dividing_by_zero() -> None:
    assert monitors.robust_z(100, [100, 100, 100]) == 0
    assert monitors.robust_z(160, [100, 100, 100]) == pytest.approx(6.0)


def test_volume_flags_spikes_and_drops_per_series_but_not_normal_hours() -> None:
    counts = {("track", "app"): 500.0, ("page", "web"): 98.0}
    baselines = {("track", "app"): [100.0, 104.0, 97.0], ("page", "web"): [100.0, 95.0, 103.0],
                 ("signup", "app"): [40.0, 44.0, 38.0]}
    alerts = monitors.volume(counts, baselines, z=4, min_weeks=2, window_start="h")
    assert {(a.subject, a.value > 0) for a in alerts} == {("track/app", True), ("signup/app", False)}
    assert "spike" in next(a for a in alerts if a.subject == "track/app").message
    assert "drop" in next(a for a in alerts if a.subject == "signup/app").message


def test_volume_needs_enough_baseline_weeks() -> None:
    assert monitors.volume({("t", "s"): 1000.0}, {("t", "s"): [1.0]}, z=4, min_weeks=2, window_start="h") == []


def test_schema_drift_reports_only_undeclared_keys() -> None:
    alerts = monitors.schema_drift({"track": {"event", "coupon"}, "page": {"url"}},
                                   {"track": {"event"}, "page": {"url"}}, window_start="h")
    assert [(a.subject, a.message) for a in alerts] == [
        ("track", "track events carry new undeclared properties: coupon")]


@pytest.mark.parametrize(("q", "ok", "bq", "bok", "alert"), [
    (30, 70, 10, 990, True),    # 30 % now against 1 % before
    (30, 70, 300, 700, False),  # as bad as last week: no spike
    (4, 0, 0, 1000, False),     # under the minimum count
    (5, 995, 0, 1000, False),   # 0.5 %: under the absolute rate
])
def test_quarantine_spike(q: int, ok: int, bq: int, bok: int, alert: bool) -> None:
    got = monitors.quarantine_spike(q, ok, bq, bok, rate=0.05, factor=3, minimum=5, window_start="h")
    assert bool(got) is alert


def test_freshness_breach_only_over_the_limit() -> None:
    alerts = monitors.freshness({"a": 10.0, "b": 7200.0, "c": None}, max_lag_s=3600, window_start="h")
    assert [a.subject for a in alerts] == ["b"]
