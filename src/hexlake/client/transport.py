"""One batch → one ``POST /v1/events``, retried with exponential backoff and jitter.

Retryable: network errors, 408, 429 and 5xx (``Retry-After`` is honoured, capped at the backoff
maximum). A 413 splits the batch in halves. Any other 4xx is final. Every retry re-sends the very
same events (same ``event_id``s), so the server answers already stored ones as duplicates; only
``sent_at`` is refreshed per attempt so the server's skew correction stays right.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from hexlake.client.errors import DeliveryError, EventsRejected

log = logging.getLogger("hexlake.client")

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class Outcome:
    """What the server said about one delivered batch."""

    __slots__ = ("accepted", "duplicates", "errors", "quarantined")

    def __init__(self, body: dict[str, Any] | None = None):
        body = body or {}
        self.accepted = int(body.get("accepted", 0))
        self.duplicates = int(body.get("duplicates", 0))
        self.quarantined = int(body.get("quarantined", 0))
        self.errors: list[dict[str, Any]] = list(body.get("errors") or [])

    def add(self, other: Outcome) -> Outcome:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        self.errors += other.errors
        return self


class Backoff:
    """``base * 2**attempt`` capped at ``maximum``, "equal jitter": half fixed, half random."""

    def __init__(self, base: float, maximum: float):
        self.base, self.maximum = base, maximum

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.maximum)
        cap = min(self.maximum, self.base * (2 ** min(attempt, 30)))
        return cap / 2 + random.uniform(0, cap / 2)


class _Retry(Exception):
    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason, self.retry_after = reason, retry_after


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value else None
    except ValueError:
        return None


class Transport:
    """Sends native events to ``{host}/v1/events`` with the write key as a Bearer token."""

    def __init__(self, write_key: str, host: str, *, gzip: bool = True, timeout: float = 10.0,
                 backoff: Backoff | None = None):
        self._url = host.rstrip("/") + "/v1/events"
        self._gzip = gzip
        self._http = httpx.Client(timeout=timeout, headers={
            "Authorization": f"Bearer {write_key}", "Content-Type": "application/json",
            "User-Agent": "hexlake-python",
        })
        self.backoff = backoff or Backoff(0.25, 30.0)
        self.retries = 0

    def _encode(self, events: list[dict[str, Any]]) -> tuple[bytes, dict[str, str]]:
        sent_at = int(time.time() * 1000)
        body = orjson.dumps({"batch": events, "sent_at": sent_at}, default=str)
        if self._gzip and len(body) > 1024:
            packer = zlib.compressobj(1, zlib.DEFLATED, 31)  # 31: gzip container
            return packer.compress(body) + packer.flush(), {"Content-Encoding": "gzip"}
        return body, {}

    def _post_once(self, events: list[dict[str, Any]]) -> Outcome:
        body, headers = self._encode(events)
        try:
            response = self._http.post(self._url, content=body, headers=headers)
        except httpx.TransportError as exc:
            raise _Retry(f"network error: {exc!r}") from exc
        if response.status_code == 200:
            return Outcome(response.json())
        if response.status_code in RETRY_STATUS:
            raise _Retry(f"HTTP {response.status_code}: {response.text[:200]}", _retry_after(response))
        if response.status_code == 413 and len(events) > 1:
            half = len(events) // 2
            return self._post_once(events[:half]).add(self._post_once(events[half:]))
        raise EventsRejected(f"server refused {len(events)} events: HTTP {response.status_code} "
                             f"{response.text[:300]}")

    def send(
        self,
        events: list[dict[str, Any]],
        *,
        give_up: Callable[[int], bool],
        sleep: Callable[[float], None] | None = None,
    ) -> Outcome:
        """Deliver ``events``, retrying until success or ``give_up(attempt)`` (then ``DeliveryError``).

        ``EventsRejected`` is raised at once for final refusals.
        """
        attempt = 0
        while True:
            try:
                return self._post_once(events)
            except _Retry as exc:
                if give_up(attempt):
                    raise DeliveryError(f"{len(events)} events not delivered after {attempt + 1} "
                                        f"attempts: {exc.reason}") from exc
                delay = self.backoff.delay(attempt, exc.retry_after)
                log.debug("retrying in %.2fs: %s", delay, exc.reason)
                self.retries += 1
                attempt += 1
                (sleep or time.sleep)(delay)

    def close(self) -> None:
        self._http.close()


def interruptible_sleep(stop: threading.Event) -> Callable[[float], None]:
    def sleep(seconds: float) -> None:
        stop.wait(seconds)

    return sleep


__all__ = ["Backoff", "Outcome", "Transport"]
