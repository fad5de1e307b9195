"""The CANVS place popularity score, with its components.

    score = 0.4 · followers / max(followers)
          + 0.3 · posts / max(posts)
          + 0.3 · recent_engagement / max(recent_engagement)

over all places (a term is 0 when its maximum is 0). From events carrying ``properties.place_id``,
whose kind is ``properties.interaction_type`` (seed 001's place interactions) or else the event type:
followers = distinct users with a follow kind; posts = post kinds; recent engagement = reactions
+ 2 × comments in the last ``spatial.popularity_recent_days`` days (kinds configurable).
Read from the ``place_popularity`` mart when it exists, else computed from ``raw_events`` with the
same formula. Places with fewer than k distinct users (``transform.heatmap_k``) are suppressed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hexlake.errors import BadRequest
from hexlake.runtime import Runtime
from hexlake.spatial import warehouse as wh
from hexlake.spatial.geo import check_limit
from hexlake.spatial.resources import places

MART = "place_popularity"
WEIGHTS = {"followers": 0.4, "posts": 0.3, "recent_engagement": 0.3}


def raw_sql(runtime: Runtime, now: datetime) -> str:
    """Per-place components and score from raw events (the mart's formula)."""
    cfg = runtime.settings.spatial
    follows = wh.names_literal(cfg.popularity_follow_events, "event_type")
    posts = wh.names_literal(cfg.popularity_post_events, "event_type")
    reactions = wh.names_literal(cfg.popularity_reaction_events, "event_type")
    comments = wh.names_literal(cfg.popularity_comment_events, "event_type")
    since = wh.ts_literal(now - timedelta(days=cfg.popularity_recent_days))
    return f"""
        WITH ev AS (
            SELECT json_extract_string(properties, '$.place_id') AS place_id,
                   coalesce(json_extract_string(properties, '$.interaction_type'), event_type) AS kind, ts,
                   coalesce(user_key, anonymous_key) AS who
            FROM raw_events WHERE json_extract_string(properties, '$.place_id') IS NOT NULL
        ), c AS (
            SELECT place_id,
                   count(DISTINCT who) FILTER (WHERE kind IN {follows}) AS followers,
                   count(*) FILTER (WHERE kind IN {posts}) AS posts,
                   count(*) FILTER (WHERE kind IN {reactions} AND ts >= {since})
                     + 2 * count(*) FILTER (WHERE kind IN {comments} AND ts >= {since})
                     AS recent_engagement,
                   count(DISTINCT who) AS distinct_users
            FROM ev GROUP BY place_id
        )
        SELECT place_id, followers, posts, recent_engagement, distinct_users,
               {_score_sql()} AS score
        FROM c"""


def _score_sql() -> str:
    terms = [f"{w} * coalesce({c} / nullif(max({c}) OVER (), 0), 0)" for c, w in WEIGHTS.items()]
    return " + ".join(terms)


def mart_sql(table: str, cols: list[str]) -> str | None:
    pid = wh.pick(cols, "place_id", "place", "id")
    score = wh.pick(cols, "popularity_score", "score")
    users = wh.pick(cols, "distinct_users", "unique_users", "users")
    if pid is None or score is None or users is None:
        return None
    # The mart names its components follower_count / post_count (seed column names).
    aliases = {"followers": ("followers", "follower_count"), "posts": ("posts", "post_count"),
               "recent_engagement": ("recent_engagement",)}
    parts = [wh.pick(cols, *aliases[c]) for c in WEIGHTS]
    comp = ", ".join(f"{c} AS {n}" if c else f"NULL AS {n}" for c, n in zip(parts, WEIGHTS, strict=True))
    return f"SELECT {pid} AS place_id, {comp}, {users} AS distinct_users, {score} AS score FROM {table}"


def _scores_sql(runtime: Runtime, now: datetime) -> tuple[str, str] | None:
    reader = wh.reader(runtime)
    mart = wh.find_table(reader, MART)
    if mart is not None:
        sql = mart_sql(*mart)
        if sql is not None:
            return sql, MART
    if wh.find_table(reader, "raw_events") is None:
        return None
    return raw_sql(runtime, now), "raw_events"


def _row_json(row: dict[str, Any], source: str) -> dict[str, Any]:
    return {"place_id": row["place_id"], "score": round(float(row["score"] or 0.0), 6),
            "components": {c: row[c] for c in WEIGHTS}, "weights": WEIGHTS,
            "distinct_users": row["distinct_users"], "source": source}


def for_place(runtime: Runtime, place_id: str, now: datetime | None = None) -> dict[str, Any]:
    """Score and components of one place; ``suppressed`` when it has fewer than k distinct users."""
    k = runtime.settings.transform.heatmap_k
    found = _scores_sql(runtime, now or datetime.now(UTC))
    empty = {"place_id": place_id, "score": 0.0, "components": dict.fromkeys(WEIGHTS, 0), "weights": WEIGHTS,
             "distinct_users": 0}
    if found is None:
        return {**empty, "source": "none", "suppressed": True, "k": k}
    sql, source = found
    rows = wh.query(wh.reader(runtime), f"SELECT * FROM ({sql}) WHERE place_id = "
                                        f"{wh.str_literal(place_id)}").to_pylist()
    if not rows:
        return {**empty, "source": source, "suppressed": True, "k": k}
    if (rows[0]["distinct_users"] or 0) < k:
        return {"place_id": place_id, "source": source, "suppressed": True, "k": k}
    return {**_row_json(rows[0], source), "suppressed": False, "k": k}


def popular(runtime: Runtime, *, limit: int = 20, category: str | None = None, lat: float | None = None,
            lng: float | None = None, radius_m: float | None = None,
            now: datetime | None = None) -> list[dict[str, Any]]:
    """Places by descending score (ties by id), optionally near a point and/or of a category."""
    limit = check_limit(limit, runtime.settings.spatial.max_limit)
    registry = places(runtime)
    near: dict[str, float] | None = None
    if lat is not None or lng is not None or radius_m is not None:
        if lat is None or lng is None or radius_m is None:
            raise BadRequest("give lat, lng and radius_m together to rank places near a point.",
                             field="lat" if lat is None else "lng" if lng is None else "radius_m")
        hits = registry.nearby_hits(lat, lng, radius_m, registry.max_limit, category)
        near = {h.id: h.distance_m for h in hits}
    found = _scores_sql(runtime, now or datetime.now(UTC))
    if found is None:
        return []
    sql, source = found
    k = runtime.settings.transform.heatmap_k
    where = f"distinct_users >= {int(k)}"
    if near is not None:
        if not near:
            return []
        where += " AND place_id IN " + wh.strs_literal(sorted(near))
    fetch = limit if category is None or near is not None else limit * 20
    rows = wh.query(wh.reader(runtime), f"SELECT * FROM ({sql}) WHERE {where} "
                                        f"ORDER BY score DESC, place_id LIMIT {fetch}").to_pylist()
    known = registry.store.get_many([r["place_id"] for r in rows])
    out = []
    for row in rows:
        place = known.get(row["place_id"])
        if place is None or (category is not None and place.category != category):
            continue
        item = {**_row_json(row, source), "name": place.name, "category": place.category,
                "lat": place.lat, "lng": place.lng}
        if near is not None:
            item["distance_m"] = round(near[row["place_id"]], 3)
        out.append(item)
    return out[:limit]


__all__ = ["WEIGHTS", "for_place", "popular"]
