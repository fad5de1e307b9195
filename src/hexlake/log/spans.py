"""Offset-span bookkeeping for consumer groups (pure functions, no I/O).

A group's undone messages between its committed watermark and its read cursor are stored as
*spans*: contiguous offset ranges sharing one delivery state. Reading 20k fresh messages creates
one span and acking them deletes it, so the common path costs O(1) rows instead of one row per
message; retries, partial acks and per-user blocking split spans only where they happen.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

#: A read scans at most this many times ``max`` fresh messages looking for ones whose key is free.
SCAN_FACTOR = 4


class Span(NamedTuple):
    """Offsets ``lo..hi`` (inclusive) of one group in one state.

    ``consumer`` is set while leased (until ``visible_at``) and None while waiting (for a retry
    after backoff, or behind an earlier message of the same key). ``attempts`` counts deliveries;
    0 means never delivered.
    """

    lo: int
    hi: int
    consumer: str | None
    attempts: int
    visible_at: float
    error: str | None = None

    @property
    def size(self) -> int:
        return self.hi - self.lo + 1


def to_runs(offsets: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted, de-duplicated offsets collapsed into inclusive ``(lo, hi)`` runs."""
    ordered = sorted(set(offsets))
    runs: list[tuple[int, int]] = []
    for off in ordered:
        if runs and runs[-1][1] == off - 1:
            runs[-1] = (runs[-1][0], off)
        else:
            runs.append((off, off))
    return runs


def split(spans: list[Span], runs: list[tuple[int, int]]) -> tuple[list[Span], list[Span]]:
    """Cut ``spans`` (sorted, disjoint) by ``runs``: return (pieces outside runs, pieces inside)."""
    outside: list[Span] = []
    inside: list[Span] = []
    i = 0
    for span in spans:
        while i < len(runs) and runs[i][1] < span.lo:
            i += 1
        pos = span.lo
        j = i
        while j < len(runs) and runs[j][0] <= span.hi:
            lo, hi = max(runs[j][0], span.lo), min(runs[j][1], span.hi)
            if lo > pos:
                outside.append(span._replace(lo=pos, hi=lo - 1))
            inside.append(span._replace(lo=lo, hi=hi))
            pos = hi + 1
            j += 1
        if pos <= span.hi:
            outside.append(span._replace(lo=pos, hi=span.hi))
    return outside, inside


def runs_of(states: list[tuple[int, bool]]) -> list[tuple[int, int, bool]]:
    """Consecutive ``(offset, flag)`` pairs (ascending offsets) merged into ``(lo, hi, flag)``."""
    out: list[tuple[int, int, bool]] = []
    for off, flag in states:
        if out and out[-1][2] == flag and out[-1][1] == off - 1:
            out[-1] = (out[-1][0], off, flag)
        else:
            out.append((off, off, flag))
    return out


def backoff_s(attempts: int, base_s: float, max_s: float) -> float:
    """Retry delay after the ``attempts``-th failed delivery: base * 2**(attempts-1), capped."""
    return float(min(base_s * 2 ** max(attempts - 1, 0), max_s))


__all__ = ["SCAN_FACTOR", "Span", "backoff_s", "runs_of", "split", "to_runs"]
