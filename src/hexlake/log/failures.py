"""What a consumer does with a leased batch whose processing raised: one rule for every consumer.

* ``Transient`` (``hexlake.errors.is_transient``): the whole batch is nacked, so the log redelivers
  it after its backoff and dead-letters a message only after ``max_attempts`` deliveries. The
  error is re-raised so the calling service backs off and reports itself unhealthy.
* ``Terminal``: retrying the batch would fail the same way, but one bad message must not take its
  batchmates down. A single message is dead-lettered at once (``nack(retry=False)``); a larger
  batch is re-run one message at a time, and only the messages that fail terminally are
  dead-lettered. If one now fails transiently, it and the rest are nacked (never processed out of
  order past it) and that error is re-raised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from hexlake.errors import is_transient
from hexlake.log.protocol import EventLog, LogMessage

log = logging.getLogger("hexlake.log")


def describe(exc: BaseException) -> str:
    """The error text stored with a nacked or dead-lettered message."""
    return f"{type(exc).__name__}: {exc}"


def settle_failed_batch(elog: EventLog, group: str, messages: Sequence[LogMessage], exc: BaseException,
                        process_one: Callable[[LogMessage], None]) -> int:
    """Handle ``exc`` raised while processing ``messages`` (leased, not acked) of ``group``.

    ``process_one(m)`` processes and acks one message, leaving no partial state behind when it
    raises. Re-raises ``exc`` if it is transient; otherwise returns how many were dead-lettered.
    """
    offsets = [m.offset for m in messages]
    if is_transient(exc):
        elog.nack(group, offsets, describe(exc))
        raise exc
    if len(messages) == 1:
        return _bury(elog, group, messages[0], exc)
    log.warning("group %s: a batch of %d failed terminally (%s); isolating the bad messages",
                group, len(messages), describe(exc))
    buried = 0
    for i, message in enumerate(messages):
        try:
            process_one(message)
        except Exception as one_exc:  # each outcome is settled below
            if is_transient(one_exc):
                elog.nack(group, [m.offset for m in messages[i:]], describe(one_exc))
                raise
            buried += _bury(elog, group, message, one_exc)
    return buried


def _bury(elog: EventLog, group: str, message: LogMessage, exc: BaseException) -> int:
    log.warning("group %s: offset %d (event %s) dead-lettered: %s", group, message.offset,
                message.event_id, describe(exc))
    elog.nack(group, [message.offset], describe(exc), retry=False)
    return 1


__all__ = ["describe", "settle_failed_batch"]
