"""Request bodies and examples for the collector routes' OpenAPI (they read the raw body themselves,
so FastAPI cannot infer one); shown and tryable in ``/docs``."""

from __future__ import annotations

from typing import Any

_EVENT = {
    "event_id": "e-1", "event_type": "location_ping", "user_id": "alice", "session_id": "s1",
    "timestamp": "2026-01-01T12:00:00Z",
    "properties": {"location": {"lat": 37.7749, "lng": -122.4194, "accuracy": 5}},
    "consent": {"precise_location": True},
}


def _body(schema: dict[str, Any], examples: dict[str, Any], ndjson: bool = False) -> dict[str, Any]:
    content: dict[str, Any] = {"application/json": {
        "schema": schema, "examples": {name: {"value": value} for name, value in examples.items()}}}
    if ndjson:
        content["application/x-ndjson"] = {"schema": {"type": "string"}}
    return {"requestBody": {"required": True, "content": content}}


EVENTS_BODY = _body(
    {"oneOf": [{"type": "object", "description": "One event, or {batch, sent_at}"},
               {"type": "array", "items": {"type": "object"}}]},
    {"one event": _EVENT, "array": [_EVENT, {**_EVENT, "event_id": "e-2"}],
     "batch": {"batch": [_EVENT], "sent_at": "2026-01-01T12:00:01Z"}},
    ndjson=True,
)
SEGMENT_BODY = _body({"type": "object"}, {
    "track": {"type": "track", "event": "Signed Up", "userId": "alice", "messageId": "m-1",
              "timestamp": "2026-01-01T12:00:00Z", "properties": {"plan": "pro"}},
})
SEGMENT_BATCH_BODY = _body({"type": "object", "required": ["batch"]}, {
    "batch": {"batch": [{"type": "track", "event": "Signed Up", "userId": "alice", "messageId": "m-1"}],
              "sentAt": "2026-01-01T12:00:01Z"},
})
POSTHOG_BODY = _body({"type": "object"}, {
    "capture": {"api_key": "<write key>", "event": "$pageview", "distinct_id": "alice",
                "properties": {"$current_url": "https://example.com/"}, "uuid": "0190c3f2-0000-7000-8000-000000000001"},
    "batch": {"api_key": "<write key>", "batch": [{"event": "signed_up", "distinct_id": "alice"}]},
})

__all__ = ["EVENTS_BODY", "POSTHOG_BODY", "SEGMENT_BATCH_BODY", "SEGMENT_BODY"]
