"""In-memory EventLog: the reference model of the contract, for unit tests of other stages.

Nothing survives the process. Per-message state is kept in plain dicts (no spans): simple enough to
read as a specification of ``hexlake.log.protocol``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from hexlake.errors import LogError
from hexlake.log.config import LogConfig
from hexlake.log.protocol import AppendItem, DeadLetter, GroupStatus, LogMessage
from hexlake.log.spans import SCAN_FACTOR, backoff_s


@dataclass
class _Pending:
    consumer: str | None
    attempts: int
    visible_at: float
    error: str | None = None


@dataclass
class _Group:
    cursor: int
    pending: dict[int, _Pending] = field(default_factory=dict)
    dead: dict[int, DeadLetter] = field(default_factory=dict)


class MemoryEventLog:
    """EventLog in process memory, thread-safe through one lock."""

    SUPPORTS_GROUP_COMMIT = False
    SUPPORTS_TRIM: ClassVar[bool] = False
    SUPPORTS_DROP_PARTITIONS: ClassVar[bool] = False

    def __init__(self, config: LogConfig | None = None, *, clock: Callable[[], float] = time.time):
        self.config = config or LogConfig.model_validate({})
        self._clock = clock
        self._lock = threading.Lock()
        self._messages: list[AppendItem] = []  # offset = index + 1
        self._groups: dict[str, _Group] = {}
        self._closed = False
        self.commit_count = 0

    def append(self, items: Sequence[AppendItem]) -> list[int]:
        if not items:
            return []
        with self._lock:
            if self._closed:
                raise LogError("the event log is closed; events were not stored")
            start = len(self._messages)
            self._messages.extend(items)
            self.commit_count += 1
            return list(range(start + 1, start + 1 + len(items)))

    def create_group(self, group: str, *, from_start: bool = True) -> None:
        with self._lock:
            self._group(group, from_start=from_start)

    def _group(self, name: str, *, from_start: bool = True) -> _Group:
        if name not in self._groups:
            self._groups[name] = _Group(cursor=0 if from_start else len(self._messages))
        return self._groups[name]

    def read(self, group: str, consumer: str, max: int, *,
             visibility_timeout_s: float | None = None) -> list[LogMessage]:
        vt = self.config.visibility_timeout_s if visibility_timeout_s is None else visibility_timeout_s
        now = self._clock()
        with self._lock:
            g = self._group(group)
            self._bury_expired(g, now)
            blocked: dict[str, int] = {}
            for off, p in g.pending.items():
                if p.visible_at > now:
                    key = self._messages[off - 1].key
                    blocked[key] = min(blocked.get(key, off), off)
            out: list[LogMessage] = []
            for off in sorted(g.pending):
                if len(out) >= max:
                    break
                p, key = g.pending[off], self._messages[off - 1].key
                if p.visible_at > now or blocked.get(key, off) < off:
                    continue
                out.append(self._lease(g, off, p.attempts + 1, consumer, now + vt))
            scanned = 0
            while len(out) < max and g.cursor < len(self._messages) and scanned < SCAN_FACTOR * max:
                g.cursor += 1
                scanned += 1
                key = self._messages[g.cursor - 1].key
                if key in blocked:
                    g.pending[g.cursor] = _Pending(None, 0, 0.0)
                else:
                    out.append(self._lease(g, g.cursor, 1, consumer, now + vt))
            return out

    def _lease(self, g: _Group, off: int, attempts: int, consumer: str, until: float) -> LogMessage:
        g.pending[off] = _Pending(consumer, attempts, until)
        m = self._messages[off - 1]
        return LogMessage(off, m.key, m.event_id, m.payload, attempts)

    def _bury_expired(self, g: _Group, now: float) -> None:
        for off, p in list(g.pending.items()):
            if p.consumer is not None and p.visible_at <= now and p.attempts >= self.config.max_attempts:
                self._bury(g, off, p, _expired(p.attempts))

    def _bury(self, g: _Group, off: int, p: _Pending, error: str) -> None:
        del g.pending[off]
        m = self._messages[off - 1]
        g.dead[off] = DeadLetter(off, m.key, m.event_id, m.payload, p.attempts, error)

    def ack(self, group: str, offsets: Sequence[int]) -> None:
        with self._lock:
            g = self._groups.get(group)
            if g is None:
                return
            for off in offsets:
                p = g.pending.get(off)
                if p and p.attempts > 0:
                    del g.pending[off]

    def nack(self, group: str, offsets: Sequence[int], error: str, *, retry: bool = True) -> None:
        cfg = self.config
        limit = cfg.max_attempts if retry else 1
        now = self._clock()
        with self._lock:
            g = self._groups.get(group)
            if g is None:
                return
            for off in set(offsets):
                p = g.pending.get(off)
                if p is None or p.attempts == 0:
                    continue
                if p.attempts >= limit:
                    self._bury(g, off, p, error)
                else:
                    wait = backoff_s(p.attempts, cfg.backoff_base_s, cfg.backoff_max_s)
                    g.pending[off] = _Pending(None, p.attempts, now + wait, error)

    def status(self) -> list[GroupStatus]:
        now = self._clock()
        with self._lock:
            head = len(self._messages)
            return [
                GroupStatus(
                    group=name,
                    lag=head - g.cursor + len(g.pending),
                    in_flight=sum(1 for p in g.pending.values() if p.consumer and p.visible_at > now),
                    dead_letters=len(g.dead),
                    last_acked_offset=(min(g.pending) - 1 if g.pending else g.cursor) or None,
                )
                for name, g in sorted(self._groups.items())
            ]

    def dead_letters(self, group: str, limit: int = 100) -> list[DeadLetter]:
        with self._lock:
            g = self._groups.get(group)
            return [g.dead[o] for o in sorted(g.dead)][:limit] if g else []

    def head_offset(self) -> int:
        return len(self._messages)

    def tail(self, n: int) -> list[str]:
        with self._lock:
            return [m.event_id for m in self._messages[-n:]] if n > 0 else []

    def close(self) -> None:
        self._closed = True


def _expired(attempts: int) -> str:
    return f"not acked within its visibility timeout after {attempts} deliveries"


__all__ = ["MemoryEventLog"]
