"""The one path every event takes into hexlake: gate → quarantine → durable log append.

HTTP endpoints (native, Segment, PostHog), ``hexlake send``, importers and derived events all call
``ingest``; it returns only after accepted events are durably in the log. If the append fails the
events' ids are released from the dedupe window (so a retry is not mistaken for a duplicate) and a
``ServiceUnavailable`` (503, transient) is raised: the client retries, nothing is half-stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from hexlake.errors import HexlakeError, ServiceUnavailable
from hexlake.gate.envelope import FailureMessage, ItemError, SourceInfo, encode_event
from hexlake.gate.resources import runtime_quarantine
from hexlake.log.protocol import AppendItem
from hexlake.metrics import EVENTS
from hexlake.runtime import Runtime


class IngestResult(msgspec.Struct, kw_only=True):
    """The counts answered to the client: ``{accepted, duplicates, quarantined, errors}``."""

    accepted: int
    duplicates: int
    quarantined: int
    errors: list[ItemError]
    event_ids: list[str | None] = msgspec.field(default_factory=list)

    def to_response(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "errors": msgspec.to_builtins(self.errors),
        }


def parse_sent_at(value: Any) -> datetime | None:
    """A batch-level ``sent_at``: ISO-8601 (naive = UTC) or epoch milliseconds; else None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return value if isinstance(value, datetime) else None


def ingest(
    runtime: Runtime,
    items: Sequence[Any],
    *,
    source: SourceInfo,
    received_at: datetime | None = None,
    sent_at: Any = None,
    oversize: Mapping[int, int] | None = None,
    store_quarantine: bool = True,
) -> IngestResult:
    """Run decoded events (native input shape, see docs/events.md) through the gate and append them.

    ``items`` are decoded JSON values; anything not an object is an error for its index.
    ``oversize`` maps request indexes to byte sizes over the per-event limit (refused, not stored).
    ``event_ids[i]`` is the id given to item ``i`` (None if it had none and was refused).
    ``store_quarantine=False`` (replay) reports failures without storing new quarantine rows.
    """
    from hexlake.log import get_log

    received_at = received_at or datetime.now(UTC)
    limit = runtime.settings.collect.max_event_bytes
    too_big = [
        ItemError(index=i, event_id=_item_id(items[i]), messages=[FailureMessage(
            path="", keyword="maxSize", message=f"event is {size} bytes; the limit is {limit}")])
        for i, size in sorted((oversize or {}).items())
    ]
    keep = [i for i in range(len(items)) if i not in (oversize or {})]
    gate = runtime_gate(runtime)
    result = gate.process(
        [items[i] for i in keep], source=source, received_at=received_at, sent_at=parse_sent_at(sent_at)
    )
    if result.quarantined and store_quarantine:
        runtime_quarantine(runtime).put(result.quarantined)
    if result.accepted:
        try:
            get_log(runtime).append(
                [AppendItem(key=e.partition_key, event_id=e.event_id, payload=encode_event(e))
                 for e in result.accepted]
            )
        except Exception as exc:
            gate.release([e.event_id for e in result.accepted])
            message = exc.message if isinstance(exc, HexlakeError) else str(exc)
            raise ServiceUnavailable(f"events were not stored, retry later: {message}") from exc
    errors = [
        ItemError(index=keep[e.index], event_id=e.event_id, messages=e.messages) for e in result.errors
    ] + too_big
    errors.sort(key=lambda e: e.index)
    _count(source.name, len(result.accepted), len(result.duplicates), len(result.quarantined), len(errors))
    return IngestResult(
        accepted=len(result.accepted),
        duplicates=len(result.duplicates),
        quarantined=len(result.quarantined),
        errors=errors,
        event_ids=_ids_by_index(items, keep, result),
    )


def runtime_gate(runtime: Runtime) -> Any:
    """The process's Gate: registry, HMAC secret, dedupe window seeded from the log's tail."""
    return runtime.resource("gate", _build_gate)


def _build_gate(runtime: Runtime) -> Any:
    from hexlake.gate.dedupe import DedupeWindow
    from hexlake.gate.pipeline import Gate
    from hexlake.gate.resources import runtime_registry
    from hexlake.log import get_log
    from hexlake.privacy.hashing import Hasher
    from hexlake.privacy.secret import load_secret

    config = runtime.settings.gate
    dedupe = DedupeWindow(config.dedupe_window)
    dedupe.seed(get_log(runtime).tail(config.dedupe_window))
    from hexlake.privacy.suppression import get_suppression

    hasher = Hasher(load_secret(runtime.paths.secret))
    return Gate(runtime_registry(runtime), hasher, config, dedupe, enrichers=_enrichers(runtime),
                suppressed=get_suppression(runtime))


def _enrichers(runtime: Runtime) -> list[Any]:
    try:
        from hexlake.spatial.geocode import GeoEnricher
    except ImportError:
        return []
    return [GeoEnricher()]


def _item_id(item: Any) -> str | None:
    value = item.get("event_id") if isinstance(item, dict) else None
    return value if isinstance(value, str) else None


def _ids_by_index(items: Sequence[Any], keep: list[int], result: Any) -> list[str | None]:
    ids: list[str | None] = [_item_id(item) for item in items]
    for event, pos in zip(result.accepted, result.accepted_index, strict=False):
        ids[keep[pos]] = event.event_id
    return ids


def _count(source: str, accepted: int, duplicates: int, quarantined: int, errors: int) -> None:
    for outcome, n in (("accepted", accepted), ("duplicate", duplicates),
                       ("quarantined", quarantined), ("error", errors)):
        if n:
            EVENTS.labels(source, outcome).inc(n)


__all__ = ["IngestResult", "ingest", "parse_sent_at"]
