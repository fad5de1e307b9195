"""The models Spark built (``HEXLAKE_WAREHOUSE_URL=spark://…``), read through DuckDB without a JVM.

On Spark every model is a Parquet table of the data dir's ``spark-warehouse``
(``sqlmesh__marts.db/marts__daily_engagement__<fingerprint>/*.parquet``) behind a view
(``marts.daily_engagement``) that lives only in the Spark session's in-memory catalog. So the Spark
engine adapter also records each view it creates in ``spark-warehouse/_hexlake_views.json``: the
physical table and its columns (``record_view``).

``SparkModels`` serves ``hexlake query``, ``POST /v1/query`` and the marts/metrics API from those
files: an in-memory DuckDB database with one view per model over its table's files, hardened like
the warehouse (external access off but for the ``spark-warehouse`` folder, no extensions,
configuration locked). User SQL still goes through the sandbox's allowlist, which has no
file-reading function, so it reads the views and nothing else. The views follow what Spark writes:
the file list is read at every query, and the views are rebuilt when the record changes (a plan
promoted new tables) or a table got its first files.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

VIEWS_FILE = "_hexlake_views.json"
REFRESH_S = 1.0  # how often a cursor checks whether Spark changed the views or the tables' files
_LOCK = threading.Lock()


def table_dir(warehouse: Path, table: str) -> Path:
    """Where Spark keeps ``db.table``: ``<warehouse>/<db>.db/<table>``."""
    db, _, name = table.partition(".")
    return warehouse / f"{db}.db" / name


def has_files(path: Path) -> bool:
    return path.is_dir() and any(path.glob("*.parquet"))


def record_view(warehouse: Path, view: str, table: str | None, columns: list[tuple[str, str]] | None = None) -> None:
    """Note that Spark's view ``view`` reads ``table`` (None: dropped, or not a plain table read);
    ``columns`` are (name, DuckDB type) for reading the table while it has no file."""
    with _LOCK:
        views = _read(warehouse)
        if table is None:
            views.pop(view, None)
        else:
            views[view] = {"table": table, "columns": [list(c) for c in columns or []]}
        warehouse.mkdir(parents=True, exist_ok=True)
        tmp = warehouse / f".{VIEWS_FILE}.{os.getpid()}"
        tmp.write_text(json.dumps(views, indent=1, sort_keys=True))
        os.replace(tmp, warehouse / VIEWS_FILE)


def _read(warehouse: Path) -> dict[str, Any]:
    try:
        data = json.loads((warehouse / VIEWS_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def model_views(warehouse: Path) -> dict[str, dict[str, Any]]:
    """``{"marts.x": {"table": "sqlmesh__marts.marts__x__<fp>", "columns": [...]}}``: the record, or for
    a warehouse built before there was one, each model's newest physical table (no columns)."""
    views = _read(warehouse)
    if views:
        return views
    newest: dict[str, tuple[float, str]] = {}
    for db_dir in warehouse.glob("sqlmesh__*.db"):
        for tdir in (p for p in db_dir.iterdir() if p.is_dir()):
            parts = tdir.name.rsplit("__", 1)
            if len(parts) != 2 or "__" not in parts[0]:
                continue
            view = ".".join(parts[0].split("__", 1))
            mtime = tdir.stat().st_mtime
            if view not in newest or mtime > newest[view][0]:
                newest[view] = (mtime, f"{db_dir.name.removesuffix('.db')}.{tdir.name}")
    return {view: {"table": table, "columns": []} for view, (_, table) in newest.items()}


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class SparkModels:
    """A read-only DuckDB view of the models Spark built (``cursor()`` like a DuckDB warehouse's)."""

    dialect = "duckdb"

    def __init__(self, warehouse: Path, memory_limit: str):
        import duckdb

        from hexlake.warehouse.sandbox import harden

        self.warehouse = warehouse.resolve()
        self.warehouse.mkdir(parents=True, exist_ok=True)
        self._db = duckdb.connect(":memory:")
        harden(self._db, memory_limit, readable_dirs=[self.warehouse])
        self._lock = threading.Lock()
        self._state: Any = None
        self._checked = float("-inf")
        self._schemas: set[str] = set()

    def cursor(self) -> Any:
        """A new connection to the views (each query gets its own: an interrupt hits only it)."""
        self.refresh()
        return self._db.cursor()

    def refresh(self, force: bool = False) -> None:
        with self._lock:
            if not force and time.monotonic() - self._checked < REFRESH_S:
                return
            views = model_views(self.warehouse)
            state = (
                json.dumps(views, sort_keys=True),
                tuple(has_files(table_dir(self.warehouse, v["table"])) for v in views.values()),
            )
            if state != self._state:
                self._rebuild(views)
                self._state = state
            self._checked = time.monotonic()

    def _rebuild(self, views: dict[str, dict[str, Any]]) -> None:
        cur = self._db.cursor()
        cur.execute("BEGIN")
        for schema in self._schemas:
            cur.execute(f"DROP SCHEMA IF EXISTS {_quoted(schema)} CASCADE")
        self._schemas = set()
        for view, spec in sorted(views.items()):
            schema, _, name = view.partition(".")
            body = self._body(spec)
            if schema.startswith("sqlmesh") or not name or body is None:
                continue
            if schema not in self._schemas:
                cur.execute(f"CREATE SCHEMA IF NOT EXISTS {_quoted(schema)}")
                self._schemas.add(schema)
            cur.execute(f"CREATE VIEW {_quoted(schema)}.{_quoted(name)} AS {body}")
        cur.execute("COMMIT")
        cur.close()

    def _body(self, spec: dict[str, Any]) -> str | None:
        path = table_dir(self.warehouse, str(spec["table"]))
        if has_files(path):
            return f"SELECT * FROM read_parquet({_literal(str(path / '*.parquet'))})"
        columns = spec.get("columns") or []
        if not columns:  # no file and no known columns: not readable yet
            return None
        # the table is empty (Spark wrote no file): the same columns, no rows
        return "SELECT " + ", ".join(f"CAST(NULL AS {t}) AS {_quoted(n)}" for n, t in columns) + " WHERE false"

    def close(self) -> None:
        self._db.close()


__all__ = ["VIEWS_FILE", "SparkModels", "has_files", "model_views", "record_view", "table_dir"]
