"""PostHog capture events → hexlake native input dicts (pure functions).

Mapping (documented in docs/segment-posthog.md):

* ``uuid`` → ``event_id``; ``distinct_id`` (top level or in ``properties``) → ``user_id``;
  ``$anon_distinct_id`` / ``$device_id`` → ``anonymous_id`` (all hashed by the gate).
* ``$pageview`` → ``page``, ``$screen`` → ``screen``, ``$identify``/``$set``/``$set_once`` →
  ``identify`` (traits = ``$set_once`` overlaid by ``$set``), ``$create_alias`` → ``alias``,
  ``$groupidentify`` → ``group``; anything else → ``track`` with ``properties.event`` = the name.
  ``$set``/``$set_once`` on any other event become an extra ``identify`` item with the id
  ``<uuid>:set`` (deterministic, so retries still dedupe) instead of riding on that event.
* Known ``$`` properties become context (library, os, browser, device, screen, locale, timezone,
  page); ``$ip`` goes to ``context.ip`` (never stored by the gate); other ``$`` properties are kept
  under ``context.posthog``; ``$location`` ``{lat,lng,accuracy}`` and ``$consent`` ``{flag: bool}``
  map to the native location/consent.
* Time: ``timestamp`` with the request's ``sent_at`` is skew corrected; ``offset`` (ms before the
  request) is converted against the receive time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hexlake.collect.mapping._common import as_dict, as_id, consent_flags, drop_none, location_from
from hexlake.errors import BadRequest

# $property → (context section, key); a None section means the key goes to context itself.
_CONTEXT_KEYS: dict[str, tuple[str | None, str]] = {
    "$ip": (None, "ip"),  # never stored by the gate; a geoip source gets the country
    "$lib": ("library", "name"),
    "$lib_version": ("library", "version"),
    "$os": ("os", "name"),
    "$os_version": ("os", "version"),
    "$browser": ("browser", "name"),
    "$browser_version": ("browser", "version"),
    "$device_type": ("device", "type"),
    "$device_model": ("device", "model"),
    "$device_manufacturer": ("device", "manufacturer"),
    "$screen_width": ("screen", "width"),
    "$screen_height": ("screen", "height"),
    "$current_url": ("page", "url"),
    "$pathname": ("page", "path"),
    "$title": ("page", "title"),
    "$referrer": ("page", "referrer"),
    "$browser_language": (None, "locale"),
    "$locale": (None, "locale"),
    "$timezone": (None, "timezone"),
    "$raw_user_agent": (None, "userAgent"),
    "$app_name": ("app", "name"),
    "$app_version": ("app", "version"),
    "$app_build": ("app", "build"),
    "$groups": (None, "groups"),
}
# Removed outright: addresses, ids handled elsewhere, person updates, transport fields.
_DROPPED = frozenset({
    "$set", "$set_once", "$unset", "$anon_distinct_id", "$device_id", "$session_id",
    "$location", "$consent", "$user_id", "distinct_id", "token", "$token",
})
_TYPES = {"$pageview": "page", "$screen": "screen", "$identify": "identify", "$set": "identify",
          "$set_once": "identify", "$create_alias": "alias", "$groupidentify": "group"}


def _split_properties(props: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(plain properties, context) from a PostHog properties object."""
    plain: dict[str, Any] = {}
    context: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in props.items():
        if key in _DROPPED:
            continue
        target = _CONTEXT_KEYS.get(key)
        if target is not None:
            section, name = target
            (context.setdefault(section, {}) if section else context)[name] = value
        elif key.startswith("$"):
            extra[key] = value
        else:
            plain[key] = value
    if extra:
        context["posthog"] = extra
    return plain, context


def _traits(ev: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    once = {**as_dict(props.get("$set_once")), **as_dict(ev.get("$set_once"))}
    now = {**as_dict(props.get("$set")), **as_dict(ev.get("$set"))}
    return {**once, **now}


def _typed(name: str, ev_type: str, plain: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    """Native event_type/properties for one PostHog event name."""
    if ev_type == "page":
        return {"properties": drop_none({**plain, "name": props.get("$title"),
                                         "url": props.get("$current_url"), "path": props.get("$pathname")})}
    if ev_type == "screen":
        return {"properties": drop_none({**plain, "name": props.get("$screen_name")})}
    if ev_type == "group":
        return {"properties": drop_none({"group_id": as_id(props.get("$group_key")),
                                         "group_type": props.get("$group_type")}),
                "traits": as_dict(props.get("$group_set"))}
    if ev_type == "identify" or ev_type == "alias":
        return {"properties": {}}
    return {"properties": {**plain, "event": name}}


def _time(ev: dict[str, Any], sent_at: Any, received_at: datetime) -> dict[str, Any]:
    offset = ev.get("offset")
    if isinstance(offset, int | float) and not isinstance(offset, bool):
        return {"timestamp": (received_at - timedelta(milliseconds=offset)).isoformat()}
    stamp = ev.get("timestamp")
    if stamp is None:
        return {}
    return drop_none({"timestamp": stamp, "sent_at": sent_at})


def map_event(
    ev: Any, *, sent_at: Any = None, received_at: datetime, where: str = "body"
) -> list[dict[str, Any]]:
    """One PostHog event → one native item (two when a non-identify event carries ``$set``)."""
    if not isinstance(ev, dict):
        raise BadRequest(f"{where}: each event must be a JSON object", field=where)
    name = ev.get("event")
    if not isinstance(name, str) or not name:
        raise BadRequest(f"{where}: event is required", field=f"{where}.event")
    props = as_dict(ev.get("properties"))
    distinct_id = as_id(ev.get("distinct_id", ev.get("$distinct_id", props.get("distinct_id"))))
    if distinct_id is None:
        raise BadRequest(f"{where}: distinct_id is required", field=f"{where}.distinct_id")
    ev_type = _TYPES.get(name, "track")
    plain, context = _split_properties(props)
    native: dict[str, Any] = {"event_type": ev_type, "user_id": distinct_id}
    native.update(_typed(name, ev_type, plain, props))
    native["anonymous_id"] = as_id(props.get("$anon_distinct_id", props.get("$device_id")))
    if ev_type == "alias":
        native["user_id"], native["anonymous_id"] = as_id(props.get("alias")) or distinct_id, distinct_id
    native["event_id"] = as_id(ev.get("uuid"))
    native["session_id"] = as_id(props.get("$session_id"))
    native.update(_time(ev, sent_at, received_at))
    if context:
        native["context"] = context
    native["location"] = location_from(props.get("$location"))
    native["consent"] = consent_flags(props.get("$consent")) or None
    traits = _traits(ev, props)
    if ev_type == "identify":
        native["traits"] = traits
        return [drop_none(native)]
    out = [drop_none(native)]
    if traits:
        set_id = f"{native['event_id']}:set" if native.get("event_id") else None
        out.append(drop_none({**native, "event_type": "identify", "event_id": set_id,
                              "properties": {}, "traits": traits, "location": None}))
    return out


__all__ = ["map_event"]
