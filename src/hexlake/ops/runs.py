"""Run history of the transform scheduler: one row per model interval evaluated, or per failure.

Stored in the warehouse (``ops.transform_runs``) next to the marts it describes, so a backup of
the warehouse file carries its history. Columns: run_id, model, interval_start, interval_end,
started_at, finished_at, status (``success`` | ``warning``: a non-blocking audit failed |
``failed``), rows (rows in the model after the run), error, attempt, trigger (``schedule`` |
``cli`` | ``api`` | ``bench``).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # typing only: the warehouse stage imports ops (audit), not the other way round
    from hexlake.warehouse.protocol import Warehouse

DDL = """
CREATE SCHEMA IF NOT EXISTS ops;
CREATE TABLE IF NOT EXISTS ops.transform_runs (
    run_id VARCHAR NOT NULL,
    model VARCHAR,
    interval_start TIMESTAMP,
    interval_end TIMESTAMP,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    status VARCHAR NOT NULL,
    rows BIGINT,
    error VARCHAR,
    attempt INTEGER NOT NULL DEFAULT 1,
    trigger VARCHAR NOT NULL DEFAULT 'cli'
)
"""
COLUMNS = ["run_id", "model", "interval_start", "interval_end", "started_at", "finished_at",
           "status", "rows", "error", "attempt", "trigger"]


class RunHistory(Protocol):
    """Where run history rows go and come back from."""

    def record(self, rows: list[dict[str, Any]]) -> None:
        """Append rows (dicts with the ``COLUMNS`` keys)."""
        ...

    def list(self, *, limit: int = 100, model: str | None = None, status: str | None = None,
             ) -> list[dict[str, Any]]:
        """Newest first."""
        ...


class DuckRunHistory:
    """``RunHistory`` in the warehouse DuckDB file."""

    def __init__(self, wh: Warehouse, keep: int = 10_000):
        self._wh = wh
        self._keep = keep
        for stmt in DDL.split(";"):
            if stmt.strip():
                wh.execute(stmt)

    def record(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        cur = self._wh.cursor()
        cur.executemany(
            f"INSERT INTO ops.transform_runs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
            [[r.get(c) for c in COLUMNS] for r in rows],
        )
        cur.execute(
            "DELETE FROM ops.transform_runs WHERE started_at < (SELECT MIN(started_at) FROM ("
            "SELECT started_at FROM ops.transform_runs ORDER BY started_at DESC LIMIT ?) AS recent)",
            [self._keep],
        )

    def list(self, *, limit: int = 100, model: str | None = None, status: str | None = None,
             ) -> list[dict[str, Any]]:
        where, params = [], []
        if model:
            where.append("model = ?")
            params.append(model)
        if status:
            where.append("status = ?")
            params.append(status)
        sql = f"SELECT {', '.join(COLUMNS)} FROM ops.transform_runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started_at DESC, model LIMIT ?"
        cur = self._wh.cursor()
        res = cur.execute(sql, [*params, limit]).fetchall()
        return [{c: _plain(v) for c, v in zip(COLUMNS, row, strict=True)} for row in res]


def _plain(v: Any) -> Any:
    return v.isoformat() if isinstance(v, datetime) else v


__all__ = ["COLUMNS", "DuckRunHistory", "RunHistory"]
