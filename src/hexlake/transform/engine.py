"""hexlake's small interface over ``sqlmesh.Context``: plan/apply, run, status, render, test.

Nothing else in hexlake imports SQLMesh. The engine builds the SQLMesh configuration in code from
``Settings``: the gateway is the warehouse DuckDB file (``settings.paths.warehouse_db``), SQLMesh's
state lives in its own DuckDB file (``settings.paths.sqlmesh_state``), telemetry is off and the
model variables (lookback, k, lifecycle thresholds) come from ``settings.transform``.

In-process sharing: DuckDB's Python client keeps one database instance per file path and hands
every ``duckdb.connect(path)`` with the same (default) configuration a connection to it, so SQLMesh
can run inside the server while the warehouse's own connection is open (the transform tests
open ``Warehouse`` first and run SQLMesh beside it). SQLMesh itself also caches one adapter per DuckDB file.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("SQLMESH__DISABLE_ANONYMIZED_ANALYTICS", "1")

import sqlmesh.core.constants as _sqlmesh_constants
from sqlmesh import Context
from sqlmesh.core.config import (
    CategorizerConfig,
    Config,
    DuckDBConnectionConfig,
    GatewayConfig,
    ModelDefaultsConfig,
    PlanConfig,
)
from sqlmesh.core.console import NoopConsole, get_console, set_console
from sqlmesh.utils.errors import NodeAuditsErrors, SQLMeshError

from hexlake.config import Settings
from hexlake.errors import TransformError
from hexlake.extract.staging import users_binding
from hexlake.transform.lock import RUN_LOCK, no_run_under_way
from hexlake.warehouse.schema import RAW_EVENTS_ALL_DDL, RAW_EVENTS_DDL

# Never fork: SQLMesh loads models in a fork pool (``MAX_FORK_WORKERS``), and forking a threaded
# server can copy a lock some other thread holds — the load then waits forever in ``as_completed``.
# 1 makes SQLMesh use its synchronous executor; set on the module because it reads the attribute
# at each load (the env var is read only once, at SQLMesh's import, which may already have happened).
_sqlmesh_constants.MAX_FORK_WORKERS = 1


def mute_macro_syntax_warnings() -> None:
    """SQLMesh's @IF macro compiles audit conditions (``@min_v IS NOT NULL`` → ``-90 is not None``)
    on every run: a SyntaxWarning per audit. Only code compiled from strings (module ``<string>``)
    is muted. Re-applied on each use: a ``warnings.catch_warnings`` block around an import drops it."""
    warnings.filterwarnings("ignore", message=r'"is( not)?" with a literal', category=SyntaxWarning,
                            module=r"<string>$")


mute_macro_syntax_warnings()

PROJECT_DIR = Path(__file__).parent / "project"
ENVIRONMENT = "prod"
_GATEWAY = "hexlake"
# SQLMesh evaluates independent models on this many threads (a ThreadPoolExecutor: threads, no
# fork). Two lets one model's SQL run in DuckDB (which releases the GIL) while the next model is
# rendered in Python; a run was about half Python rendering/auditing, half DuckDB.
CONCURRENT_TASKS = 2


@dataclass
class ModelEvaluation:
    """One model interval SQLMesh evaluated during a run or plan."""

    model: str
    interval_start: datetime
    interval_end: datetime
    duration_ms: int | None
    rows: int | None
    audits_failed: int = 0


@dataclass
class RunReport:
    """What a run/plan did: evaluations (one per model interval) and, on failure, the error."""

    kind: str
    started_at: datetime
    finished_at: datetime | None = None
    ok: bool = True
    evaluations: list[ModelEvaluation] = field(default_factory=list)
    failed_models: list[str] = field(default_factory=list)
    error: str | None = None
    applied_plan: bool = False
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "ok": self.ok,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "applied_plan": self.applied_plan,
            "failed_models": self.failed_models,
            "error": self.error,
            "warnings": self.warnings,
            "evaluations": [
                {
                    "model": e.model,
                    "interval_start": e.interval_start.isoformat(),
                    "interval_end": e.interval_end.isoformat(),
                    "duration_ms": e.duration_ms,
                    "rows": e.rows,
                    "audits_failed": e.audits_failed,
                }
                # models run on 2 threads, so completion order varies: report in a stable order
                for e in sorted(self.evaluations, key=lambda e: (e.model, e.interval_start))
            ],
        }


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).replace(tzinfo=None)


class _RecordingConsole(NoopConsole):
    """Collects SQLMesh's progress callbacks into a ``RunReport`` instead of printing them."""

    def __init__(self, report: RunReport):
        super().__init__()
        self.report = report
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def update_snapshot_evaluation_progress(
        self,
        snapshot: Any,
        interval: tuple[int, int],
        batch_idx: int,
        duration_ms: int | None,
        num_audits_passed: int,
        num_audits_failed: int,
        audit_only: bool = False,
        execution_stats: Any = None,
        auto_restatement_triggers: Any = None,
    ) -> None:
        rows = getattr(execution_stats, "total_rows_processed", None) if execution_stats else None
        self.report.evaluations.append(
            ModelEvaluation(
                model=_short_name(snapshot.name),
                interval_start=_utc(interval[0]),
                interval_end=_utc(interval[1]),
                duration_ms=duration_ms,
                rows=rows,
                audits_failed=num_audits_failed,
            )
        )

    def log_failed_models(self, errors: list[Any]) -> None:
        for err in errors:
            self.report.failed_models.append(_short_name(str(getattr(err, "node", "?"))))
            self.errors.append(_describe(err))

    def log_error(self, message: str, *args: Any, **kwargs: Any) -> None:
        self.errors.append(message)

    def log_warning(self, short_message: str, long_message: str | None = None) -> None:
        # Non-blocking audits (e.g. heatmap freshness when every recent cell is suppressed).
        self.warnings.append(short_message.strip())


