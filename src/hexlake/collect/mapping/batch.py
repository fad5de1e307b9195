"""Map a list of foreign messages, keeping per-message errors instead of failing the batch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from hexlake.errors import BadRequest
from hexlake.gate.envelope import FailureMessage, ItemError


class MappedBatch(msgspec.Struct, kw_only=True):
    """``items`` to ingest; ``origin[i]`` is the request index item ``i`` came from; ``errors``
    are the request messages that could not be mapped (index = request index)."""

    items: list[dict[str, Any]]
    origin: list[int]
    errors: list[ItemError]

    def remap(self, errors: Sequence[ItemError]) -> list[ItemError]:
        """Translate ingest errors (indexed by item) to request indexes, after the mapping errors."""
        moved = [ItemError(index=self.origin[e.index], event_id=e.event_id, messages=e.messages)
                 for e in errors if 0 <= e.index < len(self.origin)]
        return sorted([*self.errors, *moved], key=lambda e: e.index)


def first_error(errors: Sequence[ItemError]) -> BadRequest | None:
    """The first item error as a ``BadRequest`` (single-event endpoints answer 400 with it)."""
    if not errors or not errors[0].messages:
        return None
    first = errors[0].messages[0]
    where = (first.path or "body").split(".")[0].split("/")[0]
    text = first.message if first.message.startswith(where) else f"{first.path or 'body'}: {first.message}"
    return BadRequest(text, field=first.path or None)


def _event_id(message: Any) -> str | None:
    if isinstance(message, dict):
        value = message.get("messageId", message.get("uuid"))
        return value if isinstance(value, str) else None
    return None


def map_items(messages: Sequence[Any], mapper: Callable[[Any, int], list[dict[str, Any]]]) -> MappedBatch:
    """Apply ``mapper(message, index)`` (which returns 1+ native items or raises ``BadRequest``)."""
    out = MappedBatch(items=[], origin=[], errors=[])
    for index, message in enumerate(messages):
        try:
            natives = mapper(message, index)
        except BadRequest as exc:
            failure = FailureMessage(path=exc.field or "", keyword="mapping", message=exc.message)
            out.errors.append(ItemError(index=index, event_id=_event_id(message), messages=[failure]))
            continue
        out.items.extend(natives)
        out.origin.extend([index] * len(natives))
    return out


__all__ = ["MappedBatch", "first_error", "map_items"]
