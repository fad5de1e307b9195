"""Location History: ``Records.json``, Semantic Location History monthly files, ``Timeline.json``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ijson

from hexlake.importers.formats._common import (
    ParseOptions,
    Record,
    e7,
    iso_utc,
    location,
    parse_latlng,
    record,
    to_epoch_ms,
)
from hexlake.importers.streams import Readable


def _items(stream: Readable, prefix: str) -> Iterator[Any]:
    return ijson.items(stream, prefix, use_float=True)


def _top_activity(raw: Any) -> tuple[str | None, Any]:
    """Most confident activity of the first activity reading (``[{activity: [{type, confidence}]}]``)."""
    if not isinstance(raw, list) or not raw or not isinstance(raw[0], dict):
        return None, None
    guesses = raw[0].get("activity")
    if not isinstance(guesses, list) or not guesses or not isinstance(guesses[0], dict):
        return None, None
    return guesses[0].get("type"), guesses[0].get("confidence")


def location_record(rec: dict[str, Any]) -> Record:
    """One ``Records.json`` entry: ``timestampMs`` or ``timestamp``, E7 coordinates, accuracy, source."""
    ms = to_epoch_ms(rec.get("timestamp") if "timestamp" in rec else rec.get("timestampMs"))
    act, conf = _top_activity(rec.get("activity"))
    return record(
        "location_record",
        ms,
        {
            "location": location(e7(rec.get("latitudeE7")), e7(rec.get("longitudeE7")), rec.get("accuracy")),
            "source": rec.get("source"),
            "altitude_m": rec.get("altitude"),
            "vertical_accuracy_m": rec.get("verticalAccuracy"),
            "velocity_mps": rec.get("velocity"),
            "heading_deg": rec.get("heading"),
            "activity": act,
            "activity_confidence": conf,
            "platform_type": rec.get("platformType"),
        },
    )


def parse_records(stream: Readable, options: ParseOptions) -> Iterator[Record]:
    """``Location History/Records.json``: ``{"locations": [...]}``."""
    for rec in _items(stream, "locations.item"):
        if isinstance(rec, dict):
            yield location_record(rec)


def _duration_s(start: int | None, end: int | None) -> float | None:
    return (end - start) / 1000 if start is not None and end is not None else None


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _semantic_time(obj: dict[str, Any], key: str) -> int | None:
    duration = obj.get("duration") or {}
    if not isinstance(duration, dict):
        return None
    return to_epoch_ms(duration.get(f"{key}Timestamp", duration.get(f"{key}TimestampMs")))


def _place_visit(v: dict[str, Any]) -> Record:
    loc = _obj(v.get("location"))
    start, end = _semantic_time(v, "start"), _semantic_time(v, "end")
    return record(
        "place_visit",
        start,
        {
            "location": location(e7(loc.get("latitudeE7")), e7(loc.get("longitudeE7"))),
            "ended_at": iso_utc(end),
            "duration_s": _duration_s(start, end),
            "place_id": loc.get("placeId"),
            "name": loc.get("name"),
            "address": loc.get("address"),
            "semantic_type": loc.get("semanticType"),
            "confidence": v.get("visitConfidence", v.get("placeConfidence")),
        },
    )


def _activity_segment(a: dict[str, Any]) -> Record:
    s = _obj(a.get("startLocation"))
    e = _obj(a.get("endLocation"))
    start, end = _semantic_time(a, "start"), _semantic_time(a, "end")
    return record(
        "activity_segment",
        start,
        {
            "location": location(e7(s.get("latitudeE7")), e7(s.get("longitudeE7"))),
            "end_location": location(e7(e.get("latitudeE7")), e7(e.get("longitudeE7"))),
            "ended_at": iso_utc(end),
            "duration_s": _duration_s(start, end),
            "activity_type": a.get("activityType"),
            "distance_m": a.get("distance"),
            "confidence": a.get("confidence"),
        },
    )


def parse_semantic(stream: Readable, options: ParseOptions) -> Iterator[Record]:
    """Semantic Location History ``YYYY/YYYY_MONTH.json``: ``timelineObjects`` of visits/segments."""
    for obj in _items(stream, "timelineObjects.item"):
        if not isinstance(obj, dict):
            continue
        if isinstance(obj.get("placeVisit"), dict):
            yield _place_visit(obj["placeVisit"])
        elif isinstance(obj.get("activitySegment"), dict):
            yield _activity_segment(obj["activitySegment"])


def _latlng_loc(text: Any, accuracy: Any = None) -> dict[str, Any] | None:
    ll = parse_latlng(text)
    return location(ll[0], ll[1], accuracy) if ll else None


def _segment(seg: dict[str, Any]) -> Iterator[Record]:
    start, end = to_epoch_ms(seg.get("startTime")), to_epoch_ms(seg.get("endTime"))
    if isinstance(seg.get("visit"), dict):
        top = seg["visit"].get("topCandidate") or {}
        place = top.get("placeLocation") or {}
        yield record(
            "place_visit",
            start,
            {
                "location": _latlng_loc(place.get("latLng") if isinstance(place, dict) else place),
                "ended_at": iso_utc(end),
                "duration_s": _duration_s(start, end),
                "place_id": top.get("placeId"),
                "semantic_type": top.get("semanticType"),
                "confidence": top.get("probability"),
            },
        )
    elif isinstance(seg.get("activity"), dict):
        act = seg["activity"]
        top = act.get("topCandidate") or {}
        yield record(
            "activity_segment",
            start,
            {
                "location": _latlng_loc((act.get("start") or {}).get("latLng")),
                "end_location": _latlng_loc((act.get("end") or {}).get("latLng")),
                "ended_at": iso_utc(end),
                "duration_s": _duration_s(start, end),
                "activity_type": top.get("type"),
                "distance_m": act.get("distanceMeters"),
                "confidence": top.get("probability"),
            },
        )
    for point in seg.get("timelinePath") or []:
        if isinstance(point, dict):
            loc = _latlng_loc(point.get("point"))
            props = {"location": loc, "source": "timeline_path"}
            yield record("location_record", to_epoch_ms(point.get("time")), props)


def _raw_signal(sig: dict[str, Any]) -> Iterator[Record]:
    pos = sig.get("position")
    if not isinstance(pos, dict):
        return  # wifi scans and activity records carry no position: not imported
    yield record(
        "location_record",
        to_epoch_ms(pos.get("timestamp")),
        {
            "location": _latlng_loc(pos.get("LatLng", pos.get("latLng")), pos.get("accuracyMeters")),
            "source": pos.get("source"),
            "altitude_m": pos.get("altitudeMeters"),
            "velocity_mps": pos.get("speedMetersPerSecond"),
        },
    )


def parse_timeline(stream: Readable, options: ParseOptions) -> Iterator[Record]:
    """On-device ``Timeline.json``: ``semanticSegments`` and ``rawSignals`` in one streaming pass."""
    builder: Any = None
    target: str | None = None
    for prefix, event, value in ijson.parse(stream, use_float=True):
        if builder is None:
            if event == "start_map" and prefix in ("semanticSegments.item", "rawSignals.item"):
                builder, target = ijson.ObjectBuilder(), prefix
                builder.event(event, value)
            continue
        builder.event(event, value)
        if prefix == target and event == "end_map":
            obj = builder.value
            builder = None
            yield from (_segment(obj) if target == "semanticSegments.item" else _raw_signal(obj))


__all__ = ["location_record", "parse_records", "parse_semantic", "parse_timeline"]
