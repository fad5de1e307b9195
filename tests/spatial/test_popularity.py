"""The CANVS popularity score: 0.4·followers + 0.3·posts + 0.3·recent engagement, each / max."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from hexlake.runtime import Runtime
from hexlake.spatial import warehouse as wh
from hexlake.spatial.popularity import for_place, popular
from hexlake.spatial.resources import places

from .conftest import NOW, insert_events


def interaction(kind: str, place: str, user: str, age: timedelta = timedelta(hours=1)) -> dict:
    return {"event_type": "place_interaction", "lat": 1.0, "lng": 1.0, "user_key": user, "ts": NOW - age,
            "properties": {"interaction_type": kind, "place_id": place}}


def seed(rt: Runtime) -> None:
    reg = places(rt)
    for pid, lat in (("cafe", 1.0), ("bar", 1.001), ("park", 1.002), ("quiet", 1.003)):
        reg.create({"id": pid, "name": pid.title(), "category": "food" if pid != "park" else "green",
                    "lat": lat, "lng": 1.0})
    ev = [interaction("follow", "cafe", f"u{i}") for i in range(10)]          # 10 followers
    ev += [interaction("post", "cafe", f"u{i}") for i in range(2)]            # 2 posts
    ev += [interaction("follow", "bar", f"u{i}") for i in range(5)]           # 5 followers
    ev += [interaction("post", "bar", f"u{i}") for i in range(4)]             # 4 posts
    ev += [interaction("like", "bar", f"u{i}") for i in range(6)]             # 6 reactions
    ev += [interaction("comment", "bar", f"u{i}") for i in range(2)]          # 2 comments → 6 + 4 = 10
    ev += [interaction("comment", "park", f"u{i}") for i in range(5)]         # 10 engagement...
    ev += [interaction("comment", "park", f"u{i}", timedelta(days=9)) for i in range(5)]  # ...old ones don't count
    ev += [interaction("follow", "quiet", f"u{i}") for i in range(2)]         # 2 users < k
    insert_events(rt, ev)


def test_score_and_components_follow_the_formula(runtime: Runtime) -> None:
    seed(runtime)
    cafe = for_place(runtime, "cafe", now=NOW)
    assert cafe["components"] == {"followers": 10, "posts": 2, "recent_engagement": 0}
    assert cafe["score"] == pytest.approx(0.4 * 1 + 0.3 * 2 / 4)
    bar = for_place(runtime, "bar", now=NOW)
    assert bar["components"] == {"followers": 5, "posts": 4, "recent_engagement": 10}
    assert bar["score"] == pytest.approx(0.4 * 0.5 + 0.3 + 0.3)
    park = for_place(runtime, "park", now=NOW)
    assert park["components"]["recent_engagement"] == 10 and park["score"] == pytest.approx(0.3)
    assert bar["source"] == "raw_events" and not bar["suppressed"]


def test_places_with_fewer_than_k_users_are_suppressed(runtime: Runtime) -> None:
    seed(runtime)
    quiet = for_place(runtime, "quiet", now=NOW)
    assert quiet["suppressed"] is True and "components" not in quiet


def test_popular_ranks_filters_by_category_and_distance(runtime: Runtime) -> None:
    seed(runtime)
    assert [p["place_id"] for p in popular(runtime, now=NOW)] == ["bar", "cafe", "park"]
    assert [p["place_id"] for p in popular(runtime, category="green", now=NOW)] == ["park"]
    near = popular(runtime, lat=1.0, lng=1.0, radius_m=150, now=NOW)
    assert [p["place_id"] for p in near] == ["bar", "cafe"]
    assert near[0]["distance_m"] == pytest.approx(111.2, abs=0.5)


def test_reads_the_mart_when_present(runtime: Runtime) -> None:
    seed(runtime)
    cur = wh.reader(runtime).cursor()  # type: ignore[attr-defined]
    cur.execute("CREATE TABLE place_popularity AS SELECT 'park' AS place_id, 1 AS followers, 1 AS posts, "
                "1 AS recent_engagement, 50 AS distinct_users, 0.99 AS popularity_score")
    park = for_place(runtime, "park", now=NOW)
    assert park["source"] == "place_popularity" and park["score"] == pytest.approx(0.99)


def test_reads_the_components_under_the_marts_own_column_names(runtime: Runtime) -> None:
    seed(runtime)
    cur = wh.reader(runtime).cursor()  # type: ignore[attr-defined]
    cur.execute("CREATE TABLE place_popularity AS SELECT 'park' AS place_id, 7 AS follower_count, "
                "3 AS post_count, 11 AS recent_engagement, 50 AS unique_users, 0.5 AS popularity_score")
    park = for_place(runtime, "park", now=NOW)
    assert park["components"] == {"followers": 7, "posts": 3, "recent_engagement": 11}


def test_api_popularity_and_404(client: TestClient, runtime: Runtime) -> None:
    seed(runtime)
    r = client.get("/v1/places/bar/popularity")
    assert r.status_code == 200 and r.json()["components"]["followers"] == 5
    assert client.get("/v1/places/nope/popularity").status_code == 404
    r = client.get("/v1/places/popular", params={"lat": 1.0, "lng": 1.0})
    assert r.status_code == 400 and r.json()["error"]["field"] == "radius_m"
    ranked = client.get("/v1/places/popular").json()["places"]  # real clock: the seeded events are months old
    assert [p["place_id"] for p in ranked] == ["cafe", "bar", "park"]
    assert ranked[1]["components"]["recent_engagement"] == 0
