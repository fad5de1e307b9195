"""Value types of the spatial stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Place:
    """A named point: ``h3`` holds its ``h3_r6/h3_r9/h3_r12`` cells (hex strings)."""

    id: str
    name: str
    category: str | None
    lat: float
    lng: float
    attributes: dict[str, Any] = field(default_factory=dict)
    h3: dict[str, str] = field(default_factory=dict)
    created_at: str | None = None
    updated_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "category": self.category, "lat": self.lat, "lng": self.lng,
            **self.h3, "attributes": self.attributes, "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class Hotspot:
    """A DBSCAN cluster of recent pings (only kept with at least k distinct users)."""

    id: int
    lat: float
    lng: float
    radius_m: float
    members: int
    distinct_users: int
    city: str | None
    computed_at: str


@dataclass(frozen=True)
class Region:
    """A k-means region of a city's recent pings."""

    city: str
    region: int
    lat: float
    lng: float
    radius_m: float
    members: int
    distinct_users: int
    computed_at: str


__all__ = ["Hotspot", "Place", "Region"]
