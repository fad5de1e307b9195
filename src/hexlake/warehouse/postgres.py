"""Moved to ``hexlake.warehouse.backends.postgres``; this alias keeps old imports working for now.

New code: ``hexlake.warehouse.open_warehouse`` / ``make_raw_loader`` (they pick the engine).
"""

from __future__ import annotations

from hexlake.warehouse import make_raw_loader
from hexlake.warehouse.backends.postgres import PgCursor, PostgresRawLoader, PostgresWarehouse, pg_type

__all__ = ["PgCursor", "PostgresRawLoader", "PostgresWarehouse", "make_raw_loader", "pg_type"]
