"""Online backups of a data dir: one checksummed, compressed archive per snapshot.

Every store is copied while the server keeps running, each one consistent on its own:

* SQLite files (catalog, log, online store, stream state...) through SQLite's online backup API.
* DuckDB files (the warehouse, SQLMesh state) inside one read transaction (a snapshot: writers go on)
  and rewritten table by table, with their schemas, sequences and views, into a fresh DuckDB file. The
  server's warehouse is read through its own open database (it owns the file, and it is hardened: no
  ``ATTACH``/``COPY``), so the copy goes through Arrow record batches.
* Every other file (the secret, models, uploads) is copied as is.

The staged copy gets ``manifest.json`` (SHA-256, size and row counts per file), is packed as
``<id>.tar.gz`` and described by ``<id>.json`` beside it (class, size, SHA-256 of the archive).
Each backup has a retention class: ``monthly`` (first of its month), ``weekly`` (first of its ISO
week), else ``daily``; :func:`prune` deletes those older than their class's limit (``BackupConfig``).
Stores outside the data dir (a PostgreSQL log or warehouse, Redis, NATS) are not in the archive: the
manifest names them, and docs/operations.md says how to back them up.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from hexlake.backup.config import BackupConfig
from hexlake.errors import BadRequest, NotFound, WarehouseError
from hexlake.runtime import Runtime

ID_RE = re.compile(r"^hexlake-\d{8}T\d{6}Z(-\d{1,3})?$")
MANIFEST = "manifest.json"
_SQLITE_MAGIC = b"SQLite format 3\x00"
#: Runtime files of a server, caches and sidecars: never part of a snapshot.
_SKIP_NAMES = {"server.json", "server.out", "sqlmesh_cache"}
_SKIP_SUFFIXES = ("-wal", "-shm", "-journal", ".wal", ".tmp", ".lock")
_CHUNK = 1 << 20


def backup_dir(runtime: Runtime) -> Path:
    configured = runtime.settings.backup.dir
    return Path(configured) if configured else runtime.paths.backups_dir


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _kind(path: Path) -> str:
    with path.open("rb") as f:
        head = f.read(16)
    if head == _SQLITE_MAGIC:
        return "sqlite"
    if head[8:12] == b"DUCK":
        return "duckdb"
    return "file"


def _files(root: Path, exclude: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_NAMES and (here / d).resolve() != exclude)
        for name in sorted(filenames):
            if name not in _SKIP_NAMES and not name.endswith(_SKIP_SUFFIXES):
                yield here / name


# -- copying one store ---------------------------------------------------------------------------

def _copy_sqlite(src: Path, dst: Path) -> dict[str, int]:
    source = sqlite3.connect(src, timeout=30)
    target = sqlite3.connect(dst)
    try:
        source.backup(target)
        tables = [r[0] for r in target.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1")]
        return {t: target.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        target.close()
        source.close()


def _q(*parts: str) -> str:
    return ".".join('"' + p.replace('"', '""') + '"' for p in parts)


def copy_duckdb(source: duckdb.DuckDBPyConnection, dst: Path) -> dict[str, int]:
    """Copy the database of ``source`` (a connection of its own) into a new file ``dst`` from one
    snapshot: schemas, sequences (at their current value), tables with their rows, then views."""
    source.execute("BEGIN TRANSACTION")
    target = duckdb.connect(str(dst))
    try:
        db = source.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
        where = "WHERE database_name = ? AND NOT internal AND NOT temporary"
        for (schema,) in source.execute(
                "SELECT schema_name FROM duckdb_schemas() WHERE database_name = ? AND NOT internal", [db]
        ).fetchall():
            target.execute(f"CREATE SCHEMA IF NOT EXISTS {_q(schema)}")
        for schema, name, start, step, last in source.execute(
                "SELECT schema_name, sequence_name, start_value, increment_by, last_value "
                "FROM duckdb_sequences() WHERE database_name = ? AND NOT temporary", [db]).fetchall():
            begin = start if last is None else last + step
            target.execute(f"CREATE SEQUENCE {_q(schema, name)} START WITH {int(begin)} INCREMENT BY {int(step)}")
        rows: dict[str, int] = {}
        for schema, name, sql in source.execute(
                f"SELECT schema_name, table_name, sql FROM duckdb_tables() {where} ORDER BY 1, 2", [db]).fetchall():
            target.execute(sql)
            reader = source.execute(f"SELECT * FROM {_q(schema, name)}").fetch_record_batch(100_000)
            target.register("_hexlake_backup_rows", reader)
            target.execute(f"INSERT INTO {_q(schema, name)} SELECT * FROM _hexlake_backup_rows")
            target.unregister("_hexlake_backup_rows")
            rows[f"{schema}.{name}"] = target.execute(f"SELECT count(*) FROM {_q(schema, name)}").fetchone()[0]  # type: ignore[index]
        views = [r[0] for r in source.execute(
            f"SELECT sql FROM duckdb_views() {where} ORDER BY view_oid", [db]).fetchall()]
        _create_views(target, views)
        target.execute("CHECKPOINT")
        return rows
    finally:
        target.close()
        source.execute("ROLLBACK")


def _create_views(target: duckdb.DuckDBPyConnection, views: list[str]) -> None:
    """Views may depend on each other: retry the failing ones while any progress is made."""
    while views:
        failed: list[str] = []
        error: Exception | None = None
        for sql in views:
            try:
                target.execute(sql)
            except duckdb.Error as exc:
                failed.append(sql)
                error = exc
        if len(failed) == len(views):
            raise RuntimeError(f"cannot recreate {len(failed)} view(s): {error}")
        views = failed


def _duckdb_source(runtime: Runtime, path: Path) -> duckdb.DuckDBPyConnection:
    """A connection of its own to ``path``: through the runtime's warehouse when it is that file."""
    from hexlake.warehouse import get_warehouse

    wh_url = runtime.settings.resolved_warehouse_url()
    if wh_url.startswith("duckdb:///") and Path(wh_url.removeprefix("duckdb:///")).resolve() == path.resolve():
        shared: Any = get_warehouse(runtime).cursor()  # DuckDB's cursor: a connection to the same database
        conn: duckdb.DuckDBPyConnection = shared.cursor()
        return conn
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error:  # already open in this process (same instance, other config): reuse it
        return duckdb.connect(str(path))


