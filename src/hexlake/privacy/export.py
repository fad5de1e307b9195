"""Export a person: a zip of everything hexlake holds about them, one file per layer, with a README.

Written to a file (``privacy export --out``, or a temporary file streamed by
``GET /v1/subjects/{user_id}/export``), entry by entry: each warehouse table is queried once and
its rows streamed in pages of ``PAGE`` rows as CSV straight into the zip (no count first), so
memory stays bounded whatever the person's history. Layers: every warehouse table and view with
their rows (raw events, offline features, staging, marts), the online features, quarantined
events (decrypted), imports.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from hexlake.privacy import stores
from hexlake.privacy import warehouse as pw
from hexlake.privacy.erase import subject_of
from hexlake.privacy.stores import Subject
from hexlake.runtime import Runtime

PAGE = 50_000
README = """# Your data held by hexlake

Exported {when} for the person whose user_key is {key}.
hexlake never stores your plain user id: every row is keyed by user_key, a keyed hash of it.

Files:
{files}
"""


def export_zip(runtime: Runtime, user_id: str, out: Path) -> dict[str, int]:
    """Write the person's zip to ``out``; rows per file."""
    s = subject_of(runtime, user_id)
    written: dict[str, int] = {}
    # level 1: the CSVs still shrink ~7x (level 6: ~9x, but compressing took half of the export time)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        _warehouse(runtime, s, zf, written)
        _json(zf, "online_features.json", _online(runtime, s), written)
        _json(zf, "quarantine.json", _quarantine(runtime, s), written)
        _json(zf, "imports.json", [dict(zip(("id", "upload_id", "source_path"), r, strict=True))
                                   for r in stores.imports_of(runtime.paths.imports_db, s.user_key)], written)
        files = "\n".join(f"- `{name}`: {n} rows" for name, n in sorted(written.items()))
        zf.writestr("README.md", README.format(when=datetime.now(UTC).isoformat(), key=s.user_key, files=files))
    return written


def _warehouse(runtime: Runtime, s: Subject, zf: zipfile.ZipFile, written: dict[str, int]) -> None:
    from hexlake.warehouse import get_warehouse

    wh = get_warehouse(runtime)
    for schema, table, users, texts in pw.user_tables(wh, base_only=False):
        if schema.startswith("sqlmesh__"):  # SQLMesh's physical copies of the views exported below
            continue
        where, n = pw.predicate(wh, users, texts)
        name = f"warehouse/{schema}.{table}.csv"
        rows = _csv_pages(wh, f'SELECT * FROM "{schema}"."{table}" WHERE {where}', [s.user_key] * n, zf, name)
        if rows:
            written[name] = rows


def _pages(wh: Any, sql: str, params: list[Any]) -> Iterator[pa.Table]:
    """The rows of ``sql`` in pages of at most ``PAGE``, from one execution of the query on DuckDB
    (a record-batch stream); PostgreSQL pages with LIMIT/OFFSET."""
    if wh.dialect != "postgres":
        reader = wh.cursor().execute(sql, params).fetch_record_batch(PAGE)
        for batch in reader:
            if batch.num_rows:
                yield pa.Table.from_batches([batch])
        return
    offset = 0
    while True:
        page = wh.query_arrow(f"{sql} LIMIT {PAGE} OFFSET {offset}", params)
        if page.num_rows == 0:
            return
        yield page
        offset += PAGE


def _csv_pages(wh: Any, sql: str, params: list[Any], zf: zipfile.ZipFile, name: str) -> int:
    """Write the rows of ``sql`` as CSV into the zip entry ``name``; nothing (no entry) without rows."""
    total, entry = 0, None
    try:
        for page in _pages(wh, sql, params):
            if entry is None:
                entry = zf.open(name, "w")
            buf = io.BytesIO()
            pacsv.write_csv(_flat(page), buf, pacsv.WriteOptions(include_header=total == 0))
            entry.write(buf.getvalue())
            total += page.num_rows
    finally:
        if entry is not None:
            entry.close()
    return total


def _flat(table: pa.Table) -> pa.Table:
    """Lists, structs and maps as JSON text (CSV has no nested types)."""
    for i, field in enumerate(table.schema):
        if pa.types.is_nested(field.type):
            text = pa.array([None if v is None else json.dumps(v, default=str) for v in table.column(i).to_pylist()],
                            pa.string())
            table = table.set_column(i, field.name, text)
    return table


def _json(zf: zipfile.ZipFile, name: str, data: Any, written: dict[str, int]) -> None:
    if data:
        zf.writestr(name, json.dumps(data, indent=2, default=str))
        written[name] = len(data) if isinstance(data, list) else 1


def _online(runtime: Runtime, s: Subject) -> Any:
    from hexlake.features import get_online_store
    from hexlake.features.protocol import user_entity

    return get_online_store(runtime).get(user_entity(s.user_key))


def _quarantine(runtime: Runtime, s: Subject) -> list[dict[str, Any]]:
    import msgspec

    from hexlake.gate.resources import runtime_quarantine

    return [msgspec.structs.asdict(r) for r in runtime_quarantine(runtime).for_user(s.user_key)]


__all__ = ["export_zip"]
