"""Per-source event-time bounds: a broken client clock cannot push an event into year 9999 or 1900.

An event whose (skew-corrected) time is more than ``max_future`` after it arrived, or more than
``max_past`` before, is quarantined with a reason naming the bound. Historical sources (imports,
backfills, Takeout) accept any past; ``max_future`` applies to every source.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hexlake.gate.config import GateConfig
from hexlake.gate.envelope import FailureMessage, SourceInfo


@dataclass(frozen=True)
class TimeBounds:
    """How far from its arrival an event's time may lie; ``max_past`` None = any past."""

    max_future: timedelta
    max_past: timedelta | None

    def check(self, ts: datetime, received_at: datetime) -> FailureMessage | None:
        """The failure for ``ts`` outside the bounds around ``received_at``, else None."""
        if ts - received_at > self.max_future:
            return _fail(ts, self.max_future, "future", "max_future")
        if self.max_past is not None and received_at - ts > self.max_past:
            return _fail(ts, self.max_past, "past", "max_past")
        return None


def bounds_for(config: GateConfig, source: SourceInfo) -> TimeBounds:
    """The bounds of ``source``: its overrides, else the gate's defaults; historical = any past."""
    future = config.source_max_future_s.get(source.name, config.max_future_s)
    historical = source.historical or source.name in config.historical_sources
    past = None if historical else config.source_max_past_days.get(source.name, config.max_past_days)
    return TimeBounds(timedelta(seconds=future), None if past is None else timedelta(days=past))


def _fail(ts: datetime, bound: timedelta, side: str, name: str) -> FailureMessage:
    return FailureMessage(path="/timestamp", keyword=name,
                          message=f"timestamp: {_show(ts)} is more than {_human(bound)} in the {side} ({name})")


def _show(ts: datetime) -> str:
    if (ts.hour, ts.minute, ts.second, ts.microsecond) == (0, 0, 0, 0):
        return ts.date().isoformat()
    return ts.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def _human(span: timedelta) -> str:
    seconds = span.total_seconds()
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds:g} seconds"


__all__ = ["TimeBounds", "bounds_for"]
