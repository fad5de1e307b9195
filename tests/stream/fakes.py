"""Test doubles and event builders for the stream tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import h3

from hexlake.gate.envelope import Event, encode_event
from hexlake.log.protocol import AppendItem, DeadLetter, GroupStatus, LogMessage


class FakeLog:
    """A minimal in-process EventLog: one lease per message, ack/nack, no timeouts.

    ``nack`` records the offset in ``nacked`` (retry) or ``dead`` (``retry=False``, dead-lettered)."""

    SUPPORTS_TRIM: ClassVar[bool] = False
    SUPPORTS_DROP_PARTITIONS: ClassVar[bool] = False

    def __init__(self) -> None:
        self.items: list[AppendItem] = []
        self.groups: dict[str, dict[str, set[int]]] = {}

    def append(self, items: Sequence[AppendItem]) -> list[int]:
        start = len(self.items)
        self.items.extend(items)
        return list(range(start + 1, len(self.items) + 1))

    def create_group(self, group: str, *, from_start: bool = True) -> None:
        self.groups.setdefault(group, {"acked": set(), "leased": set(), "nacked": set(), "dead": set()})

    def read(self, group: str, consumer: str, max: int, *, visibility_timeout_s: float | None = None
             ) -> list[LogMessage]:
        g = self.groups[group]
        out = []
        for off, item in enumerate(self.items, start=1):
            if off in g["acked"] or off in g["leased"]:
                continue
            g["leased"].add(off)
            out.append(LogMessage(off, item.key, item.event_id, item.payload, 1))
            if len(out) == max:
                break
        return out

    def ack(self, group: str, offsets: Sequence[int]) -> None:
        self.groups[group]["acked"].update(offsets)
        self.groups[group]["leased"].difference_update(offsets)

    def nack(self, group: str, offsets: Sequence[int], error: str, *, retry: bool = True) -> None:
        g = self.groups[group]
        leased = g["leased"].intersection(offsets)
        g["nacked" if retry else "dead"].update(leased)
        g["leased"].difference_update(leased)
        if not retry:  # a dead letter is never delivered again
            g["acked"].update(leased)

    def expire_leases(self, group: str) -> None:
        """What the visibility timeout does: leased, un-acked messages become deliverable again."""
        self.groups[group]["leased"].clear()

    def status(self) -> list[GroupStatus]:
        return [GroupStatus(g, len(self.items) - len(s["acked"]), len(s["leased"]), 0, None)
                for g, s in self.groups.items()]

    def dead_letters(self, group: str, limit: int = 100) -> list[DeadLetter]:
        return []

    def head_offset(self) -> int:
        return len(self.items)

    def tail(self, n: int) -> list[str]:
        return [i.event_id for i in self.items[-n:]]

    def close(self) -> None:
        pass


T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, a multiple of 600


def make_event(event_id: str, ts: float, *, user: str | None = "u1", event_type: str = "page",
               lat: float | None = None, lng: float | None = None, place: str | None = None,
               session: str | None = None, source: str = "app", **props: Any) -> Event:
    properties = dict(props)
    if place is not None:
        properties["place_id"] = place
    cells: dict[str, Any] = {"h3_r6": None, "h3_r9": None, "h3_r12": None}
    if lat is not None and lng is not None:
        cells = {f"h3_r{r}": h3.latlng_to_cell(lat, lng, r) for r in (6, 9, 12)}
    dt = datetime.fromtimestamp(ts, UTC)
    return Event(event_id=event_id, event_type=event_type, schema_version=1, source=source, ts=dt,
                 received_at=dt, user_key=user, session_id=session, properties=properties, lat=lat,
                 lng=lng, **cells)


def append_events(log: Any, events: Sequence[Event]) -> None:
    log.append([AppendItem(e.partition_key, e.event_id, encode_event(e)) for e in events])
