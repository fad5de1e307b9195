"""The canonical event envelope: what leaves the gate, whatever the source.

This is the contract between the gate, the log, the stream consumers and the warehouse. Events are
msgspec Structs so that encoding to the log and decoding from it are fast and typed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class Event(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One event after the gate. Never holds a plain user identifier.

    ``ts`` is event time (UTC, skew corrected as ``received_at - (sent_at - timestamp)``);
    ``user_key`` is HMAC-SHA256(secret, user_id) in hex; lat/lng are coarsened when
    ``consent.precise_location`` is not true; ``h3_r*`` are H3 cells as hex strings.
    """

    event_id: str
    event_type: str
    schema_version: int
    source: str
    ts: datetime
    received_at: datetime
    user_key: str | None = None
    anonymous_key: str | None = None
    session_id: str | None = None
    properties: dict[str, Any] = msgspec.field(default_factory=dict)
    context: dict[str, Any] = msgspec.field(default_factory=dict)
    lat: float | None = None
    lng: float | None = None
    accuracy_m: float | None = None
    h3_r6: str | None = None
    h3_r9: str | None = None
    h3_r12: str | None = None
    consent: dict[str, bool] = msgspec.field(default_factory=dict)
    retention: str | None = None

    @property
    def partition_key(self) -> str:
        """Per-user ordering key: the user, else the anonymous id, else the event."""
        return self.user_key or self.anonymous_key or self.event_id


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Event)


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)


def decode_event(data: bytes) -> Event:
    return _decoder.decode(data)


class FailureMessage(msgspec.Struct):
    """One reason an event was refused: JSON pointer-ish ``path``, schema ``keyword``, text.

    Messages often quote the offending value (``timestamp '+1 415 555 0132' is not …``); emails,
    phone numbers, IPs and identifying query values in them are replaced by ``[redacted]``, so a
    refusal never echoes personal data to the caller or into a log (tests/privacy/test_server_log_pii.py).
    """

    path: str
    keyword: str
    message: str

    def __post_init__(self) -> None:
        from hexlake.privacy.detect import redact_text, suspect  # the gate's own value detectors

        if suspect(self.message):
            self.message = redact_text(self.message, lambda _kind, _value: "[redacted]")


class ItemError(msgspec.Struct):
    """Per-item error returned to the client: ``index`` in the request, its ``event_id`` if any."""

    index: int
    event_id: str | None
    messages: list[FailureMessage]


class QuarantineRecord(msgspec.Struct, kw_only=True):
    """The design's bad-row record: ``{processor, failure: {timestamp, messages}, payload}``."""

    processor: str
    source: str
    event_type: str | None
    event_id: str | None
    failed_at: datetime
    messages: list[FailureMessage]
    payload: Any

    def to_failure_json(self) -> dict[str, Any]:
        return {
            "processor": self.processor,
            "failure": {
                "timestamp": self.failed_at.isoformat(),
                "messages": [msgspec.structs.asdict(m) for m in self.messages],
            },
            "payload": self.payload,
        }


class GateResult(msgspec.Struct, kw_only=True):
    """Outcome of one batch through the gate, before it is appended to the log.

    ``accepted`` are ready to append; ``duplicates`` are request indexes answered as duplicates;
    ``quarantined`` are to be stored in quarantine; ``errors`` go back to the client.
    """

    accepted: list[Event]
    duplicates: list[int]
    quarantined: list[QuarantineRecord]
    errors: list[ItemError]
    # Request index of each accepted event (same order as ``accepted``), when the gate reports it.
    accepted_index: list[int] = msgspec.field(default_factory=list)


__all__ = [
    "Event",
    "FailureMessage",
    "GateResult",
    "ItemError",
    "QuarantineRecord",
    "SourceInfo",
    "decode_event",
    "encode_event",
]


class SourceInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What the gate needs to know about the sending source (write key's source).

    ``unknown_events``: policy for event types with no registered schema:
    ``accept`` (stored schemaless), ``quarantine`` or ``reject`` (error to the client, not stored).
    """

    name: str
    unknown_events: str = "accept"
    geoip: bool = False
    # hexlake's own producers (stream consumers) re-emit events about already-hashed users: they may
    # pass ``user_key`` through. Never set for a source behind a write key.
    internal: bool = False
    # Imports and backfills: events of any age are accepted (gate.timebounds); live sources have a max_past.
    historical: bool = False
