"""Group commit: one writer thread turns many concurrent ``append`` calls into one transaction.

Callers enqueue their batch and block on an event; the writer drains the queue, commits everything
it took in one transaction (one fsync) and wakes each caller with its offsets or the error. Batching
is natural: while one commit is fsyncing, the next callers queue up. Like PostgreSQL's
``commit_delay``/``commit_siblings``, the writer additionally waits up to ``window_s`` for more
callers, but only when the previous commit was shared (i.e. there is concurrency to gain from):
a lone sequential appender pays no extra latency.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from hexlake.errors import LogError

T = TypeVar("T")

#: Most rows one shared transaction takes, so a flood of callers cannot build a huge transaction.
MAX_ROWS_PER_COMMIT = 50_000


class _Request(Generic[T]):
    __slots__ = ("done", "error", "items", "offsets")

    def __init__(self, items: Sequence[T]):
        self.items = items
        self.done = threading.Event()
        self.offsets: list[int] = []
        self.error: BaseException | None = None


class GroupCommitter(Generic[T]):
    """Runs ``commit(list_of_batches) -> list_of_offset_lists`` on one thread, shared by callers."""

    def __init__(self, commit: Callable[[list[Sequence[T]]], list[list[int]]], *,
                 window_s: float, name: str = "hexlake-log-writer"):
        self._commit = commit
        self._window_s = window_s
        self._queue: list[_Request[T]] = []
        self._cond = threading.Condition()
        self._closed = False
        self._last_shared = False
        self.commits = 0
        self.calls = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, items: Sequence[T]) -> list[int]:
        """Block until ``items`` are committed; return their offsets (or raise the commit's error)."""
        request = _Request(items)
        with self._cond:
            if self._closed:
                raise LogError("the event log is closed; events were not stored")
            self._queue.append(request)
            self.calls += 1
            self._cond.notify_all()
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request.offsets

    def close(self) -> None:
        """Commit what is queued, then stop the writer thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()

    def _take(self) -> list[_Request[T]] | None:
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if not self._queue:
                return None
            if self._last_shared and self._window_s > 0:
                deadline = time.monotonic() + self._window_s
                while not self._closed and _rows(self._queue) < MAX_ROWS_PER_COMMIT:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
            taken: list[_Request[T]] = []
            rows = 0
            while self._queue and (not taken or rows + len(self._queue[0].items) <= MAX_ROWS_PER_COMMIT):
                request = self._queue.pop(0)
                rows += len(request.items)
                taken.append(request)
            return taken

    def _run(self) -> None:
        while (batch := self._take()) is not None:
            self._last_shared = len(batch) > 1
            try:
                results = self._commit([r.items for r in batch])
                self.commits += 1
                for request, offsets in zip(batch, results, strict=True):
                    request.offsets = offsets
            except BaseException as exc:  # every waiting caller must wake up with the error
                for request in batch:
                    request.error = exc
            for request in batch:
                request.done.set()


def _rows(queue: list[_Request[T]]) -> int:
    return sum(len(r.items) for r in queue)


__all__ = ["MAX_ROWS_PER_COMMIT", "GroupCommitter"]