# -- create / list / verify / restore ------------------------------------------------------------

def _new_id(folder: Path, now: datetime) -> str:
    base = f"hexlake-{now:%Y%m%dT%H%M%SZ}"
    candidate, n = base, 1
    while (folder / f"{candidate}.json").exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _class_for(existing: list[dict[str, Any]], now: datetime) -> str:
    def same(b: dict[str, Any], fmt: str) -> bool:
        return bool(datetime.fromisoformat(b["created_at"]).strftime(fmt) == now.strftime(fmt))

    if not any(b["class"] == "monthly" and same(b, "%Y-%m") for b in existing):
        return "monthly"
    if not any(b["class"] in ("weekly", "monthly") and same(b, "%G-%V") for b in existing):
        return "weekly"
    return "daily"


def create_backup(runtime: Runtime, *, now: datetime | None = None) -> dict[str, Any]:
    """Snapshot every store of the data dir into a new archive; prune expired ones; its description."""
    now = now or datetime.now(UTC)
    folder = backup_dir(runtime)
    folder.mkdir(parents=True, exist_ok=True)
    backup_id = _new_id(folder, now)
    stage = folder / f".staging-{backup_id}"
    shutil.rmtree(stage, ignore_errors=True)
    try:
        files = _snapshot(runtime, stage, folder.resolve())
        external = [u for u in (runtime.settings.log_url, runtime.settings.warehouse_url,
                                runtime.settings.online_url) if u and not u.startswith(("sqlite:", "duckdb:"))]
        manifest = {"id": backup_id, "created_at": now.isoformat(), "files": files,
                    "external_stores": [u.split("://")[0] + "://…" for u in external]}
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=1))
        archive = folder / f"{backup_id}.tar.gz"
        part = archive.with_suffix(".gz.part")
        with tarfile.open(part, "w:gz", compresslevel=6) as tar:
            tar.add(stage / MANIFEST, arcname=MANIFEST)
            for f in files:
                tar.add(stage / f["path"], arcname=f["path"])
        with part.open("rb") as fh:
            os.fsync(fh.fileno())
        part.replace(archive)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    info = {"id": backup_id, "created_at": now.isoformat(), "class": _class_for(list_backups(folder), now),
            "size": archive.stat().st_size, "sha256": _sha256(archive), "files": len(files),
            "rows": sum(sum(f["rows"].values()) for f in files if f.get("rows"))}
    (folder / f"{backup_id}.json").write_text(json.dumps(info, indent=1))
    info["pruned"] = prune(folder, runtime.settings.backup, now=now)
    return info


def _snapshot(runtime: Runtime, stage: Path, exclude: Path) -> list[dict[str, Any]]:
    root = runtime.paths.root
    out: list[dict[str, Any]] = []
    for src in _files(root, exclude):
        rel = src.relative_to(root).as_posix()
        dst = stage / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        kind = _kind(src)
        rows: dict[str, int] | None = None
        try:
            if kind == "sqlite":
                rows = _copy_sqlite(src, dst)
            elif kind == "duckdb":
                rows = copy_duckdb(_duckdb_source(runtime, src), dst)
            else:
                shutil.copy2(src, dst)
        except (sqlite3.Error, duckdb.Error, OSError, RuntimeError) as exc:
            # e.g. a DuckDB file another process holds: retrying later (or through the server that
            # owns it) can succeed, so the schedule backs off and tries again
            raise WarehouseError(f"cannot snapshot {rel}: {exc}; no backup was written") from exc
        out.append({"path": rel, "kind": kind, "size": dst.stat().st_size, "sha256": _sha256(dst),
                    "rows": rows})
    return out


