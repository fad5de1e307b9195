"""``iceberg://`` sync target: each table becomes an Iceberg table, partitioned by event day.

``iceberg:///abs/dir`` keeps the catalog in ``dir/catalog.sqlite`` and the data under ``dir``;
``iceberg:///abs/dir#postgresql://user@host/db`` keeps the catalog in PostgreSQL. A batch is
replaced in one Iceberg commit (``overwrite`` filtered on ``_hexlake_batch``), so re-sending it
never duplicates rows and readers see the old or the new batch, never half.
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
        raise LakeConfigError(f"bad Iceberg target {url!r}; use iceberg:///absolute/dir[#postgresql://…]",
                              field="target")
    if catalog and catalog.partition("://")[0] not in ("sqlite", "postgresql", "postgres"):
        raise LakeConfigError(f"bad Iceberg catalog {catalog!r} in the target; use sqlite:///file or "
                              "postgresql://…", field="target")
    root = Path(path)
    return root, catalog or f"sqlite:///{root / 'catalog.sqlite'}"


class IcebergTarget:
    def __init__(self, url: str):
        self.root, catalog_url = parse_url(url)
        self.name = re.sub(r"//[^@/#]*@", "//", url)  # without credentials
        self.catalog = open_catalog(catalog_url, self.root)

    def write(self, table: str, partition_column: str, key: str, rows: pa.Table) -> None:
        from pyiceberg.expressions import EqualTo

        rows = normalize(rows).append_column(BATCH_COLUMN, pa.array([key] * rows.num_rows, pa.string()))
        time_column = EVENT_TIME.get(table, partition_column)
        tbl = ensure_table(self.catalog, table, rows, time_column if time_column in rows.column_names else None)
        with warnings.catch_warnings():  # a first send replaces nothing; pyiceberg warns about that
            warnings.simplefilter("ignore", UserWarning)
            tbl.overwrite(rows, overwrite_filter=EqualTo(BATCH_COLUMN, key))  # type: ignore[call-arg, misc]

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


__all__ = ["BATCH_COLUMN", "IcebergTarget", "parse_url"]
