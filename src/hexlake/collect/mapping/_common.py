"""Helpers shared by the Segment and PostHog mappers: context cleaning, location, consent.

Everything here is pure: dicts in, dicts out. Nothing is hashed here (the gate owns the secret);
what is removed here is what must never reach the gate's output at all (IP addresses, advertising
ids, push tokens).
"""

from __future__ import annotations

import re
from typing import Any

# Context keys that are identifiers or network addresses: never stored, whatever the source says.
# ``ip`` is kept for the gate: it never stores it, but a geoip source gets the country first.
DROPPED_CONTEXT_KEYS = frozenset({"traits", "externalIds", "userAgentData"})
DROPPED_DEVICE_KEYS = frozenset({"id", "advertisingId", "adTrackingEnabled", "token"})

# Consent category names (case/separator-insensitive) that grant precise location.
PRECISE_LOCATION_KEYS = frozenset({"preciselocation", "location", "geolocation"})

_SEP = re.compile(r"[^a-z0-9]+")


def as_id(value: Any) -> str | None:
    """A user/anonymous id as a string, or None for missing/empty/non-scalar values."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, str):
        return value if value.strip() else None
    return None


def as_dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def snake(name: str) -> str:
    """``"Precise Location"`` / ``"preciseLocation"`` → ``"precise_location"``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return _SEP.sub("_", spaced.lower()).strip("_")


def consent_flags(raw: Any) -> dict[str, bool]:
    """Boolean consent flags from either a flat ``{name: bool}`` object or Segment's shape
    ``{"categoryPreferences": {name: bool}}``. Names are snake_cased; any of the precise-location
    names sets ``precise_location``.
    """
    if not isinstance(raw, dict):
        return {}
    prefs = raw.get("categoryPreferences")
    source = prefs if isinstance(prefs, dict) else raw
    flags = {snake(str(k)): v for k, v in source.items() if isinstance(v, bool)}
    if any(v for k, v in flags.items() if k.replace("_", "") in PRECISE_LOCATION_KEYS):
        flags["precise_location"] = True
    return flags


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        out = float(value)
    except ValueError:
        return None
    return out if out == out and abs(out) != float("inf") else None


def location_from(raw: Any) -> dict[str, float] | None:
    """``{lat, lng[, accuracy]}`` from an object using lat/lng or latitude/longitude keys."""
    if not isinstance(raw, dict):
        return None
    lat = _number(raw.get("lat", raw.get("latitude")))
    lng = _number(raw.get("lng", raw.get("lon", raw.get("longitude"))))
    if lat is None or lng is None:
        return None
    out = {"lat": lat, "lng": lng}
    accuracy = _number(raw.get("accuracy", raw.get("accuracy_m")))
    if accuracy is not None:
        out["accuracy"] = accuracy
    return out


def clean_context(context: dict[str, Any]) -> dict[str, Any]:
    """Copy of a client context without IP, embedded traits or device identifiers.

    ``location``/``consent`` are removed too: the mapper moves them to the native ``location``
    and ``consent`` fields; coarse place names (city, country, region) stay under ``geo``.
    """
    out = {k: v for k, v in context.items() if k not in DROPPED_CONTEXT_KEYS}
    out.pop("consent", None)
    loc = out.pop("location", None)
    if isinstance(loc, dict):
        geo = {k: loc[k] for k in ("city", "country", "region") if isinstance(loc.get(k), str)}
        if geo:
            out["geo"] = geo
    device = out.get("device")
    if isinstance(device, dict):
        out["device"] = {k: v for k, v in device.items() if k not in DROPPED_DEVICE_KEYS}
    return out


def drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}