def _short_name(name: str) -> str:
    """``"warehouse"."marts"."x"`` -> ``marts.x``."""
    parts = [p.strip("\"' <>()") for p in name.replace("SnapshotId<", "").split(",")[0].split(".")]
    return ".".join(parts[-2:])


def _describe(err: BaseException) -> str:
    """A user-facing account of a failed model: the audit, the rows, the model."""
    cause: BaseException | None = err
    while cause is not None and not isinstance(cause, NodeAuditsErrors) and cause.__cause__ is not None:
        cause = cause.__cause__
    node = _short_name(str(getattr(err, "node", "")))
    if isinstance(cause, NodeAuditsErrors):
        audits = "; ".join(f"{e.audit_name} ({e.count} failing rows)" for e in cause.errors)
        return f"model {node}: audit failed: {audits}"
    return f"model {node}: {cause or err}"


def sqlmesh_config(settings: Settings) -> Config:
    """The SQLMesh configuration of a hexlake data dir (no config file on disk)."""
    if settings.resolved_warehouse_url().startswith(("postgresql://", "postgres://")):
        from hexlake.transform.postgres import postgres_config  # scale-out: same models on PostgreSQL

        return postgres_config(settings, sqlmesh_config(settings.model_copy(update={"warehouse_url": None})))
    if settings.resolved_warehouse_url().startswith("spark://"):
        from hexlake.transform.spark import spark_config  # the same models on Spark, over the lake

        return spark_config(settings, sqlmesh_config(settings.model_copy(update={"warehouse_url": None})))
    t = settings.transform
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Config(
        gateways={
            _GATEWAY: GatewayConfig(
                connection=DuckDBConnectionConfig(database=str(settings.paths.warehouse_db),
                                                  concurrent_tasks=CONCURRENT_TASKS),
                # multithreaded like the warehouse's (SQLMesh would override it and warn)
                state_connection=DuckDBConnectionConfig(database=str(settings.paths.sqlmesh_state),
                                                        concurrent_tasks=CONCURRENT_TASKS),
            )
        },
        default_gateway=_GATEWAY,
        model_defaults=ModelDefaultsConfig(dialect="duckdb", start=t.start),
        plan=PlanConfig(auto_categorize_changes=CategorizerConfig.all_full()),
        variables={
            "lookback_days": t.lookback_days,
            "asof_cron": t.asof_cron,  # the as-of tier's models' cron (hexlake.transform.tiers)
            "heatmap_k": t.heatmap_k,
            "new_days": t.new_days,
            "at_risk_days": t.at_risk_days,
            "churned_days": t.churned_days,
            # the extracted users table the core marts join (hexlake extract; "" = events only)
            "extracted_users": users_binding(settings.data_dir),
        },
        cache_dir=str(settings.paths.sqlmesh_cache),
    )


def project_paths(settings: Settings) -> list[Path]:
    """hexlake's project, then the data dir's own (``<data_dir>/transform``: staging models generated
    by ``hexlake extract`` and the user's models) when it has models."""
    own = settings.paths.transform_project
    return [PROJECT_DIR, own] if (own / "models").is_dir() else [PROJECT_DIR]


