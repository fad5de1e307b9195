"""The privacy housekeeping job in the server: a ``CronScheduler`` (``privacy.housekeeping_cron``)
that expires quarantined events, removes imported and abandoned uploads, and enforces retention."""

from __future__ import annotations

import logging
import shutil
from datetime import UTC, datetime, timedelta
from typing import Any

from hexlake.catalog import connect_catalog
from hexlake.plugins import BackgroundService
from hexlake.runtime import Runtime

log = logging.getLogger("hexlake.privacy")


def housekeeping(runtime: Runtime, *, now: datetime | None = None) -> dict[str, Any]:
    """One pass: what was deleted, per kind."""
    from hexlake.gate.resources import runtime_quarantine
    from hexlake.privacy.retention import enforce

    cfg = runtime.settings.privacy
    now = now or datetime.now(UTC)
    done: dict[str, Any] = {
        "quarantine": runtime_quarantine(runtime).purge_older_than(cfg.quarantine_days, now=now),
        "uploads": clean_uploads(runtime, now=now),
    }
    if cfg.retention_enabled:
        done["retention"] = enforce(runtime, now=now)
    return done


def clean_uploads(runtime: Runtime, *, now: datetime) -> int:
    """Delete uploads whose import succeeded, and uploads left unimported past the abandon limit."""
    db = runtime.paths.imports_db
    if not db.exists():
        return 0
    cutoff = (now - timedelta(hours=runtime.settings.privacy.upload_abandoned_hours)).isoformat()
    conn = connect_catalog(db)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'uploads'").fetchone():
            return 0
        ids = [r[0] for r in conn.execute(
            "SELECT id FROM uploads WHERE status = 'imported' OR (status NOT IN ('importing') AND created_at < ?)",
            (cutoff,)).fetchall()]
        for upload_id in ids:
            conn.execute("DELETE FROM upload_chunks WHERE upload_id = ?", (upload_id,))
            conn.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))
            shutil.rmtree(runtime.paths.uploads / upload_id, ignore_errors=True)
    finally:
        conn.close()
    return len(ids)


def create(runtime: Runtime) -> BackgroundService | None:
    from hexlake.ops.scheduler import CronScheduler

    def job(attempt: int) -> None:
        done = housekeeping(runtime)
        log.info("privacy housekeeping: %s", {k: v for k, v in done.items() if k != "retention"})

    return CronScheduler("privacy", runtime.settings.privacy.housekeeping_cron, job, retries=2)


__all__ = ["clean_uploads", "create", "housekeeping"]
