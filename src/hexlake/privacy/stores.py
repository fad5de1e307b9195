"""Where one person's data can sit, store by store: count it, delete it, find it again.

Each function takes the person's ``Subject`` (their plain id and its ``user_key``) and touches one
kind of store. ``erase.py`` strings them into layers; ``scan.py`` searches independently of them.
SQLite deletions run with ``secure_delete`` on, so freed pages are zeroed and the bytes leave the
file as well as the table.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hexlake.catalog import connect_catalog


@dataclass(frozen=True)
class Subject:
    """A person: the plain id as the app sends it, and its HMAC (``user_key``)."""

    user_id: str
    user_key: str

    @property
    def needles(self) -> tuple[str, str]:
        """What must not be found anywhere after an erasure (the key, and the plain id quoted as
        JSON: ``"u-1"``, so that ``u-10`` does not match ``u-1``)."""
        return self.user_key, f'"{self.user_id}"'


# -- SQLite files (stream state, catalog, imports) -----------------------------------------------------


def sqlite_tables(conn: sqlite3.Connection) -> Iterator[tuple[str, list[str]]]:
    """(table, text/blob columns) of every table of a SQLite file."""
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        cols = [r[1] for r in conn.execute(f'PRAGMA table_info("{name}")')
                if r[2].upper() in ("TEXT", "BLOB", "") or "CHAR" in r[2].upper()]
        if cols:
            yield name, cols


def _where_mentions(cols: list[str], n: int) -> str:
    return " OR ".join(f'instr(CAST("{c}" AS BLOB), CAST(?{i + 1} AS BLOB)) > 0'
                       for c in cols for i in range(n))


def sqlite_mentions(path: Path, needles: tuple[str, ...], *, delete: bool = False,
                    skip: frozenset[str] = frozenset()) -> int:
    """Rows of any table of ``path`` whose text holds a needle; deleted when ``delete``."""
    if not path.exists():
        return 0
    conn = connect_catalog(path)
    try:
        if delete:
            conn.execute("PRAGMA secure_delete=ON")
        total = 0
        for table, cols in list(sqlite_tables(conn)):
            if table in skip or table.startswith("sqlite_"):
                continue
            verb = "DELETE" if delete else "SELECT COUNT(*)"
            cur = conn.execute(f'{verb} FROM "{table}" WHERE {_where_mentions(cols, len(needles))}', needles)
            total += cur.rowcount if delete else cur.fetchone()[0]
        if delete:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return total
    finally:
        conn.close()


def sqlite_files(root: Path) -> list[Path]:
    """Every SQLite file of the data dir except the log (the log has its own eraser)."""
    found = [p for p in root.rglob("*.sqlite") if p.name != "log.sqlite"]
    return sorted(p for p in found if p.is_file())


# -- imports and uploads --------------------------------------------------------------------------------


def imports_of(imports_db: Path, user_key: str) -> list[tuple[str, str | None, str]]:
    """(import id, upload id, source path) of the person's imports."""
    if not imports_db.exists():
        return []
    conn = connect_catalog(imports_db)
    try:
        return [tuple(r) for r in conn.execute(
            "SELECT id, upload_id, source_path FROM imports WHERE user_key = ?", (user_key,)).fetchall()]
    finally:
        conn.close()


def erase_imports(imports_db: Path, uploads: Path, user_key: str) -> int:
    """Delete the person's imports, their file rows, uploads and the archives on disk."""
    found = imports_of(imports_db, user_key)
    if not found:
        return 0
    conn = connect_catalog(imports_db)
    try:
        conn.execute("PRAGMA secure_delete=ON")
        for import_id, upload_id, source_path in found:
            conn.execute("DELETE FROM import_files WHERE import_id = ?", (import_id,))
            conn.execute("DELETE FROM imports WHERE id = ?", (import_id,))
            if upload_id:
                conn.execute("DELETE FROM upload_chunks WHERE upload_id = ?", (upload_id,))
                conn.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))
                shutil.rmtree(uploads / upload_id, ignore_errors=True)
            _remove_if_inside(Path(source_path), uploads)
    finally:
        conn.close()
    return len(found)


def _remove_if_inside(path: Path, folder: Path) -> None:
    """Archives hexlake keeps (under ``uploads/``) go; a user's own file elsewhere is theirs."""
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return
    path.unlink(missing_ok=True)


# -- Redis (online store, counters, log on Redis) --------------------------------------------------------


def redis_mentions(url: str, needle: str, *, delete: bool = False) -> int:
    """Keys whose name holds ``needle`` plus sorted-set members and hash fields naming it."""
    import redis

    base = url.partition("#")[0]
    client: Any = redis.Redis.from_url(base)
    try:
        total = 0
        for key in list(client.scan_iter(match=f"*{needle}*", count=1000)):
            total += 1
            if delete:
                client.delete(key)
        for key in list(client.scan_iter(count=1000, _type="zset")):
            members = [m for m, _ in client.zscan_iter(key, match=f"*{needle}*")]
            total += len(members)
            if delete and members:
                client.zrem(key, *members)
        return total
    finally:
        client.close()


__all__ = ["Subject", "erase_imports", "imports_of", "redis_mentions", "sqlite_files", "sqlite_mentions",
           "sqlite_tables"]