class TransformEngine:
    """The SQLMesh project of one data dir. Thread-safe: operations are serialised."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._context: Context | None = None
        self._in_sync = False
        # prod's snapshots (parsed models), kept across runs: see _keep_snapshots_warm
        self._warm: dict[Any, Any] = {}
        # a scheduled run asks SQLMesh about the as-of tier again from this time (hexlake.transform.tiers)
        self.asof_due_at: datetime | None = None
        # SQLMesh captures the console when the Context is built; we keep that one console and
        # point it at the report of the operation in progress.
        self._recorder = _RecordingConsole(RunReport("load", datetime.now()))

    def exclusive(self) -> AbstractContextManager[None]:
        """One SQLMesh operation at a time: in this process, and on a PostgreSQL warehouse across
        every process sharing it (a second waits up to ``transform.lock_wait_s``, then TransformBusy)."""
        return no_run_under_way(self.settings, purpose="transform")

    @property
    def context(self) -> Context:
        mute_macro_syntax_warnings()  # every run goes through here
        with RUN_LOCK:
            if self._context is None:
                with self._console(RunReport("load", datetime.now())):
                    try:
                        self._context = Context(paths=project_paths(self.settings),
                                                config=sqlmesh_config(self.settings))
                    except SQLMeshError as exc:
                        raise TransformError(f"the SQLMesh project could not be loaded: {exc}") from exc
                self._ensure_raw_table()
            return self._context

    def _ensure_raw_table(self) -> None:
        # The loader owns raw_events; creating the empty contract table lets the models build
        # before the first event is loaded. Same DDL, IF NOT EXISTS: never alters the loader's.
        assert self._context is not None
        adapter = self._context.engine_adapter
        if adapter.dialect == "spark":  # reads the lake: main.raw_events_all over its current files
            from hexlake.transform.spark import prepare_raw_layer

            prepare_raw_layer(adapter, self.settings)
            return
        adapter.execute(RAW_EVENTS_DDL)
        if adapter.dialect == "duckdb":  # the models read raw_events_all (PostgreSQL: prepare_raw_layer)
            adapter.execute(RAW_EVENTS_ALL_DDL)

    @contextmanager
    def _console(self, report: RunReport) -> Iterator[_RecordingConsole]:
        previous = get_console()
        console = self._recorder
        console.report, console.errors, console.warnings = report, [], []
        set_console(console)
        try:
            yield console
        finally:
            set_console(previous)

    def needs_plan(self) -> bool:
        """True when prod does not exist yet or the local models/variables differ from it.

        The project and the variables cannot change during the engine's life, so once prod
        matches (checked, or planned) the answer is cached: it saves ~1 s of fingerprinting a run.
        """
        if self._in_sync:
            return False
        ctx = self.context
        env = ctx.state_reader.get_environment(ENVIRONMENT)
        if env is None:
            return True
        deployed = {s.snapshot_id for s in env.snapshots}
        local = {s.snapshot_id for s in ctx.snapshots.values() if s.is_model}
        self._in_sync = local <= deployed
        return not self._in_sync

    def _keep_snapshots_warm(self) -> None:
        """Hand SQLMesh's run the snapshots the last run used instead of re-reading them.

        Every run records new intervals, which evicts those snapshots from SQLMesh's state cache,
        so each ``run`` re-read and re-parsed all of prod's snapshots (models, their cached
        optimized queries): about a tenth of a run. Only a plan changes a snapshot other than its
        intervals, and the scheduler re-reads the intervals of the snapshots it is given at the
        start of every run, so the parsed ones stay valid while prod's snapshot ids do not change.
        """
        ctx = self.context
        cache = getattr(ctx.state_sync, "snapshot_cache", None)  # CachingStateSync's
        if not isinstance(cache, dict):
            return
        env = ctx.state_sync.get_environment(ENVIRONMENT)
        if env is None:
            self._warm = {}
            return
        ids = {s.snapshot_id for s in env.snapshots}
        if set(self._warm) != ids:  # first run, or a plan changed prod
            self._warm = dict(ctx.state_sync.get_snapshots(ids))
            return
        expires = int(datetime.now(UTC).timestamp() * 1000) + 3_600_000
        for sid, snapshot in self._warm.items():
            cache[sid] = (snapshot, expires)

    def _refresh_lake(self) -> None:
        # Spark reads the lake through a view over its current files: new syncs add files
        if self._context is not None and self._context.engine_adapter.dialect == "spark":
            self._ensure_raw_table()

    def plan(self, *, execution_time: datetime | None = None, backfill: bool = True) -> RunReport:
        """Apply the local models to prod and backfill what is missing (first build, changes).

        ``backfill=False`` only creates and promotes the tables; the next ``run`` fills them.
        """
        with self.exclusive():
            ctx = self.context
            self._refresh_lake()
            report = RunReport("plan", datetime.now(), applied_plan=True)
            with self._console(report) as console:
                try:
                    ctx.plan(
                        ENVIRONMENT,
                        no_prompts=True,
                        auto_apply=True,
                        execution_time=execution_time,
                        skip_backfill=not backfill,
                    )
                except SQLMeshError as exc:
                    self._fail(report, console, exc)
            report = self._finish(report, console)
            self._in_sync = report.ok
            self._warm = {}  # prod's snapshots may have changed
            return report

    def run(self, *, execution_time: datetime | None = None, select: Collection[str] | None = None,
            ignore_cron: bool = True, kind: str = "run") -> RunReport:
        """Process new and late data: every selected incremental model recomputes its lookback window.

        ``select`` (model names, default all) runs only those models; SQLMesh adds nothing
        upstream of them (the caller runs the tiers in order, see ``hexlake.transform.tiers``).
        ``ignore_cron=False`` lets each model's own ``cron`` decide whether it is due (SQLMesh
        processes intervals up to the last cron tick only): how the as-of tier keeps its cadence.

        Applies a plan first when the project or the variables changed. Raises ``TransformError``
        when a model or an audit fails; models downstream of it keep their previous data.
        """
        with self.exclusive():
            if self.needs_plan():
                # First build: create the tables only and let this run fill every interval in
                # one pass (a plan backfills complete days only, so the run would redo the
                # lookback). Changes to a live project backfill in the plan, keeping the old
                # tables visible until the new ones are complete.
                first = self.context.state_reader.get_environment(ENVIRONMENT) is None
                planned = self.plan(execution_time=execution_time, backfill=not first)
                if not planned.ok:
                    raise TransformError(planned.error or "the plan failed", details=[planned.to_dict()])
            report = RunReport(kind, datetime.now())
            self._refresh_lake()
            self._keep_snapshots_warm()
            with self._console(report) as console:
                try:
                    status = self.context.run(
                        ENVIRONMENT,
                        execution_time=execution_time,
                        end=execution_time,
                        ignore_cron=ignore_cron,
                        select_models=sorted(select) if select is not None else None,
                        no_auto_upstream=select is not None,
                        skip_janitor=True,
                    )
                    # NOTHING_TO_DO (every interval up to execution_time already done) is a success too
                    report.ok = not status.is_failure if hasattr(status, "is_failure") else bool(status)
                except SQLMeshError as exc:
                    self._fail(report, console, exc)
            report = self._finish(report, console)
            if not report.ok:
                raise TransformError(report.error or "the transform run failed", details=[report.to_dict()])
            return report

    def _fail(self, report: RunReport, console: _RecordingConsole, exc: BaseException) -> None:
        report.ok = False
        console.errors.append(_describe(exc))

    def _finish(self, report: RunReport, console: _RecordingConsole) -> RunReport:
        report.finished_at = datetime.now()
        report.warnings = list(dict.fromkeys(console.warnings))
        if console.errors or report.failed_models:
            report.ok = False
        if not report.ok:
            reasons = "; ".join(dict.fromkeys(console.errors)) or "see the SQLMesh log"
            report.error = (
                f"transform {report.kind} failed: {reasons}. Models downstream of a failed model "
                "kept their previous data; fix the input (or the model) and run "
                "`hexlake transform run` again."
            )
        return report

    def status(self) -> list[dict[str, Any]]:
        """Per model: kind, processed intervals, last time it was altered."""
        ctx = self.context
        env = ctx.state_reader.get_environment(ENVIRONMENT)
        if env is None:
            return []
        snapshots = ctx.state_reader.get_snapshots(env.snapshots)
        out = []
        for snap in sorted(snapshots.values(), key=lambda s: s.name):
            if not snap.is_model or snap.model.kind.is_external:
                continue
            out.append(
                {
                    "model": _short_name(snap.name),
                    "kind": snap.model.kind.name.value,
                    "intervals": [[_utc(a).isoformat(), _utc(b).isoformat()] for a, b in snap.intervals],
                    "last_altered_at": (
                        _utc(snap.last_altered_ts).isoformat() if snap.last_altered_ts else None
                    ),
                }
            )
        return out

    def render(self, model: str, *, execution_time: datetime | None = None) -> str:
        """The SQL SQLMesh would run for ``model`` (e.g. ``marts.place_popularity``)."""
        ctx = self.context
        if model not in {_short_name(m) for m in ctx.models}:
            raise TransformError(f"unknown model {model!r}", field="model")
        return ctx.render(model, execution_time=execution_time).sql(dialect="duckdb", pretty=True)

    def test(self) -> tuple[int, list[str]]:
        """Run the project's SQLMesh unit tests (YAML input/expected rows); (tests run, failures)."""
        with self.exclusive():
            result = self.context.test()
            failures = [str(t) for t, _ in [*result.failures, *result.errors]]
            return result.testsRun, failures

    def close(self) -> None:
        with RUN_LOCK:
            if self._context is not None:
                self._context.close()
                self._context = None
                self._in_sync = False
                self._warm = {}


__all__ = [
    "ENVIRONMENT", "PROJECT_DIR", "ModelEvaluation", "RunReport", "TransformEngine", "sqlmesh_config",
]
