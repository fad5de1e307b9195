"""Retention enforced per x-retention class; quarantine and upload expiry (the housekeeping pass)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hexlake.catalog import connect_catalog
from hexlake.errors import ConfigError
from hexlake.privacy.retention import duration, enforce
from hexlake.privacy.service import clean_uploads, housekeeping
from hexlake.runtime import Runtime
from hexlake.serve import operations as ops
from hexlake.warehouse import get_warehouse

from .conftest import all_events


def load(runtime: Runtime) -> None:
    ops.get("send")(runtime, all_events()[:40], source="app")
    while ops.get("load_once")(runtime).get("rows", 0):
        pass


def by_class(runtime: Runtime) -> dict[str, int]:
    rows = get_warehouse(runtime).cursor().execute(
        "SELECT coalesce(retention, '-'), COUNT(*) FROM raw_events GROUP BY 1").fetchall()
    return dict(rows)


def test_dry_run_counts_and_the_real_run_deletes_only_expired_classes(runtime: Runtime) -> None:
    load(runtime)
    before = by_class(runtime)
    assert before.get("location", 0) > 0
    later = datetime.now(UTC) + timedelta(days=120)  # location (90 d) expired, interaction (1 y) not
    dry = enforce(runtime, dry_run=True, now=later)
    assert dry["classes"]["location"]["would_delete"]["main.raw_events"] == before["location"]
    # the log's copies, consumed by the loader (SQLite keeps its newest message: offsets must grow)
    assert before["location"] - 1 <= dry["log"] <= before["location"]
    assert by_class(runtime) == before
    done = enforce(runtime, now=later)
    assert done["classes"]["location"]["deleted"]["main.raw_events"] == before["location"]
    assert done["log"] == dry["log"] and enforce(runtime, dry_run=True, now=later)["log"] == 0
    after = by_class(runtime)
    assert "location" not in after and after.get("interaction") == before.get("interaction")


def test_bad_duration_names_the_setting() -> None:
    with pytest.raises(ConfigError) as err:
        duration("forever")
    assert err.value.field == "privacy.retention_classes"
    assert duration("2y") == timedelta(days=730)


def test_imported_and_abandoned_uploads_are_deleted_with_their_files(runtime: Runtime) -> None:
    db = runtime.paths.imports_db
    conn = connect_catalog(db)
    conn.execute("CREATE TABLE IF NOT EXISTS uploads (id TEXT PRIMARY KEY, filename TEXT NOT NULL, size INTEGER, "
                 "chunk_size INTEGER, sha256 TEXT, status TEXT NOT NULL, import_id TEXT, source TEXT, "
                 "created_at TEXT NOT NULL)")
    conn.execute("CREATE TABLE IF NOT EXISTS upload_chunks (upload_id TEXT, n INTEGER, sha256 TEXT)")
    now = datetime.now(UTC)
    for uid, status, age_h in [("done", "imported", 1), ("old", "receiving", 30), ("fresh", "receiving", 1),
                               ("busy", "importing", 30)]:
        conn.execute("INSERT INTO uploads VALUES (?, 'a.zip', 1, 1, NULL, ?, NULL, 'app', ?)",
                     (uid, status, (now - timedelta(hours=age_h)).isoformat()))
        (runtime.paths.uploads / uid).mkdir(parents=True)
        (runtime.paths.uploads / uid / "archive.zip").write_bytes(b"PK")
    conn.close()
    assert clean_uploads(runtime, now=now) == 2
    assert sorted(p.name for p in runtime.paths.uploads.iterdir()) == ["busy", "fresh"]


def test_housekeeping_runs_every_part(runtime: Runtime) -> None:
    load(runtime)
    done = housekeeping(runtime)
    assert set(done) == {"quarantine", "uploads", "retention"}
