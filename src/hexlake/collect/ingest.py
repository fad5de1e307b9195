"""The one path every event takes into hexlake: gate → quarantine → durable log append.

HTTP endpoints (native, Segment, PostHog), ``hexlake send``, importers and derived events all call
``ingest``; it returns only after accepted events are durably in the log.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec

from hexlake.gate.envelope import ItemError, SourceInfo
from hexlake.runtime import Runtime


class IngestResult(msgspec.Struct, kw_only=True):
    """The counts answered to the client: ``{accepted, duplicates, quarantined, errors}``."""

    accepted: int
    duplicates: int
    quarantined: int
    errors: list[ItemError]
    event_ids: list[str | None] = msgspec.field(default_factory=list)


def ingest(
    runtime: Runtime,
    items: Sequence[Any],
    *,
    source: SourceInfo,
    received_at: datetime | None = None,
    sent_at: datetime | None = None,
) -> IngestResult:
    """Run decoded events (native input shape, see docs/events.md) through the gate and append them.

    ``items`` are already-decoded JSON values; anything not an object is an error for its index.
    ``event_ids[i]`` is the id given to item ``i`` (None if it had none and was refused).
    """
    raise NotImplementedError
