"""Errors of the Python SDK (``hexlake.client``)."""

from __future__ import annotations

from hexlake.errors import HexlakeError, Terminal, Transient


class DeliveryError(HexlakeError, Transient):
    """Events could not be delivered (server unreachable or failing) within the retry budget."""

    status = 503


class EventsRejected(HexlakeError, Terminal):
    """The server answered but refused some events (bad key, invalid event...); retrying won't help."""

    status = 400


__all__ = ["DeliveryError", "EventsRejected"]
