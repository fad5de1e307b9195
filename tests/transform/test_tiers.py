"""Two tiers: the fresh tier (staging, incremental marts) on every run, the as-of tier (FULL models
over all events) on its own cron (``transform.asof_cron``), both on an explicit run."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from hexlake.config import Settings
from hexlake.errors import BadRequest, ConfigError, TransformError
from hexlake.ops.scheduler import CronScheduler
from hexlake.runtime import Runtime
from hexlake.transform import marts, operations, service, tiers
from hexlake.transform.config import TransformConfig
from tests.transform import events as truth
from tests.transform.conftest import append_to_log, load_log, now_minute
from tests.transform.test_exactness_lateness import (
    Lake,
    _cohort,
    assert_asof_marts_match,
    assert_fresh_marts_match,
    built_lake,
)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    """Every model built at t0 (three minutes past an hour: the next as-of tick is 12 minutes on)."""
    t0 = (now_minute() - timedelta(hours=1)).replace(minute=3)
    built = built_lake(tmp_path_factory.mktemp("tiers") / "data", t0, t0 - timedelta(minutes=5), "a")
    yield built
    built.runtime.close()


def _models(report: dict[str, Any]) -> set[str]:
    return {e["model"] for e in report["evaluations"]}


def test_the_tiers_come_from_the_dag_and_match_the_stated_list(lake: Lake) -> None:
    split = tiers.split(operations.engine(lake.runtime))
    assert split.asof == marts.ASOF
    # what an incremental mart reads is fresh, even a FULL model (signup dates of the activity mart)
    assert {"staging.stg_users", "staging.stg_extracted_logins", "staging.stg_events"} <= split.fresh
    assert not split.fresh & split.asof


def test_a_scheduled_run_keeps_the_asof_tier_until_its_cron_ticks(lake: Lake) -> None:
    # new users and visits (days of them older than the lookback: restated in the fresh tier)
    new = _cohort(lake.t0 + timedelta(minutes=4), "b", seed=11)
    append_to_log(lake.runtime, new, timedelta(minutes=1))
    load_log(lake.runtime)
    before, lake.events = lake.events, lake.events + new
    t1 = lake.t0 + timedelta(minutes=8)  # before the :15 tick

    ran = operations.run(lake.runtime, execution_time=t1, tier="scheduled")

    assert _models(ran) and not _models(ran) & marts.ASOF
    assert ran["restated"]["days"]  # late days restated as before, in the fresh tier
    assert_fresh_marts_match(lake.runtime, truth.unique(lake.events))
    assert_asof_marts_match(lake.runtime, truth.unique(before), lake.t0)  # as of its last build
    fresh = {f["model"]: f for f in operations.freshness(lake.runtime, now=t1 + timedelta(minutes=1))}
    assert fresh["marts.place_popularity"]["tier"] == "asof"
    assert fresh["marts.place_popularity"]["built_as_of"] == lake.t0.isoformat()
    assert fresh["marts.place_popularity"]["stale_seconds"] == 9 * 60
    assert fresh["marts.heatmap_hourly"]["tier"] == "fresh"
    assert fresh["marts.heatmap_hourly"]["stale_seconds"] == 60

    t2 = lake.t0 + timedelta(minutes=13)  # the :15 tick has passed
    ticked = operations.run(lake.runtime, execution_time=t2, tier="scheduled")

    assert _models(ticked) >= marts.ASOF
    assert_asof_marts_match(lake.runtime, truth.unique(lake.events), t2)
    fresh = {f["model"]: f for f in operations.freshness(lake.runtime, now=t2)}
    assert fresh["marts.marts_core_dim_users"]["built_as_of"] == lake.t0.replace(minute=15).isoformat()
    again = operations.run(lake.runtime, execution_time=t2 + timedelta(minutes=1), tier="scheduled")
    assert not _models(again) & marts.ASOF  # the same tick does not rebuild them again


def test_an_explicit_asof_run_rebuilds_only_that_tier_and_restates_nothing(lake: Lake) -> None:
    ran = operations.run(lake.runtime, execution_time=lake.t0 + timedelta(minutes=20), tier="asof")
    assert _models(ran) == marts.ASOF
    assert ran["tier"] == "asof" and ran["restated"]["days"] == []


def test_a_failing_asof_tier_is_reported_and_waits_for_its_next_tick(lake: Lake,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    eng = operations.engine(lake.runtime)
    monkeypatch.setattr(eng, "asof_due_at", None)
    real, attempts = eng.run, []

    def broken_asof(**kw: Any) -> Any:
        if kw.get("ignore_cron") is False:  # the scheduled as-of part
            attempts.append(kw["execution_time"])
            raise TransformError("transform run failed: model marts.place_popularity: audit failed",
                                 details=[{"kind": "run", "failed_models": ["marts.place_popularity"]}])
        return real(**kw)

    monkeypatch.setattr(eng, "run", broken_asof)
    t = lake.t0 + timedelta(minutes=30)  # hh:33, after the :30 tick

    out = operations.run(lake.runtime, execution_time=t, tier="scheduled")

    assert out["ok"] and out["failed_models"] == ["marts.place_popularity"] and "audit failed" in out["error"]
    assert "marts.heatmap_hourly" in _models(out)  # the fresh tier ran
    failed = operations.history(lake.runtime, limit=50, status="failed")
    assert failed and failed[0]["model"] == "marts.place_popularity" and failed[0]["trigger"] == "cli"
    operations.run(lake.runtime, execution_time=t + timedelta(minutes=5), tier="scheduled")
    assert attempts == [t]  # not retried on every load-triggered run...
    operations.run(lake.runtime, execution_time=t + timedelta(minutes=13), tier="scheduled")
    assert attempts == [t, t + timedelta(minutes=13)]  # ...but after the :45 tick


def test_an_unknown_tier_is_refused_naming_the_field(lake: Lake) -> None:
    with pytest.raises(BadRequest) as err:
        operations.run(lake.runtime, tier="hourly")
    assert err.value.field == "tier"


def test_the_scheduler_runs_the_scheduled_tier(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(operations, "run", lambda runtime, **kw: calls.append(kw))
    sched = service.create(Runtime(settings))
    assert isinstance(sched, CronScheduler)
    sched.run_once()
    assert calls == [{"trigger": "schedule", "attempt": 1, "tier": "scheduled"}]


def test_a_bad_asof_cron_is_refused() -> None:
    with pytest.raises(ConfigError):
        TransformConfig(asof_cron="every fifteen minutes")
