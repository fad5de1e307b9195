"""Two tiers of models, so that new events reach the marts in seconds.

* **fresh**: the incremental models (staging and the time-grained marts) and every model they read
  (``stg_users`` and ``stg_extracted_logins`` are FULL but feed ``marts_core_user_activity_daily``).
  They run on every scheduled and load-triggered run, up to the run's execution time
  (``ignore_cron``: today's partial day included) and restate late days exactly.
* **as-of**: every other FULL model (``marts_core_dim_users``, ``place_popularity``, ``dim_places``,
  ``fact_recommendations``, the feature tables, ...): each is a rebuild over all events "as of" a
  time, the bulk of a run's cost. They carry ``cron @asof_cron`` (``transform.asof_cron``, every
  15 minutes by default; ``interval_unit 'day'`` keeps SQLMesh from listing 15-minute intervals
  back to ``transform.start`` on a cold build; a model of the data dir's own project keeps its own cron), and the
  scheduler runs them with ``ignore_cron=False``: SQLMesh rebuilds one only when a tick of its
  cron passed since its last build. ``hexlake transform run`` (tier ``all``) rebuilds them now.

The tiers come from the DAG, not from a list: a new incremental model and what it reads is fresh,
a new FULL model nothing incremental reads is as-of.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from croniter import croniter

from hexlake.errors import BadRequest, TransformError
from hexlake.transform.engine import RunReport, TransformEngine, _short_name

Tier = Literal["fresh", "asof", "all", "scheduled"]
#: What ``hexlake transform run --tier`` accepts (``scheduled`` is the scheduler's: fresh now,
#: as-of models when their cron is due).
TIERS: tuple[str, ...] = ("fresh", "asof", "all", "scheduled")
FRESH, ASOF = "fresh", "asof"


@dataclass(frozen=True)
class TierPlan:
    """Short model names per tier (external models excluded)."""

    fresh: frozenset[str] = field(default_factory=frozenset)
    asof: frozenset[str] = field(default_factory=frozenset)

    def tier_of(self, model: str) -> str:
        return ASOF if model in self.asof else FRESH


def check_tier(tier: str) -> Tier:
    if tier not in TIERS:
        raise BadRequest(f"tier must be one of {', '.join(TIERS)}, got {tier!r}", field="tier")
    return tier  # type: ignore[return-value]


def split(engine: TransformEngine) -> TierPlan:
    """The fresh tier (incremental models and everything upstream of them) and the as-of tier."""
    ctx = engine.context
    models = {fqn: m for fqn, m in ctx.models.items() if not m.kind.is_external}
    incremental = [fqn for fqn, m in models.items() if m.kind.is_incremental]
    fresh = set(ctx.dag.subdag(*incremental)) & set(models) if incremental else set()
    return TierPlan(frozenset(_short_name(f) for f in fresh), frozenset(_short_name(f) for f in set(models) - fresh))


def full_models(engine: TransformEngine, tier: Tier) -> set[str]:
    """FULL models a run of ``tier`` rebuilds whatever the time (so a restate must drop their
    latest interval): the fresh tier's, plus the as-of tier's when it runs ignoring its cron."""
    plan = split(engine)
    names = {_short_name(f) for f, m in engine.context.models.items() if m.kind.is_full}
    keep = {"fresh": plan.fresh, "scheduled": plan.fresh, "asof": plan.asof}.get(tier, plan.fresh | plan.asof)
    return names & set(keep)


def run(engine: TransformEngine, tier: Tier, *, execution_time: datetime | None) -> RunReport:
    """One run of ``tier``: the fresh tier first (ignoring cron), then the as-of tier (its cron
    decides when ``scheduled``); one report."""
    with engine.exclusive():
        # one SQLMesh run over the whole DAG: asked for, or a first build / changed project
        if tier == "all" or engine.needs_plan():
            return engine.run(execution_time=execution_time)
        plan = split(engine)
        reports = []
        if tier in ("fresh", "scheduled") and plan.fresh:
            reports.append(engine.run(execution_time=execution_time, select=plan.fresh))
        if tier == "asof" and plan.asof:
            reports.append(engine.run(execution_time=execution_time, select=plan.asof))
        if tier == "scheduled" and plan.asof:
            reports.append(_scheduled_asof(engine, plan.asof, execution_time))
        return merge(reports)


def _scheduled_asof(engine: TransformEngine, models: frozenset[str], execution_time: datetime | None) -> RunReport:
    """The as-of tier where its cron is due (SQLMesh decides per model, ``ignore_cron=False``).

    Asked only from the next tick of ``transform.asof_cron`` after the last time it was asked, so
    the back-to-back load-triggered runs between ticks skip a SQLMesh run that would find nothing
    to do (~0.3 s each). A failure is reported, not raised: the fresh tier's runs go on, and the
    failed models wait for the next tick (SQLMesh would retry a failed interval on every run: a
    full rebuild per load)."""
    when = execution_time or datetime.now(UTC).replace(tzinfo=None)
    if engine.asof_due_at is not None and when < engine.asof_due_at:
        return RunReport("run", datetime.now(), datetime.now())
    engine.asof_due_at = croniter(engine.settings.transform.asof_cron, when).get_next(datetime)
    try:
        return engine.run(execution_time=execution_time, select=models, ignore_cron=False)
    except TransformError as exc:
        failed = next((d for d in exc.details if isinstance(d, dict) and "failed_models" in d), {})
        return RunReport(
            "run",
            datetime.now(),
            datetime.now(),
            failed_models=list(failed.get("failed_models", [])),
            error=exc.message,
            warnings=[f"as-of tier failed; tried again at {engine.asof_due_at}"],
        )


def merge(reports: list[RunReport]) -> RunReport:
    """One report of the tiers' runs (ok: a failed fresh tier raised; a failed as-of tier is listed)."""
    if not reports:
        return RunReport("run", datetime.now(), datetime.now())
    out = RunReport("run", reports[0].started_at, reports[-1].finished_at)
    for r in reports:
        out.evaluations += r.evaluations
        out.warnings += [w for w in r.warnings if w not in out.warnings]
        out.failed_models += r.failed_models
        out.error = out.error or r.error
        out.applied_plan = out.applied_plan or r.applied_plan
    return out


__all__ = ["ASOF", "FRESH", "TIERS", "Tier", "TierPlan", "check_tier", "full_models", "merge", "run", "split"]
