"""The proof scan: search every store, independently of the code that erased, for a person.

It looks for the ``user_key`` and the plain id (JSON-quoted) in: every table and view of the
warehouse (any text or JSON column, SQLMesh's physical tables included), the log (through its own
backend), every file of the data dir byte by byte (SQLite databases with their WAL files, uploads,
the server log, Parquet sync targets; gzip files decompressed), the Redis keys of the online store,
and the sync targets. Extracted tables are searched a second way, by the plain id in their id
columns (``extracted_ids``). Each place reports a count; an erasure is proven when every count is zero.
"""

from __future__ import annotations

import gzip
import mmap
import zlib
from pathlib import Path
from typing import Any

from hexlake.privacy import stores
from hexlake.privacy import warehouse as pw
from hexlake.privacy.stores import Subject
from hexlake.runtime import Runtime

# DuckDB keeps deleted rows in their blocks until a row group is rewritten; its file is searched
# through SQL (every table and view), not byte by byte.
_SQL_ONLY = (".duckdb", ".duckdb.wal")
_GZIP_MAGIC = b"\x1f\x8b"


def proof_scan(runtime: Runtime, subject: Subject) -> dict[str, int]:
    """Occurrences of the person per place (all zero after a complete erasure)."""
    found: dict[str, int] = {}
    found.update(_files(runtime.paths.root, subject))
    found.update(_warehouse(runtime, subject))
    if not runtime.settings.resolved_log_url().startswith("sqlite:"):  # a SQLite log is a file: scanned above
        found["log"] = _log(runtime, subject)
    url = runtime.settings.resolved_online_url()
    if url.startswith(("redis://", "rediss://")):
        found["redis online store"] = stores.redis_mentions(url, subject.user_key)
    log_url = runtime.settings.resolved_log_url()
    if log_url.startswith(("redis://", "rediss://")):
        found["redis log keys"] = stores.redis_mentions(log_url, subject.user_key)
    return found


def file_hits(path: Path, needles: tuple[bytes, ...]) -> int:
    """How many needles occur in ``path`` (memory-mapped: the file is never read whole). A gzip file
    (SQLMesh's caches, exports) is searched decompressed: its bytes could hide the key, and a short
    plain id (``"1"``) turns up in compressed bytes by chance - a fresh CI run failed on that."""
    try:
        size = path.stat().st_size
        if size == 0:
            return 0
        with path.open("rb") as fh:
            if fh.read(2) == _GZIP_MAGIC:
                return _gzip_hits(path, needles)
        return _raw_hits(path, needles)
    except (OSError, ValueError):
        return 0


def _raw_hits(path: Path, needles: tuple[bytes, ...]) -> int:
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return sum(1 for n in needles if data.find(n) != -1)


def _gzip_hits(path: Path, needles: tuple[bytes, ...]) -> int:
    found: set[bytes] = set()
    overlap = max(len(n) for n in needles) - 1  # a needle split across two chunks
    tail = b""
    try:
        with gzip.open(path, "rb") as stream:
            while chunk := stream.read(1 << 20):
                window = tail + chunk
                found.update(n for n in needles if n in window)
                tail = window[-overlap:] if overlap else b""
    except (EOFError, zlib.error, gzip.BadGzipFile):  # not whole gzip after all: its raw bytes then
        return _raw_hits(path, needles)
    return len(found)


def _files(root: Path, s: Subject) -> dict[str, int]:
    needles = tuple(n.encode() for n in s.needles)
    out: dict[str, int] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.name.endswith(_SQL_ONLY) or path.name == "secret.key":
            continue
        hits = file_hits(path, needles)
        if hits:
            out[f"file {path.relative_to(root)}"] = hits
    out["data dir files"] = sum(out.values())
    return out


def _warehouse(runtime: Runtime, s: Subject) -> dict[str, int]:
    from hexlake.warehouse import get_warehouse

    wh = get_warehouse(runtime)
    out = {f"warehouse {name}": n for name, n in pw.count_rows(wh, s.user_key, base_only=False).items()}
    out["warehouse tables"] = sum(out.values())
    ids = extracted_ids(wh, s.user_id)
    out.update({f"warehouse {name} (plain id)": n for name, n in ids.items()})
    out["extracted ids"] = sum(ids.values())
    for target, n in pw.erase_sync_targets(wh, s.user_key, delete=False).items():
        out[f"sync {target}"] = n
    return out


def extracted_ids(wh: Any, user_id: str) -> dict[str, int]:
    """Rows holding the person's **plain** id in an extracted table, whatever its type: a landed users
    table's ``id`` (``raw_<source>_<...>users``) and any ``user_id`` column (foreign keys, and the
    generated staging's ``user_id``). Extraction keeps these ids as the source has them (beside their
    ``user_key``), so this finds the person's extracted rows without their key."""
    rows = wh.cursor().execute(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        "WHERE column_name = 'user_id' OR (column_name = 'id' AND table_name LIKE 'raw\\_%users' ESCAPE '\\') "
        "ORDER BY 1, 2").fetchall()
    text = "TEXT" if wh.dialect == "postgres" else "VARCHAR"
    out: dict[str, int] = {}
    for schema, table, column in rows:
        if schema in ("information_schema", "pg_catalog") or schema.startswith("pg_"):
            continue
        row = wh.cursor().execute(
            f'SELECT COUNT(*) FROM "{schema}"."{table}" WHERE CAST("{column}" AS {text}) = ?', [user_id]).fetchone()
        if row and row[0]:
            out[f"{schema}.{table}"] = int(row[0])
    return out


def _log(runtime: Runtime, s: Subject) -> int:
    from hexlake.log import get_log
    from hexlake.log.protocol import as_key_eraser

    eraser: Any = as_key_eraser(get_log(runtime))
    # A backend that cannot search for a person cannot be proven clean: count it as a finding.
    return int(eraser.count_key(s.user_key)) if eraser is not None else 1


__all__ = ["extracted_ids", "file_hits", "proof_scan"]
