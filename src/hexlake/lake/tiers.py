"""Hot and cold tiers of ``raw_events``: old events move from the DuckDB file to the lake.

``move`` takes the events whose day (``ts``) is before the cut-off out of the hot table into the
Iceberg table ``cold.raw_events`` (zstd Parquet, partitioned by day), crash-safe and idempotent:

1. the move is recorded (``lake_tier_moves``, status ``pending``) before anything is written;
2. the rows are written with ``overwrite`` filtered on their move id (one Iceberg commit), so a
   re-run after a crash replaces what an interrupted attempt wrote instead of adding to it;
3. the moved ``event_id``s are deleted from DuckDB and the move marked ``done`` in one transaction.

A crash anywhere leaves every event in at least one tier, and the next ``move`` finishes the job.
The view ``raw_events_all`` (what the SQLMesh models read) is hot ``raw_events`` UNION ALL the cold
Parquet files of the current Iceberg snapshot; it is rebuilt after every change of the cold table
(a move, an erasure), so a restated cold day still sees its events.
"""

from __future__ import annotations

import time
import uuid
import warnings
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa

from hexlake.lake.catalog import data_files, ensure_table, normalize, open_catalog
from hexlake.lake.errors import LakeConfigError
from hexlake.runtime import Runtime
from hexlake.warehouse.schema import RAW_EVENTS_COLUMNS

COLD_TABLE = "cold.raw_events"
MOVE_COLUMN = "_hexlake_move"
MOVES_TABLE = "lake_tier_moves"
VIEW = "raw_events_all"
# ``lake`` is the lake's iceberg:// URL: privacy erasure finds the cold tier through it.
MOVES_DDL = (f"CREATE TABLE IF NOT EXISTS {MOVES_TABLE} (move_id VARCHAR PRIMARY KEY, cutoff DATE NOT NULL, "
             "status VARCHAR NOT NULL CHECK (status IN ('pending', 'done')), row_count BIGINT, "
             "created_at TIMESTAMP NOT NULL, done_at TIMESTAMP, lake VARCHAR)")


@dataclass
class MoveReport:
    cutoff: str
    moves: int = 0
    rows: int = 0
    cold_files: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def lake_catalog(runtime: Runtime) -> Any:
    """The data dir's lake catalog: ``lake.catalog_url`` or the SQLite file named in DataPaths."""
    url = runtime.settings.lake.catalog_url or f"sqlite:///{runtime.paths.lake_catalog_db}"
    catalog = open_catalog(url, runtime.paths.lake_dir)
    catalog.hexlake_url = f"iceberg://{runtime.paths.lake_dir.resolve()}#{url}"
    return catalog


def lake_url(catalog: Any) -> str:
    """The ``iceberg://dir#catalog`` URL of ``catalog`` (what ``lake.erase.erase_target`` opens)."""
    url = getattr(catalog, "hexlake_url", None)
    if url is None:
        warehouse = catalog.properties["warehouse"].removeprefix("file://")
        url = f"iceberg://{warehouse}#{catalog.properties['uri'].replace('+psycopg2', '')}"
    return str(url)


def tier_lakes(wh: Any) -> list[str]:
    """URLs of the lakes this warehouse moved events to (none if it never did)."""
    try:
        rows = wh.cursor().execute(f"SELECT DISTINCT lake FROM {MOVES_TABLE} WHERE lake IS NOT NULL").fetchall()
    except Exception:  # never moved: no table (or not DuckDB)
        return []
    return [str(r[0]) for r in rows]


def _check_duckdb(wh: Any) -> None:
    if getattr(wh, "dialect", "duckdb") != "duckdb":
        raise LakeConfigError("tiers move events out of the DuckDB warehouse; this warehouse is "
                              f"{wh.dialect}", field="warehouse_url")


def _cold(catalog: Any, like: pa.Table | None = None) -> Any:
    from pyiceberg.exceptions import NoSuchTableError

    try:
        return catalog.load_table(("cold", "raw_events"))
    except NoSuchTableError:
        return None if like is None else ensure_table(catalog, COLD_TABLE, like, "ts")


def cold_files(catalog: Any) -> list[str]:
    tbl = _cold(catalog)
    return [] if tbl is None else data_files(tbl)


