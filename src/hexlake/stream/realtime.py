"""Reads of the realtime counters: the metrics snapshot and trending places (pure over a store + now).

k-anonymity (issue 15): a place or H3 cell is listed only if at least ``k`` distinct people were there
during the window the answer covers (the live window, the trending window), counted from the
per-minute ``pu|``/``cu|`` presence counters of that same window, never from smaller pieces.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import h3

from hexlake.stream.counters import CounterStore
from hexlake.stream.timeutil import iso

ACTIVE_WINDOWS_MIN = (5, 15, 60)


def distinct_people(store: CounterStore, prefix: str, now: float, since: float) -> dict[str, int]:
    """Per group (place or cell), distinct people in minute buckets ending after ``since``."""
    people: dict[str, set[str]] = {}
    for key in store.scan(prefix, now):
        _, minute, rest = key.split("|", 2)
        group, _, who = rest.rpartition("|")
        if float(minute) + 60 > since:
            people.setdefault(group, set()).add(who)
    return {g: len(w) for g, w in people.items()}


def _k_filter(counts: dict[str, Any], people: dict[str, int], k: int) -> dict[str, Any]:
    return counts if k <= 1 else {g: v for g, v in counts.items() if people.get(g, 0) >= k}


def metrics_snapshot(store: CounterStore, now: float, *, minutes: int = 60, live_minutes: int = 15,
                     top: int = 20, k: int = 1) -> dict[str, Any]:
    """Events per minute by type/source, active users, live counts per place and H3 r6 cell."""
    since = now - minutes * 60
    per_minute = []
    for key, value in store.scan("epm|", now).items():
        _, minute, event_type, source = key.split("|", 3)
        if float(minute) >= since - 60:
            per_minute.append({"minute": iso(float(minute)), "event_type": event_type, "source": source,
                               "count": int(value)})
    per_minute.sort(key=lambda r: (r["minute"], r["event_type"], r["source"]))
    active = {f"{m}m": store.count_at_least("seen|", now - m * 60, now) for m in ACTIVE_WINDOWS_MIN}
    live_since = now - live_minutes * 60
    places: dict[str, int] = {}
    for key, value in store.scan("place|", now).items():
        _, minute, place, _r6 = key.split("|", 3)
        if float(minute) + 60 > live_since:
            places[place] = places.get(place, 0) + int(value)
    cells: dict[str, int] = {}
    for key, value in store.scan("cell|", now).items():
        _, minute, r6 = key.split("|", 2)
        if float(minute) + 60 > live_since:
            cells[r6] = cells.get(r6, 0) + int(value)
    if k > 1:
        places = _k_filter(places, distinct_people(store, "pu|", now, live_since), k)
        cells = _k_filter(cells, distinct_people(store, "cu|", now, live_since), k)
    return {
        "as_of": iso(now),
        "events_per_minute": per_minute,
        "active_users": active,
        "live_window_minutes": live_minutes,
        "k": k,
        "places": _top(places, top, "place_id"),
        "h3_r6": _top(cells, top, "h3_r6"),
    }


def _top(counts: dict[str, int], n: int, name: str) -> list[dict[str, Any]]:
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return [{name: k, "count": v} for k, v in ranked]


def trending_places(store: CounterStore, now: float, *, window_minutes: int = 60, half_life_minutes: float = 15,
                    h3_r6: str | None = None, city: str | None = None, limit: int = 10,
                    per: str | None = None, k: int = 1) -> dict[str, Any]:
    """Top places by an exponentially decayed count over the sliding window.

    score = sum over minute buckets of count * 0.5 ** (age_minutes / half_life); a bucket's age is
    measured from its end, so the current minute weighs 1.
    """
    since = now - window_minutes * 60
    scores: dict[str, float] = {}
    counts: dict[str, int] = {}
    cells: dict[str, str] = {}
    for key, value in store.scan("place|", now).items():
        _, minute_s, place, r6 = key.split("|", 3)
        end = float(minute_s) + 60
        if end <= since or (h3_r6 and r6 != h3_r6) or (city and not _city_matches(r6, city)):
            continue
        age_min = max(0.0, now - end) / 60
        scores[place] = scores.get(place, 0.0) + value * math.pow(0.5, age_min / half_life_minutes)
        counts[place] = counts.get(place, 0) + int(value)
        cells[place] = r6
    if k > 1:
        scores = _k_filter(scores, distinct_people(store, "pu|", now, since), k)

    def entry(p: str, s: float) -> dict[str, Any]:
        return {"place_id": p, "score": round(s, 4), "count": counts[p], "h3_r6": cells[p],
                "city": city_of_cell(cells[p]) if city or per == "city" else None}

    out: dict[str, Any] = {"as_of": iso(now), "window_minutes": window_minutes,
                           "half_life_minutes": half_life_minutes, "filter": {"h3_r6": h3_r6, "city": city},
                           "k": k}
    if per is None:
        out["places"] = [entry(p, s) for p, s in _rank(scores)[:limit]]
        return out
    groups: dict[str, dict[str, float]] = {}
    for place, score in scores.items():
        key = cells[place] if per == "h3_r6" else (city_of_cell(cells[place]) or "-")
        groups.setdefault(key, {})[place] = score
    out["per"] = per
    out["groups"] = {g: [entry(p, s) for p, s in _rank(members)[:limit]] for g, members in sorted(groups.items())}
    return out


def _rank(scores: dict[str, float]) -> list[tuple[str, float]]:
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def _city_matches(r6: str, city: str) -> bool:
    name = city_of_cell(r6)
    return name is not None and name.casefold() == city.casefold()


@functools.lru_cache(maxsize=65_536)
def city_of_cell(r6: str) -> str | None:
    """Nearest populated place (GeoNames cities1000, offline) of an H3 r6 cell's centre."""
    if r6 == "-" or not h3.is_valid_cell(r6):
        return None
    import reverse_geocoder  # lazy: loading its k-d tree takes ~1.5 s

    lat, lng = h3.cell_to_latlng(r6)
    hit = reverse_geocoder.search([(lat, lng)], mode=1, verbose=False)[0]
    return str(hit["name"])
