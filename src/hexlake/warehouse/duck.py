"""Moved to ``hexlake.warehouse.backends.duckdb``; this alias keeps old imports working for now.

New code: ``from hexlake.warehouse import Warehouse, open_warehouse`` (the protocol and the opener).
"""

from __future__ import annotations

from hexlake.warehouse import open_warehouse
from hexlake.warehouse.backends.duckdb import DuckDBWarehouse as Warehouse
from hexlake.warehouse.protocol import Params

__all__ = ["Params", "Warehouse", "open_warehouse"]