def refresh_view(wh: Any, catalog: Any) -> int:
    """(Re)create ``raw_events_all`` over hot + the current cold files; returns the file count."""
    names = ", ".join(name for name, _ in RAW_EVENTS_COLUMNS)
    files = cold_files(catalog)
    sql = f"CREATE OR REPLACE VIEW {VIEW} AS SELECT {names} FROM raw_events"
    if files:
        typed = ", ".join(f"CAST({n} AS {t.replace(' NOT NULL', '')}) AS {n}" for n, t in RAW_EVENTS_COLUMNS)
        listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        sql += f" UNION ALL SELECT {typed} FROM read_parquet([{listed}])"
    wh.execute(sql)
    return len(files)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _move_one(wh: Any, catalog: Any, move_id: str, cutoff: date) -> int:
    from pyiceberg.expressions import EqualTo

    rows = wh.query_arrow("SELECT * FROM raw_events WHERE CAST(ts AS DATE) < ?", [cutoff])
    if rows.num_rows:
        rows = normalize(rows).append_column(MOVE_COLUMN, pa.array([move_id] * rows.num_rows, pa.string()))
        tbl = _cold(catalog, like=rows)
        with warnings.catch_warnings():  # the first attempt replaces nothing; pyiceberg warns about that
            warnings.simplefilter("ignore", UserWarning)
            tbl.overwrite(rows, overwrite_filter=EqualTo(MOVE_COLUMN, move_id))  # type: ignore[call-arg, misc]
    cur = wh.cursor()
    cur.register("hexlake_moved_ids", rows.select(["event_id"]))
    try:
        cur.execute("BEGIN")
        cur.execute("DELETE FROM raw_events WHERE CAST(ts AS DATE) < ? AND event_id IN "
                    "(SELECT event_id FROM hexlake_moved_ids)", [cutoff])
        cur.execute(f"UPDATE {MOVES_TABLE} SET status = 'done', row_count = ?, done_at = ? WHERE move_id = ?",
                    [rows.num_rows, _now(), move_id])
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    finally:
        cur.unregister("hexlake_moved_ids")
    return int(rows.num_rows)


def move(wh: Any, catalog: Any, cutoff: date) -> MoveReport:
    """Finish any interrupted move, then move the hot events of days before ``cutoff`` to the lake."""
    _check_duckdb(wh)
    started = time.perf_counter()
    wh.execute(MOVES_DDL)
    report = MoveReport(cutoff=cutoff.isoformat())
    pending = wh.cursor().execute(
        f"SELECT move_id, cutoff FROM {MOVES_TABLE} WHERE status = 'pending' ORDER BY created_at").fetchall()
    for move_id, day in pending:  # interrupted moves first, with their own cut-off
        report.rows += _move_one(wh, catalog, move_id, day)
        report.moves += 1
    if wh.cursor().execute("SELECT count(*) FROM raw_events WHERE CAST(ts AS DATE) < ?", [cutoff]).fetchone()[0]:
        move_id = uuid.uuid4().hex
        wh.execute(f"INSERT INTO {MOVES_TABLE} (move_id, cutoff, status, created_at, lake) "
                   "VALUES (?, ?, 'pending', ?, ?)", [move_id, cutoff, _now(), lake_url(catalog)])  # before any write
        report.rows += _move_one(wh, catalog, move_id, cutoff)
        report.moves += 1
    report.cold_files = refresh_view(wh, catalog)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def cutoff_for(hot_days: int, today: date | None = None) -> date:
    if hot_days < 1:
        raise LakeConfigError("set lake.hot_days (HEXLAKE_LAKE__HOT_DAYS) to at least 1 to move events, "
                              "or pass --older-than-days", field="hot_days")
    return (today or datetime.now(UTC).date()) - timedelta(days=hot_days)


def status(wh: Any, catalog: Any) -> dict[str, Any]:
    """Rows, days and files of each tier, and the moves so far."""
    _check_duckdb(wh)
    wh.execute(MOVES_DDL)
    hot = wh.cursor().execute("SELECT count(*), CAST(min(CAST(ts AS DATE)) AS VARCHAR), "
                              "CAST(max(CAST(ts AS DATE)) AS VARCHAR) FROM raw_events").fetchone()
    tbl = _cold(catalog)
    files = [] if tbl is None else data_files(tbl)
    cold_rows = 0 if tbl is None else sum(t.file.record_count for t in tbl.scan().plan_files())
    moves = wh.cursor().execute(f"SELECT status, count(*), sum(row_count) FROM {MOVES_TABLE} GROUP BY 1 "
                                "ORDER BY 1").fetchall()
    import os

    return {"hot": {"rows": hot[0], "first_day": hot[1], "last_day": hot[2]},
            "cold": {"rows": int(cold_rows), "files": len(files),
                     "bytes": sum(os.path.getsize(f) for f in files if os.path.exists(f))},
            "moves": [{"status": s, "moves": n, "rows": int(r or 0)} for s, n, r in moves]}


__all__ = ["COLD_TABLE", "MOVES_TABLE", "VIEW", "MoveReport", "cold_files", "cutoff_for",
           "lake_catalog", "lake_url", "move", "refresh_view", "status", "tier_lakes"]