def list_backups(folder: Path) -> list[dict[str, Any]]:
    """The backups in ``folder``, oldest first (from their ``<id>.json`` descriptions)."""
    if not folder.is_dir():
        return []
    found = []
    for side in folder.glob("hexlake-*.json"):
        try:
            found.append(json.loads(side.read_text()))
        except (OSError, ValueError):
            continue  # a half-written description: its backup is not complete
    return sorted(found, key=lambda b: b["created_at"])


def _check_id(backup_id: Any) -> None:
    if not isinstance(backup_id, str) or not ID_RE.match(backup_id):
        raise BadRequest("id must look like hexlake-20260101T031500Z (see `hexlake backup list`)", field="id")


def _find(folder: Path, backup_id: str) -> dict[str, Any]:
    _check_id(backup_id)
    side = folder / f"{backup_id}.json"
    if not side.exists() or not (folder / f"{backup_id}.tar.gz").exists():
        raise NotFound(f"no backup {backup_id} in {folder}")
    info: dict[str, Any] = json.loads(side.read_text())
    return info


def verify_backup(folder: Path, backup_id: str) -> dict[str, Any]:
    """Check the archive's SHA-256, that it unpacks, and every file against the manifest."""
    info = _find(folder, backup_id)
    archive = folder / f"{backup_id}.tar.gz"
    problems: list[str] = []
    if _sha256(archive) != info["sha256"]:
        problems.append("archive SHA-256 differs from the one recorded at creation")
    checked = 0
    try:
        with tarfile.open(archive, "r:gz") as tar:
            manifest = _read_manifest(tar)
            expected = {f["path"]: f["sha256"] for f in manifest["files"]}
            for member in tar:
                if member.name == MANIFEST or not member.isfile():
                    continue
                stream = tar.extractfile(member)
                digest = hashlib.sha256()
                while stream and (chunk := stream.read(_CHUNK)):
                    digest.update(chunk)
                if expected.pop(member.name, None) != digest.hexdigest():
                    problems.append(f"{member.name}: checksum mismatch or not in the manifest")
                checked += 1
            problems += [f"{p}: in the manifest but missing from the archive" for p in expected]
    except (tarfile.TarError, OSError, EOFError, ValueError, KeyError) as exc:
        problems.append(f"archive is unreadable: {exc}")
    return {"id": backup_id, "ok": not problems, "files_checked": checked, "problems": problems}


def _read_manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    member = tar.extractfile(MANIFEST)
    if member is None:
        raise KeyError("manifest.json is missing")
    manifest: dict[str, Any] = json.loads(member.read())
    return manifest


def restore_backup(folder: Path, backup_id: str, target: Path) -> dict[str, Any]:
    """Rebuild a data dir at ``target`` (absent or empty) from a verified backup."""
    _check_id(backup_id)
    if not target.is_absolute():
        raise BadRequest("target must be an absolute path", field="target")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BadRequest("target must be a new or empty folder (a restore never overwrites data)",
                         field="target")
    check = verify_backup(folder, backup_id)
    if not check["ok"]:
        raise BadRequest(f"backup {backup_id} failed verification: {'; '.join(check['problems'])}", field="id")
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(folder / f"{backup_id}.tar.gz", "r:gz") as tar:
        manifest = _read_manifest(tar)
        members = [m for m in tar.getmembers() if m.name != MANIFEST]
        tar.extractall(target, members=members, filter="data")
    for f in manifest["files"]:
        if _sha256(target / f["path"]) != f["sha256"]:
            raise BadRequest(f"restored {f['path']} does not match its checksum", field="id")
    return {"id": backup_id, "target": str(target), "files": len(manifest["files"]),
            "rows": sum(sum(f["rows"].values()) for f in manifest["files"] if f.get("rows"))}


def prune(folder: Path, config: BackupConfig, *, now: datetime | None = None) -> list[str]:
    """Delete the backups older than their class's limit; the deleted ids."""
    now = now or datetime.now(UTC)
    keep = {"daily": config.keep_daily_days, "weekly": config.keep_weekly_days,
            "monthly": config.keep_monthly_days}
    gone = []
    for b in list_backups(folder):
        if now - datetime.fromisoformat(b["created_at"]) > timedelta(days=keep.get(b["class"], keep["daily"])):
            (folder / f"{b['id']}.tar.gz").unlink(missing_ok=True)
            (folder / f"{b['id']}.json").unlink(missing_ok=True)
            gone.append(b["id"])
    return gone


__all__ = ["copy_duckdb", "create_backup", "list_backups", "prune", "restore_backup", "verify_backup"]
