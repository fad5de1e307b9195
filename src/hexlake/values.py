"""Database values → JSON-able ones, the one converter every stage and the API use.

Dates and times become ISO strings, decimals floats, UUIDs and intervals strings, bytes hex.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any


def jsonable(value: Any) -> Any:
    """``value`` with every nested date, decimal, UUID, interval and bytes made JSON-able."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, uuid.UUID | dt.timedelta):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


__all__ = ["jsonable"]
