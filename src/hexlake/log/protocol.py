"""The EventLog contract every backend (SQLite, PostgreSQL, Redis Streams, in-memory) implements.

Semantics (pinned by ``tests/log/contract.py``, run against every backend):

* ``append`` is durable before it returns (group commit: concurrent appends share one fsync) and
  returns one monotonically increasing offset per message, in order.
* A consumer *group* sees every message appended after the group was created (or all, for
  ``from_start=True``). Within a group each message is delivered to one consumer at a time.
* ``read`` leases up to ``max`` messages for ``visibility_timeout_s``; a message not acked within
  its lease is delivered again (``attempts`` + 1).
* ``nack`` makes a message available again after exponential backoff
  ``min(backoff_base_s * 2**(attempts-1), backoff_max_s)``; after ``max_attempts`` deliveries it is
  moved to the group's dead-letter list instead.
* Per-user ordering: within a group, a message is never delivered while an earlier message with the
  same ``key`` is leased or waiting for retry.
* ``ack`` is idempotent; acking an unknown or already acked offset is a no-op.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import msgspec


class AppendItem(msgspec.Struct, frozen=True):
    """A message to append: ``key`` orders per user; ``payload`` is the encoded envelope."""

    key: str
    event_id: str
    payload: bytes


class LogMessage(msgspec.Struct, frozen=True):
    """A leased message. ``attempts`` counts deliveries including this one."""

    offset: int
    key: str
    event_id: str
    payload: bytes
    attempts: int


class DeadLetter(msgspec.Struct, frozen=True):
    offset: int
    key: str
    event_id: str
    payload: bytes
    attempts: int
    error: str


class GroupStatus(msgspec.Struct, frozen=True):
    """Per consumer group: ``lag`` = messages not yet acked (pending + in flight + not yet read)."""

    group: str
    lag: int
    in_flight: int
    dead_letters: int
    last_acked_offset: int | None


@runtime_checkable
class EventLog(Protocol):
    """Durable, ordered, at-least-once log with consumer groups."""

    def append(self, items: Sequence[AppendItem]) -> list[int]:
        """Append durably; return the offsets, one per item, in order."""
        ...

    def create_group(self, group: str, *, from_start: bool = True) -> None:
        """Create a consumer group if missing (idempotent)."""
        ...

    def read(
        self, group: str, consumer: str, max: int, *, visibility_timeout_s: float | None = None
    ) -> list[LogMessage]:
        """Lease up to ``max`` deliverable messages of ``group`` to ``consumer``, oldest first."""
        ...

    def ack(self, group: str, offsets: Sequence[int]) -> None:
        """Mark messages done for ``group``."""
        ...

    def nack(self, group: str, offsets: Sequence[int], error: str) -> None:
        """Report failed processing: retry after backoff or dead-letter."""
        ...

    def status(self) -> list[GroupStatus]:
        """Lag and counts per consumer group."""
        ...

    def dead_letters(self, group: str, limit: int = 100) -> list[DeadLetter]:
        """Messages that exhausted their attempts in ``group``."""
        ...

    def head_offset(self) -> int:
        """Offset of the newest appended message (0 when empty)."""
        ...

    def tail(self, n: int) -> list[str]:
        """Event ids of the newest ``n`` messages (seeds the gate's dedupe window on start)."""
        ...

    def close(self) -> None:
        ...


__all__ = ["AppendItem", "DeadLetter", "EventLog", "GroupStatus", "LogMessage"]
