"""One person's rows in every table of an Iceberg catalog, counted or deleted.

A row is the person's when any string column holds their key (``user_key`` equal to it, or a JSON
column mentioning it), as in the warehouse's own erasure. Deleting is ``table.delete`` with a filter
of the exact matching values, which rewrites only the affected data files (copy-on-write); the
older snapshots and the files only they held are then removed, so the old bytes are gone too.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from hexlake.lake.catalog import data_files, drop_unreferenced


def _tables(catalog: Any) -> list[Any]:
    return [catalog.load_table(ident) for ns in catalog.list_namespaces() for ident in catalog.list_tables(ns)]


def _string_columns(schema: pa.Schema) -> list[str]:
    return [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]


def _matches(rows: pa.Table, key: str) -> dict[str, set[str]]:
    """Per string column, the distinct values that mention ``key``."""
    out: dict[str, set[str]] = {}
    for name in _string_columns(rows.schema):
        col = rows.column(name)
        hits = pc.filter(col, pc.fill_null(pc.match_substring(col, key), False))
        if len(hits):
            out[name] = set(pc.unique(hits).to_pylist())
    return out


def _count(rows: pa.Table, key: str) -> int:
    mask = pa.array([False] * rows.num_rows)
    for name in _string_columns(rows.schema):
        mask = pc.or_(mask, pc.fill_null(pc.match_substring(rows.column(name), key), False))
    return int(pc.sum(mask).as_py() or 0)


def erase_table(tbl: Any, key: str, *, delete: bool) -> int:
    from pyiceberg.expressions import BooleanExpression, In, Or

    rows = tbl.scan().to_arrow()
    n = _count(rows, key)
    if not n or not delete:
        return n
    terms: list[BooleanExpression] = [In(col, values) for col, values in _matches(rows, key).items()]  # type: ignore[call-arg, misc]
    expr = terms[0]
    for term in terms[1:]:
        expr = Or(expr, term)
    before = set(data_files(tbl))
    tbl.delete(delete_filter=expr)
    drop_unreferenced(tbl, before)
    return n


def erase_catalog(catalog: Any, key: str, *, delete: bool) -> int:
    """Rows of ``key`` in every table of ``catalog`` (deleted with ``delete``)."""
    return sum(erase_table(tbl, key, delete=delete) for tbl in _tables(catalog))


def erase_target(url: str, key: str, *, delete: bool, wh: Any = None) -> int:
    """The same for an ``iceberg://`` lake (a sync target or the cold tier). When ``wh`` moved events
    to this lake, its ``raw_events_all`` view is rebuilt over the rewritten files."""
    from hexlake.lake import tiers
    from hexlake.lake.target import IcebergTarget

    target = IcebergTarget(url)
    try:
        n = erase_catalog(target.catalog, key, delete=delete)
        if delete and n and wh is not None and url in tiers.tier_lakes(wh):
            tiers.refresh_view(wh, target.catalog)
        return n
    finally:
        target.close()


__all__ = ["erase_catalog", "erase_table", "erase_target"]
