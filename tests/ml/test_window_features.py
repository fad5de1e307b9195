"""The 10-minute windows carry seed 001's avg_rating and recent_categories, independent of arrival order."""

from __future__ import annotations

import random

from hexlake.stream.windows import UserWindows
from tests.stream.fakes import make_event

T0 = 1_780_000_200.0  # a window boundary (multiple of 600)


def _features(order: list[int]) -> dict:
    events = [
        make_event("a", T0 + 10, event_type="place_interaction", place="p1", rating=4, category="cafe"),
        make_event("b", T0 + 20, event_type="place_interaction", place="p2", rating=2, category="park"),
        make_event("c", T0 + 30, event_type="place_interaction", place="p3", category="cafe"),
        make_event("d", T0 + 40, event_type="place_interaction", place="p4", rating="5", category=""),
        make_event("e", T0 + 50, event_type="place_interaction", place="p5", rating=True, category="gym"),
    ]
    windows = UserWindows(600)
    for i in order:
        windows.add(events[i])
    (acc,) = windows.close(T0 + 600)
    return acc.features(final=True)


def test_avg_rating_and_recent_categories() -> None:
    f = _features([0, 1, 2, 3, 4])
    assert f["avg_rating"] == 3.0  # 4 and 2; a string or a boolean is not a rating
    assert f["recent_categories"] == ["gym", "cafe", "park"]  # latest first, each once; empty ignored


def test_arrival_order_does_not_matter() -> None:
    want = _features([0, 1, 2, 3, 4])
    rng = random.Random(1)
    for _ in range(5):
        order = [0, 1, 2, 3, 4]
        rng.shuffle(order)
        assert _features(order) == want


def test_a_window_without_ratings_has_none() -> None:
    windows = UserWindows(600)
    windows.add(make_event("x", T0 + 1, event_type="page"))
    (acc,) = windows.close(T0 + 600)
    assert acc.features(final=True)["avg_rating"] is None and acc.features(final=True)["recent_categories"] == []
