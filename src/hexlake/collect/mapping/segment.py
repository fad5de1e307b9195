"""Segment HTTP Tracking API messages → hexlake native input dicts (pure functions).

Mapping (documented in docs/segment-posthog.md):

* ``messageId`` → ``event_id`` (the dedupe key); ``userId``/``anonymousId`` → ``user_id``/
  ``anonymous_id`` (hashed by the gate); one of them is required.
* ``track`` → ``track`` with ``properties.event`` = the event name; ``page``/``screen`` → ``page``/
  ``screen`` with ``properties.name``/``category``; ``identify`` → ``identify`` with ``traits``;
  ``group`` → ``group`` with ``properties.group_id`` and ``traits``; ``alias`` → ``alias`` with
  ``user_id`` = ``userId`` and ``anonymous_id`` = ``previousId`` (so both are hashed).
* Time: with ``originalTimestamp`` the event is skew corrected against ``sentAt`` (the message's or
  the batch's); an explicit ``timestamp`` is trusted as is (Segment's rule for server libraries and
  imports); neither means "received now".
* ``context``: ``traits`` and device identifiers are dropped (``ip`` is dropped by the gate, after an
  offline country lookup for geoip sources); ``location`` lat/lng go to the
  native ``location`` (coarsened by the gate unless consent allows precise location), its city/
  country/region stay as ``context.geo``; ``consent`` (flat flags or Segment's
  ``categoryPreferences``) becomes the native ``consent``; ``integrations`` is kept in context.
"""

from __future__ import annotations

from typing import Any

from hexlake.collect.mapping._common import (
    as_dict,
    as_id,
    clean_context,
    consent_flags,
    drop_none,
    location_from,
)
from hexlake.errors import BadRequest

CALL_TYPES = ("track", "identify", "page", "screen", "group", "alias")


def _require_ids(msg: dict[str, Any], where: str) -> tuple[str | None, str | None]:
    user_id, anonymous_id = as_id(msg.get("userId")), as_id(msg.get("anonymousId"))
    if user_id is None and anonymous_id is None:
        raise BadRequest(f"{where}: userId or anonymousId is required", field=f"{where}.userId")
    return user_id, anonymous_id


def _times(msg: dict[str, Any], batch_sent_at: Any, historical: bool) -> dict[str, Any]:
    original = msg.get("originalTimestamp")
    if original is not None and not historical:
        return {"timestamp": original, "sent_at": msg.get("sentAt", batch_sent_at)}
    stamp = msg.get("timestamp", original)
    return {"timestamp": stamp} if stamp is not None else {}


def _body(call: str, msg: dict[str, Any], where: str) -> dict[str, Any]:
    """event_type, properties, traits and ids of one call type."""
    props = as_dict(msg.get("properties"))
    if call == "alias":
        user_id, previous = as_id(msg.get("userId")), as_id(msg.get("previousId"))
        if user_id is None or previous is None:
            raise BadRequest(f"{where}: alias needs userId and previousId", field=f"{where}.previousId")
        return {"event_type": "alias", "user_id": user_id, "anonymous_id": previous, "properties": {}}
    user_id, anonymous_id = _require_ids(msg, where)
    out: dict[str, Any] = {"event_type": call, "user_id": user_id, "anonymous_id": anonymous_id}
    if call == "track":
        name = msg.get("event")
        if not isinstance(name, str) or not name.strip():
            raise BadRequest(f"{where}: track needs an event name", field=f"{where}.event")
        out["properties"] = {**props, "event": name}
    elif call in ("page", "screen"):
        named = drop_none({"name": msg.get("name"), "category": msg.get("category")})
        out["properties"] = {**props, **named}
    elif call == "identify":
        out["traits"] = as_dict(msg.get("traits"))
    elif call == "group":
        group_id = as_id(msg.get("groupId"))
        if group_id is None:
            raise BadRequest(f"{where}: group needs a groupId", field=f"{where}.groupId")
        out["properties"] = {"group_id": group_id}
        out["traits"] = as_dict(msg.get("traits"))
    return out


def map_message(
    msg: Any,
    *,
    call: str | None = None,
    batch_sent_at: Any = None,
    historical: bool = False,
    where: str = "body",
) -> dict[str, Any]:
    """One Segment message → one native input dict, or ``BadRequest`` naming the field.

    ``call`` is the call type of a single-call endpoint (``/v1/track``); in a batch it comes from
    the message's ``type``. ``historical`` (``/v1/import``) trusts timestamps without correction.
    """
    if not isinstance(msg, dict):
        raise BadRequest(f"{where}: each message must be a JSON object", field=where)
    call = call or msg.get("type")
    if call not in CALL_TYPES:
        raise BadRequest(
            f"{where}: type must be one of {', '.join(CALL_TYPES)} (got {call!r})", field=f"{where}.type"
        )
    native = _body(call, msg, where)
    message_id = as_id(msg.get("messageId"))
    if message_id is not None:
        native["event_id"] = message_id
    native.update(_times(msg, batch_sent_at, historical))
    raw_context = as_dict(msg.get("context"))
    context = clean_context(raw_context)
    integrations = msg.get("integrations")
    if isinstance(integrations, dict) and integrations:
        context["integrations"] = integrations
    if context:
        native["context"] = context
    location = location_from(raw_context.get("location"))
    if location is not None:
        native["location"] = location
    consent = consent_flags(raw_context.get("consent"))
    if consent:
        native["consent"] = consent
    return drop_none(native)


__all__ = ["CALL_TYPES", "map_message"]
