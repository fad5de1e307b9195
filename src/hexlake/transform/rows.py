"""Turning DuckDB values into JSON-able ones (dates as ISO strings, decimals as floats)."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any


def jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


__all__ = ["jsonable"]
