"""One pipeline run: its steps in order, the run history, the failure notification and metrics.

Steps: ``extract`` (each source: raw tables, then the generated staging models), ``transform`` (the
SQLMesh run, audits included: a failing audit stops the run and the marts downstream keep their
previous data) and ``sync``. The first failing step ends the run. A run is recorded in
``<data_dir>/pipelines.sqlite`` (``pipeline_runs``); a failed run on its last attempt (or any
terminal failure, such as an audit) enqueues one webhook delivery, signed and retried by
``hexlake.stream.webhooks.WebhookQueue`` (delivery id = run id: never sent twice).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any

from hexlake.errors import HexlakeError, is_transient, redact_secrets
from hexlake.pipeline.config import Pipeline
from hexlake.runtime import Runtime

_DDL = (
    "CREATE TABLE IF NOT EXISTS pipeline_runs (id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, trigger TEXT NOT NULL,"
    " attempt INTEGER NOT NULL, status TEXT NOT NULL, failed_step TEXT, error TEXT, started_at TEXT NOT NULL,"
    " finished_at TEXT NOT NULL, steps TEXT NOT NULL)"
)
AUDIT_WORDS = ("audit", "not_null", "unique_values", "unique_combination", "accepted_values", "accepted_range")


class PipelineFailed(HexlakeError):
    """A pipeline step failed; ``details[0]`` is the recorded run. Transient or terminal like its cause."""


class _Metrics:
    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge

        self.runs = Counter("hexlake_pipeline_runs_total", "Pipeline runs by outcome", ["pipeline", "status"])
        self.failing = Gauge("hexlake_pipeline_failing", "1 if the pipeline's last run failed", ["pipeline"])
        self.last_success = Gauge("hexlake_pipeline_last_success_timestamp_seconds",
                                  "Epoch of the pipeline's last successful run", ["pipeline"])


@cache
def metrics() -> _Metrics:
    return _Metrics()


def _db(runtime: Runtime) -> Any:
    from hexlake.stream.state import connect

    conn = connect(runtime.paths.pipelines_db)
    conn.execute(_DDL)
    return conn


def _now() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def _extract(runtime: Runtime, pipeline: Pipeline) -> dict[str, Any]:
    from hexlake.extract.operations import extract
    from hexlake.extract.policy import PiiPolicy

    rows = 0
    for step in pipeline.extract:
        policy = PiiPolicy(rules=step.pii)
        policy.validate()
        results = extract(runtime, step.source, step.tables, pii_rules=step.pii, cursor=step.cursor,
                          name=step.name, accepted=step.accepted, cdc=step.cdc)
        rows += sum(r["rows"] for r in results)
    return {"rows": rows}


def _transform(runtime: Runtime, pipeline: Pipeline) -> dict[str, Any]:
    from hexlake.transform import operations

    operations.run(runtime, trigger=f"pipeline:{pipeline.name}")
    return {}


def _sync(runtime: Runtime, pipeline: Pipeline) -> dict[str, Any]:
    from hexlake.sync.operations import sync_run

    assert pipeline.sync is not None
    return {"synced": {t: sync_run(runtime, t, pipeline.sync.tables).get("rows") for t in pipeline.sync.targets}}


STEPS: dict[str, Callable[[Runtime, Pipeline], dict[str, Any]]] = {
    "extract": _extract, "transform": _transform, "sync": _sync}


def run_pipeline(runtime: Runtime, pipeline: Pipeline, *, trigger: str = "cli", attempt: int = 1,
                 last_attempt: bool = True) -> dict[str, Any]:
    """Run ``pipeline``'s steps; record the run; on failure notify (last attempt or terminal) and
    raise ``PipelineFailed``. Returns the run record."""
    record: dict[str, Any] = {"id": uuid.uuid4().hex, "pipeline": pipeline.name, "trigger": trigger,
                              "attempt": attempt, "status": "ok", "failed_step": None, "error": None,
                              "started_at": _now(), "steps": []}
    failure: BaseException | None = None
    for name in pipeline.steps():
        t0 = time.monotonic()
        try:
            detail = STEPS[name](runtime, pipeline)
        except Exception as exc:
            failure = exc
            message = redact_secrets(getattr(exc, "message", None) or str(exc))  # kept, sent to webhooks
            audit = name == "transform" and any(w in message.lower() for w in AUDIT_WORDS)
            record.update(status="audit_failed" if audit else "failed", failed_step=name, error=message)
            record["steps"].append({"step": name, "ok": False, "seconds": round(time.monotonic() - t0, 3)})
            break
        record["steps"].append({"step": name, "ok": True, "seconds": round(time.monotonic() - t0, 3), **detail})
    record["finished_at"] = _now()
    _record(runtime, record)
    _count(pipeline.name, record["status"])
    if failure is None:
        return record
    if last_attempt or not is_transient(failure):
        notify(runtime, pipeline, record)
    raise PipelineFailed(f"pipeline {pipeline.name!r} {record['status'].replace('_', ' ')} at step "
                         f"{record['failed_step']}: {record['error']}", field="pipeline", details=[record]) \
        from failure


def _record(runtime: Runtime, record: dict[str, Any]) -> None:
    conn = _db(runtime)
    try:
        conn.execute("INSERT INTO pipeline_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (record["id"], record["pipeline"], record["trigger"], record["attempt"], record["status"],
                      record["failed_step"], record["error"], record["started_at"], record["finished_at"],
                      json.dumps(record["steps"])))
    finally:
        conn.close()


def _count(name: str, status: str) -> None:
    m = metrics()
    m.runs.labels(name, status).inc()
    m.failing.labels(name).set(0 if status == "ok" else 1)
    if status == "ok":
        m.last_success.labels(name).set(time.time())


def history(runtime: Runtime, pipeline: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The latest runs, newest first."""
    conn = _db(runtime)
    try:
        sql = "SELECT id, pipeline, trigger, attempt, status, failed_step, error, started_at, finished_at, steps " \
              "FROM pipeline_runs" + (" WHERE pipeline = ?" if pipeline else "") + \
              " ORDER BY finished_at DESC, rowid DESC LIMIT ?"
        rows = conn.execute(sql, ([pipeline] if pipeline else []) + [limit]).fetchall()
    finally:
        conn.close()
    keys = ["id", "pipeline", "trigger", "attempt", "status", "failed_step", "error", "started_at", "finished_at"]
    return [{**dict(zip(keys, r[:9], strict=True)), "steps": json.loads(r[9])} for r in rows]


