"""Backups: a restore rebuilds every table of every store; damage is detected; retention by class."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import tarfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from hexlake.backup import archive
from hexlake.backup.service import create as create_service
from hexlake.config import Settings
from hexlake.errors import BadRequest, NotFound, WarehouseError
from hexlake.runtime import Runtime
from hexlake.serve import operations as ops
from hexlake.warehouse import get_warehouse
from tests.cli.inproc import run_cli
from tests.helpers import Server, hexlake, init
from tests.privacy.conftest import all_events, make_runtime


def _digest(rows: list[tuple[Any, ...]]) -> tuple[int, str]:
    return len(rows), hashlib.sha256("\n".join(sorted(map(repr, rows))).encode()).hexdigest()


def table_checksums(data_dir: Path, live_warehouse: Any = None) -> dict[str, tuple[int, str]]:
    """(rows, SHA-256 of the sorted rows) of every table of every SQLite and DuckDB file."""
    out: dict[str, tuple[int, str]] = {}
    for path in sorted(data_dir.rglob("*")):
        if not path.is_file() or "backups" in path.parts or path.suffix not in (".sqlite", ".duckdb"):
            continue
        rel = path.relative_to(data_dir).as_posix()
        if path.suffix == ".sqlite":
            conn = sqlite3.connect(path)
            for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"):
                out[f"{rel}:{t}"] = _digest(conn.execute(f'SELECT * FROM "{t}"').fetchall())
            conn.close()
            continue
        is_live = live_warehouse is not None and path.name == "warehouse.duckdb"
        duck = live_warehouse.cursor().cursor() if is_live else _open_duckdb(path)
        (db,) = duck.execute("SELECT current_database()").fetchall()[0]
        for s, t in duck.execute("SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ? "
                                 "AND NOT temporary", [db]).fetchall():
            out[f"{rel}:{s}.{t}"] = _digest(duck.execute(f'SELECT * FROM "{s}"."{t}"').fetchall())
        duck.close()
    return out


def _open_duckdb(path: Path) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error:  # SQLMesh holds its state file open in this process
        return duckdb.connect(str(path))


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """Every layer filled: log, raw, marts (SQLMesh), online store, stream state, quarantine."""
    from tests.privacy.conftest import populate

    for runtime in make_runtime(tmp_path_factory.mktemp("bk") / "data"):
        populate(runtime, all_events())
        yield runtime


def test_restore_rebuilds_every_table_with_equal_rows_and_checksums(populated: Runtime, tmp_path: Path) -> None:
    before = table_checksums(populated.paths.root, get_warehouse(populated))
    assert any(":marts." in k or "mart" in k for k in before), sorted(before)
    info = ops.get("backup_create")(populated)
    assert info["rows"] > 0 and info["files"] >= 4
    target = tmp_path / "restored"
    done = ops.get("backup_restore")(populated, id=info["id"], target=str(target))
    assert done["files"] == info["files"]
    after = table_checksums(target)
    assert after == before
    assert (target / "secret.key").read_bytes() == populated.paths.secret.read_bytes()
    assert not (target / "backups").exists(), "backups must not contain earlier backups"


def test_restored_data_dir_works_as_a_data_dir(populated: Runtime, tmp_path: Path) -> None:
    info = ops.get("backup_create")(populated)
    target = tmp_path / "restored"
    ops.get("backup_restore")(populated, id=info["id"], target=str(target))
    restored = Runtime(Settings(data_dir=target))
    try:
        count = get_warehouse(restored).cursor().execute("SELECT count(*) FROM raw_events").fetchone()[0]
        assert count == get_warehouse(populated).cursor().execute("SELECT count(*) FROM raw_events").fetchone()[0]
        assert count > 0
    finally:
        restored.close()


def test_verify_detects_a_corrupted_archive_and_restore_refuses_it(populated: Runtime, tmp_path: Path) -> None:
    info = ops.get("backup_create")(populated)
    assert ops.get("backup_verify")(populated, id=info["id"])["ok"]
    path = archive.backup_dir(populated) / f"{info['id']}.tar.gz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    report = ops.get("backup_verify")(populated, id=info["id"])
    assert not report["ok"] and report["problems"]
    with pytest.raises(BadRequest, match="failed verification") as err:
        ops.get("backup_restore")(populated, id=info["id"], target=str(tmp_path / "r"))
    assert err.value.field == "id"
    assert not (tmp_path / "r").exists()


def test_verify_detects_a_swapped_file_even_when_the_archive_checksum_was_updated(
        populated: Runtime) -> None:
    info = ops.get("backup_create")(populated)
    folder = archive.backup_dir(populated)
    path = folder / f"{info['id']}.tar.gz"
    with tarfile.open(path, "r:gz") as tar:
        members = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()]  # type: ignore[union-attr]
    with tarfile.open(path, "w:gz") as tar:
        for m, body in members:
            if m.name == "secret.key":
                body = b"attacker's secret"
                m.size = len(body)
            tar.addfile(m, io.BytesIO(body) if body is not None else None)
    side = folder / f"{info['id']}.json"
    side.write_text(json.dumps({**json.loads(side.read_text()), "sha256": archive._sha256(path)}))
    report = ops.get("backup_verify")(populated, id=info["id"])
    assert report["problems"] == ["secret.key: checksum mismatch or not in the manifest"]


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"id": "../../etc/passwd", "target": "/nonexistent/hexlake-restore"}, "id"),
    ({"id": 42, "target": "/nonexistent/hexlake-restore"}, "id"),
    ({"id": "hexlake-20260101T000000Z", "target": "relative/dir"}, "target"),
])
def test_hostile_restore_arguments_are_refused_naming_the_field(
        populated: Runtime, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises((BadRequest, NotFound)) as err:
        ops.get("backup_restore")(populated, **kwargs)
    assert isinstance(err.value, BadRequest) and err.value.field == field


def test_restore_never_overwrites(populated: Runtime, tmp_path: Path) -> None:
    info = ops.get("backup_create")(populated)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    for target in (tmp_path / "full", populated.paths.root):
        with pytest.raises(BadRequest) as err:
            ops.get("backup_restore")(populated, id=info["id"], target=str(target))
        assert err.value.field == "target"
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    with pytest.raises(NotFound):
        ops.get("backup_verify")(populated, id="hexlake-19990101T000000Z")


def test_retention_classes_and_pruning(tmp_path: Path) -> None:
    for runtime in make_runtime(tmp_path / "data", backup={"dir": str(tmp_path / "bk")}):
        def at(day: str, runtime: Runtime = runtime) -> dict[str, Any]:
            return archive.create_backup(runtime, now=datetime.fromisoformat(f"{day}T03:15:00+00:00"))

        assert [at(d)["class"] for d in ("2026-01-05", "2026-01-06", "2026-01-12", "2026-01-13")] == [
            "monthly", "daily", "weekly", "daily"]
        last = at("2026-01-21")  # first of ISO week 4; dailies kept 7 d: Jan 6 and Jan 13 expire
        assert last["class"] == "weekly"
        assert last["pruned"] == ["hexlake-20260106T031500Z", "hexlake-20260113T031500Z"]
        kept = [b["id"] for b in archive.list_backups(tmp_path / "bk")]
        assert kept == ["hexlake-20260105T031500Z", "hexlake-20260112T031500Z", "hexlake-20260121T031500Z"]
        feb = at("2026-02-14")  # weeklies kept 30 d: Jan 12 expires, Jan 21 (24 d) stays
        assert (feb["class"], feb["pruned"]) == ("monthly", ["hexlake-20260112T031500Z"])
        assert archive.prune(tmp_path / "bk", runtime.settings.backup, now=datetime(2027, 1, 10, tzinfo=UTC)) == [
            "hexlake-20260105T031500Z", "hexlake-20260121T031500Z"]  # monthly after 365 d
        assert [b["id"] for b in archive.list_backups(tmp_path / "bk")] == [feb["id"]]
        assert not list((tmp_path / "bk").glob(".staging-*")), "no staging left behind"


def test_schedule_is_off_by_default_and_a_cron_service_when_enabled(tmp_path: Path) -> None:
    assert create_service(Runtime(Settings(data_dir=tmp_path / "a"))) is None
    service = create_service(Runtime(Settings(data_dir=tmp_path / "b", backup={"enabled": True, "cron": "0 4 * * *"})))
    assert service is not None and service.name == "backup"


@pytest.mark.slow
def test_online_backup_through_a_running_server_then_restore_and_verify(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_key = init(data)["write_key"]
    with Server(data) as server:
        events = [{"event_id": f"e{i}", "event_type": "track", "user_id": f"u{i % 5}",
                   "timestamp": "2026-11-20T10:00:00Z", "properties": {"event": "tap"}} for i in range(40)]
        reply = httpx.post(server.url + "/v1/events", json=events, headers={"Authorization": f"Bearer {write_key}"})
        assert reply.status_code == 200, reply.text
        created = json.loads(hexlake(data, "backup", "create", "--json").stdout)  # the server owns the warehouse
        listed = json.loads(hexlake(data, "backup", "list", "--json").stdout)
        assert [b["id"] for b in listed] == [created["id"]]
        assert "intact" in hexlake(data, "backup", "verify", created["id"]).stdout
    restored = tmp_path / "restored"
    hexlake(data, "backup", "restore", created["id"], "--target", str(restored))
    sums = table_checksums(restored)
    assert sums["catalog.sqlite:sources"][0] >= 1, sorted(sums)
    assert "warehouse.duckdb:main.raw_events" in sums, sorted(sums)
    bad = run_cli(data, "backup", "verify", "nonsense")
    assert bad.code == 1 and "Error:" in bad.err and "id must look like" in bad.err


def test_a_store_that_cannot_be_read_fails_the_backup_cleanly(tmp_path: Path) -> None:
    for runtime in make_runtime(tmp_path / "data"):
        (runtime.paths.root / "broken.duckdb").write_bytes(b"\0" * 8 + b"DUCK" + b"\0" * 100)
        with pytest.raises(WarehouseError, match=r"cannot snapshot broken\.duckdb"):
            ops.get("backup_create")(runtime)
        assert archive.list_backups(archive.backup_dir(runtime)) == []
        assert not list(archive.backup_dir(runtime).glob(".staging-*"))


def test_backup_taken_while_events_are_loaded_is_a_consistent_snapshot(tmp_path: Path) -> None:
    import threading

    made = make_runtime(tmp_path / "data")
    runtime = next(made)
    stop, errors = threading.Event(), []

    def load() -> None:
        n = 0
        while not stop.is_set():
            try:
                ops.get("send")(runtime, [{"event_id": f"c{n}-{i}", "event_type": "track", "user_id": f"u{i}",
                                           "timestamp": "2026-11-20T10:00:00Z", "properties": {"event": "x"}}
                                          for i in range(50)], source="app")
                ops.get("load_once")(runtime)
            except Exception as exc:  # any failure of the writer fails the test below
                errors.append(repr(exc))
            n += 1

    writer = threading.Thread(target=load)
    writer.start()
    try:
        time.sleep(0.5)
        info = ops.get("backup_create")(runtime)
    finally:
        stop.set()
        writer.join(30)
    try:
        assert not errors, errors[:3]
        target = tmp_path / "restored"
        ops.get("backup_restore")(runtime, id=info["id"], target=str(target))
        with tarfile.open(archive.backup_dir(runtime) / f"{info['id']}.tar.gz") as tar:
            manifest = archive._read_manifest(tar)
        (wh,) = [f for f in manifest["files"] if f["path"] == "warehouse.duckdb"]
        restored = duckdb.connect(str(target / "warehouse.duckdb"), read_only=True)
        total, distinct = restored.execute("SELECT count(*), count(DISTINCT event_id) FROM raw_events").fetchall()[0]
        restored.close()
        assert total == distinct == wh["rows"]["main.raw_events"] > 0
    finally:
        runtime.close()
