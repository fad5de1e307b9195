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
* ``nack(..., retry=False)`` moves a delivered message to the dead letters at once (a terminal
  error, see ``hexlake.errors.is_transient``).
* ``ack`` is idempotent; acking an unknown or already acked offset is a no-op.

The interface is split like sqlmesh's ``StateReader``/``StateSync``: ``LogReader`` inspects,
``EventLog`` (which includes it) is what producers and consumers hold. Optional abilities are
declared with ``SUPPORTS_*`` class flags and narrowed with ``as_trimmable``/``as_partition_dropper``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import ClassVar, Protocol, cast, runtime_checkable

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
class LogReader(Protocol):
    """The inspection side: lag, dead letters and the newest ids. Never changes the log.

    Status pages, the CLI and the gate's dedupe seeding need only this (like sqlmesh's
    ``StateReader``); consumers use the full ``EventLog``.
    """

    def status(self) -> list[GroupStatus]:
        """Lag and counts per consumer group."""
        ...

    def dead_letters(self, group: str, limit: int = 100) -> list[DeadLetter]:
        """Messages of ``group`` that exhausted their attempts or failed terminally."""
        ...

    def head_offset(self) -> int:
        """Offset of the newest appended message (0 when empty)."""
        ...

    def tail(self, n: int) -> list[str]:
        """Event ids of the newest ``n`` messages (seeds the gate's dedupe window on start)."""
        ...


@runtime_checkable
class EventLog(LogReader, Protocol):
    """Durable, ordered, at-least-once log with consumer groups: the consuming core plus
    ``LogReader``. Optional abilities are declared by the ``SUPPORTS_*`` flags (see
    ``Trimmable`` and ``PartitionDropper``), never probed with ``hasattr``."""

    SUPPORTS_TRIM: ClassVar[bool]
    SUPPORTS_DROP_PARTITIONS: ClassVar[bool]

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

    def nack(self, group: str, offsets: Sequence[int], error: str, *, retry: bool = True) -> None:
        """Report failed processing: retry after backoff (dead-letter after ``max_attempts``), or
        with ``retry=False`` (a terminal error: retrying will not help) dead-letter at once."""
        ...

    def close(self) -> None:
        """Release connections and threads; the log is unusable afterwards."""
        ...


@runtime_checkable
class Trimmable(Protocol):
    """Capability (``SUPPORTS_TRIM``): drop entries every group finished (Redis streams)."""

    def trim(self, keep: int = 10_000) -> int:
        """Drop finished entries, keeping the newest ``keep``; return how many were dropped."""
        ...


@runtime_checkable
class PartitionDropper(Protocol):
    """Capability (``SUPPORTS_DROP_PARTITIONS``): drop whole finished days (PostgreSQL)."""

    def drop_partitions_before(self, day: date, *, force: bool = False) -> list[date]:
        """Drop finished day partitions older than ``day``; return the dropped days."""
        ...


@runtime_checkable
class KeyEraser(Protocol):
    """Capability (``SUPPORTS_ERASE_KEY``): remove one person's messages (GDPR erasure, issue 15).

    A message is the person's when its partition ``key`` is their ``user_key`` or its payload
    mentions it (a 64-hex HMAC: a substring match is exact). Dead letters are included.
    """

    def count_key(self, key: str) -> int:
        """Messages and dead letters that are the person's (the erasure report's "before")."""
        ...

    def erase_key(self, key: str) -> int:
        """Delete them durably; return how many were deleted."""
        ...


@runtime_checkable
class RetentionPurger(Protocol):
    """Capability (``SUPPORTS_PURGE_EXPIRED``): delete messages whose envelope's ``retention`` class
    ended (``privacy.retention``), among those every consumer group has finished."""

    def purge_expired(self, cutoffs: dict[str, str], *, dry_run: bool = False) -> int:
        """Delete (or count) messages with ``retention = class`` and ``ts`` before ``cutoffs[class]``
        (ISO-8601 UTC); return how many."""
        ...


def as_retention_purger(log: EventLog) -> RetentionPurger | None:
    """``log`` as a ``RetentionPurger`` if its backend declares ``SUPPORTS_PURGE_EXPIRED``."""
    return cast(RetentionPurger, log) if getattr(type(log), "SUPPORTS_PURGE_EXPIRED", False) else None


def tombstone() -> bytes:
    """The payload left where an erased message cannot be removed (it must keep its offset): a
    valid envelope of type ``hexlake.erased`` with no person in it, dated 1970 (before any model starts)."""
    return (b'{"event_id":"erased","event_type":"hexlake.erased","schema_version":0,'
            b'"source":"hexlake-privacy","ts":"1970-01-01T00:00:00Z","received_at":"1970-01-01T00:00:00Z"}')


def as_trimmable(log: EventLog) -> Trimmable | None:
    """``log`` as a ``Trimmable`` if its backend declares ``SUPPORTS_TRIM``, else None."""
    return cast(Trimmable, log) if log.SUPPORTS_TRIM else None


def as_key_eraser(log: EventLog) -> KeyEraser | None:
    """``log`` as a ``KeyEraser`` if its backend declares ``SUPPORTS_ERASE_KEY`` (optional flag:
    test fakes and third-party backends without it simply lack the capability)."""
    return cast(KeyEraser, log) if getattr(type(log), "SUPPORTS_ERASE_KEY", False) else None


def as_partition_dropper(log: EventLog) -> PartitionDropper | None:
    """``log`` as a ``PartitionDropper`` if its backend declares ``SUPPORTS_DROP_PARTITIONS``."""
    return cast(PartitionDropper, log) if log.SUPPORTS_DROP_PARTITIONS else None


__all__ = [
    "AppendItem",
    "DeadLetter",
    "EventLog",
    "GroupStatus",
    "KeyEraser",
    "LogMessage",
    "LogReader",
    "PartitionDropper",
    "RetentionPurger",
    "Trimmable",
    "as_key_eraser",
    "as_partition_dropper",
    "as_retention_purger",
    "as_trimmable",
    "tombstone",
]