# -- notification ---------------------------------------------------------------------------------

def payload(pipeline: Pipeline, record: dict[str, Any]) -> dict[str, Any]:
    """The webhook body: hexlake's (the run record) or Slack's incoming-webhook shape (``text``)."""
    what = "audit failed" if record["status"] == "audit_failed" else "failed"
    text = (f":rotating_light: hexlake pipeline *{pipeline.name}* {what} at step `{record['failed_step']}` "
            f"(run {record['id']}, {record['finished_at']} UTC): {record['error']}")
    if pipeline.webhook_format == "slack":
        return {"text": text}
    return {"event": "pipeline.failed", "text": text, "run": record}


def webhook_queue(runtime: Runtime) -> Any:
    from hexlake.privacy.secret import load_secret
    from hexlake.stream.webhooks import WebhookQueue, webhook_key

    key = webhook_key(load_secret(runtime.settings.paths.secret))
    return WebhookQueue(runtime.paths.pipeline_webhooks, key)


def notify(runtime: Runtime, pipeline: Pipeline, record: dict[str, Any]) -> None:
    """Enqueue the failure webhook (once per run) and try to deliver it now; retries are the
    pipeline service's (or the next ``deliver_pending``)."""
    if not pipeline.webhook:
        return
    queue = webhook_queue(runtime)
    try:
        queue.enqueue(record["id"], pipeline.webhook, payload(pipeline, record))
        queue.deliver_due()
    finally:
        queue.close()


def deliver_pending(runtime: Runtime) -> int:
    queue = webhook_queue(runtime)
    try:
        return int(queue.deliver_due())
    finally:
        queue.close()


__all__ = ["PipelineFailed", "deliver_pending", "history", "metrics", "notify", "payload", "run_pipeline"]
