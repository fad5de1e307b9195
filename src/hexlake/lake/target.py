"""``iceberg://`` sync target: each table becomes an Iceberg table, partitioned by event day.

``iceberg:///abs/dir`` keeps the catalog in ``dir/catalog.sqlite`` and the data under ``dir``;
``iceberg:///abs/dir#postgresql://user@host/db`` keeps the catalog in PostgreSQL. A batch is
replaced in one Iceberg commit (``overwrite`` filtered on ``_hexlake_batch``), so re-sending it
never duplicates rows and readers see the old or the new batch, never half.

A batch the table cannot hold yet (no data file's bounds of ``_hexlake_batch`` span its key) is
appended instead: the overwrite's delete reads every manifest and adds a second commit, and a
first sync of N day batches paid that N times (10k events in 91 batches: 40 s, most of it there).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import pyarrow as pa

from hexlake.lake.catalog import ensure_table, identifier, normalize, open_catalog
from hexlake.lake.errors import LakeConfigError

BATCH_COLUMN = "_hexlake_batch"
EVENT_TIME = {"raw_events": "ts"}  # the event-time column, where it is not the sync partition column


def parse_url(url: str) -> tuple[Path, str]:
    """``(data dir, catalog URL)`` of an ``iceberg://`` URL."""
    rest = url.removeprefix("iceberg://")
    path, _, catalog = rest.partition("#")
    if not url.startswith("iceberg://") or not path.startswith("/"):
        raise LakeConfigError(
            f"bad Iceberg target {url!r}; use iceberg:///absolute/dir[#postgresql://…]", field="target"
        )
    if catalog and catalog.partition("://")[0] not in ("sqlite", "postgresql", "postgres"):
        raise LakeConfigError(
            f"bad Iceberg catalog {catalog!r} in the target; use sqlite:///file or postgresql://…", field="target"
        )
    root = Path(path)
    return root, catalog or f"sqlite:///{root / 'catalog.sqlite'}"


class IcebergTarget:
    def __init__(self, url: str):
        self.root, catalog_url = parse_url(url)
        self.name = re.sub(r"//[^@/#]*@", "//", url)  # without credentials
        self.catalog = open_catalog(catalog_url, self.root)
        # per table: (snapshot id they describe, [lower, upper] batch-key bounds of its data files)
        self._bounds: dict[str, tuple[int | None, list[tuple[str, str]]]] = {}

    def write(self, table: str, partition_column: str, key: str, rows: pa.Table) -> None:
        from pyiceberg.expressions import EqualTo

        rows = normalize(rows).append_column(BATCH_COLUMN, pa.array([key] * rows.num_rows, pa.string()))
        time_column = EVENT_TIME.get(table, partition_column)
        tbl = ensure_table(self.catalog, table, rows, time_column if time_column in rows.column_names else None)
        bounds = self._batch_bounds(table, tbl)
        if any(lo <= key <= hi for lo, hi in bounds):
            with warnings.catch_warnings():  # pyiceberg warns when the filter matches nothing
                warnings.simplefilter("ignore", UserWarning)
                tbl.overwrite(rows, overwrite_filter=EqualTo(BATCH_COLUMN, key))  # type: ignore[call-arg,misc]
        else:
            tbl.append(rows)
        bounds.append((key, key))
        self._bounds[table] = (_snapshot_id(tbl), bounds)

    def _batch_bounds(self, table: str, tbl: Any) -> list[tuple[str, str]]:
        """Where batch keys may be in ``tbl``, from its files' column bounds (read once per snapshot:
        the table changed by anyone else is read again). A file without bounds may hold any key."""
        snapshot = _snapshot_id(tbl)
        known = self._bounds.get(table)
        if known is not None and known[0] == snapshot:
            return known[1]
        bounds: list[tuple[str, str]] = []
        if snapshot is not None:
            field = tbl.schema().find_field(BATCH_COLUMN).field_id
            for task in tbl.scan().plan_files():
                lo, hi = task.file.lower_bounds.get(field), task.file.upper_bounds.get(field)
                # string bounds may be truncated (the lower a prefix, the upper rounded up): still bounds
                bounds.append(
                    (lo.decode("utf-8", "replace"), hi.decode("utf-8", "replace"))
                    if lo is not None and hi is not None
                    else ("", "\U0010ffff" * 8)
                )
        return bounds

    def table(self, table: str) -> Any:
        return self.catalog.load_table(identifier(table))

    def count(self, table: str) -> int:
        from pyiceberg.exceptions import NoSuchTableError

        try:
            return int(self.table(table).scan().to_arrow().num_rows)
        except NoSuchTableError:
            return 0

    def close(self) -> None:
        self.catalog.engine.dispose()


def _snapshot_id(tbl: Any) -> int | None:
    snapshot = tbl.current_snapshot()
    return None if snapshot is None else int(snapshot.snapshot_id)


__all__ = ["BATCH_COLUMN", "IcebergTarget", "parse_url"]
