"""Synthetic raw events with a known truth computed in plain Python (no SQL).

``generate(t0)`` makes events for ~40 users over 20 days before ``t0``: auth events, identify /
signup, tracks, place interactions (follows, posts, reactions, comments) and location pings in a
few H3 cells. ``truth_*`` compute every mart from a list of *unique* events as of ``t0``.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from hexlake.warehouse.schema import RAW_EVENTS_COLUMNS

AUTH = {"signup", "login", "logout", "login_failed", "password_reset", "password_changed",
        "token_refresh", "mfa_enabled", "mfa_challenge"}
CELLS9 = ["891f1d4a93bffff", "891f1d4a917ffff", "891f1d4a9c3ffff"]
CELLS6 = {"891f1d4a93bffff": "861f1d48fffffff", "891f1d4a917ffff": "861f1d48fffffff",
          "891f1d4a9c3ffff": "861f1d4a7ffffff"}
PLACES = [f"place-{i}" for i in range(8)]
METHODS = ["password", "google", "apple"]


def ev(eid: str, etype: str, ts: datetime, user: str | None, *, session: str | None = None,
       props: dict[str, Any] | None = None, cell: str | None = None, anon: str | None = None,
       source: str = "app") -> dict[str, Any]:
    return {"event_id": eid, "event_type": etype, "ts": ts, "user_key": user, "anonymous_key": anon,
            "session_id": session, "properties": props or {}, "source": source,
            "h3_r9": cell, "h3_r6": CELLS6.get(cell) if cell else None,
            "lat": 52.52 if cell else None, "lng": 13.40 if cell else None}


def generate(t0: datetime, seed: int = 7) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    out: list[dict[str, Any]] = []
    n = 0

    def add(etype: str, ts: datetime, user: str | None, **kw: Any) -> None:
        nonlocal n
        n += 1
        out.append(ev(f"e{n:05d}", etype, ts, user, **kw))

    start = t0 - timedelta(days=20)
    for u in range(40):
        user = f"u{u:02d}"
        first = start + timedelta(days=rnd.randint(0, 18), minutes=rnd.randint(0, 1400))
        if first >= t0 - timedelta(minutes=5):
            first = t0 - timedelta(hours=3)
        if u % 4 != 3:  # most users sign up; some are only identified; some are neither
            add("signup", first, user, props={"method": METHODS[u % 3], "email_domain": "Example.com"})
        if u % 5 == 0:
            add("identify", first + timedelta(minutes=1), user,
                props={"email_domain": "mail.org", "two_factor_enabled": u % 2 == 0})
        t = first
        while True:
            t += timedelta(hours=rnd.choice([2, 5, 11, 23, 47, 70]), minutes=rnd.randint(0, 59))
            if t >= t0 - timedelta(minutes=2) or (u % 6 == 1 and t > first + timedelta(days=3)):
                break
            s = f"s-{user}-{t:%m%d}"
            kind = rnd.random()
            if kind < 0.35:
                add(rnd.choice(["login", "login", "login_failed", "token_refresh", "logout"]), t, user,
                    session=s, props={"method": rnd.choice(METHODS), "reason": "bad_password"})
            elif kind < 0.55:
                add("track", t, user, session=s, props={"event": "opened"},
                    source=rnd.choice(["app", "web"]))
            elif kind < 0.85:
                add("place_interaction", t, user, session=s, cell=rnd.choice(CELLS9),
                    props={"place_id": rnd.choice(PLACES[: 3 + u % 6]),
                           "interaction_type": rnd.choice(
                               ["post", "reaction", "comment", "follow", "unfollow", "follow", "view"])})
            else:
                add("location_ping", t, user, session=s, cell=rnd.choice(CELLS9))
    # a dense hour in one cell (>= k people) and a sparse one (< k) so suppression is visible
    dense = (t0 - timedelta(days=1)).replace(minute=10, second=0, microsecond=0)
    for u in range(7):
        add("location_ping", dense + timedelta(minutes=u), f"u{u:02d}", cell=CELLS9[0])
    for u in range(3):
        add("location_ping", dense + timedelta(minutes=u), f"u{u:02d}", cell=CELLS9[1])
    add("location_ping", dense, None, anon="anon-1", cell=CELLS9[0])
    add("page", dense, None, anon="anon-2")
    return out


def to_rows(events: Iterable[dict[str, Any]], *, received_delay: timedelta = timedelta(seconds=1),
            offset0: int = 0) -> list[tuple[Any, ...]]:
    """raw_events rows (the loader's contract) for ``events``."""
    rows = []
    for i, e in enumerate(events):
        rec = e["ts"] + received_delay
        values = {
            **{c: None for c, _ in RAW_EVENTS_COLUMNS},
            **{k: e[k] for k in ("event_id", "event_type", "source", "user_key", "anonymous_key",
                                 "session_id", "ts", "lat", "lng", "h3_r6", "h3_r9")},
            "schema_version": 1, "received_at": rec, "properties": json.dumps(e["properties"]),
            "context": "{}", "consent": "{}", "log_offset": offset0 + i, "load_date": rec.date(),
            "loaded_at": rec,
        }
        rows.append(tuple(values[c] for c, _ in RAW_EVENTS_COLUMNS))
    return rows


def unique(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for e in events:
        seen.setdefault(e["event_id"], e)
    return list(seen.values())


# ---- truth ------------------------------------------------------------------------------------

def _users(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """stg_users: latest identify/signup wins (SCD1); created_at = first signup, else first identify."""
    prof: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if e["event_type"] in ("identify", "signup") and e["user_key"]:
            prof[e["user_key"]].append(e)
    out = {}
    for u, es in prof.items():
        latest = max(es, key=lambda e: (e["ts"], e["event_id"]))
        signups = [e["ts"] for e in es if e["event_type"] == "signup"]
        out[u] = {"email_domain": (latest["properties"].get("email_domain") or "").lower() or None,
                  "created_at": min(signups) if signups else min(e["ts"] for e in es),
                  "two_factor_enabled": bool(latest["properties"].get("two_factor_enabled", False))}
    return out


def activity_daily(events: list[dict[str, Any]], churned_days: int = 30) -> dict[tuple[date, str], dict]:
    users = _users(events)
    logins: dict[str, set[date]] = defaultdict(set)
    groups: dict[tuple[date, str], list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if e["user_key"]:
            groups[(e["ts"].date(), e["user_key"])].append(e)
            if e["event_type"] == "login":
                logins[e["user_key"]].add(e["ts"].date())
    out = {}
    for (d, u), es in groups.items():
        lc = sum(1 for e in es if e["event_type"] == "login")
        sc = len({e["session_id"] for e in es if e["session_id"]})
        prior = [x for x in logins[u] if x <= d]
        dsl = (d - max(prior)).days if prior else None
        out[(d, u)] = {
            "login_count": lc, "session_count": sc, "api_calls_count": len(es),
            "features_used": sorted({e["event_type"] for e in es}),
            "engagement_score": lc + 2 * sc + len(es),
            "is_active": dsl is not None and dsl < churned_days,
            "days_since_signup": (d - users[u]["created_at"].date()).days if u in users else None,
            "days_since_last_login": dsl,
        }
    return out


def dim_users(events: list[dict[str, Any]], as_of: date, *, new_days: int = 7, at_risk_days: int = 7,
              churned_days: int = 30) -> dict[str, dict[str, Any]]:
    users = _users(events)
    by_user: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if e["user_key"]:
            by_user[e["user_key"]].append(e)
    out = {}
    for u, es in by_user.items():
        created = users[u]["created_at"] if u in users else min(e["ts"] for e in es)
        last_active = max(e["ts"].date() for e in es if e["ts"].date() <= as_of)
        inactive = (as_of - last_active).days
        since_signup = (as_of - created.date()).days
        if inactive >= churned_days:
            stage = "churned"
        elif since_signup < new_days:
            stage = "new"
        elif inactive >= at_risk_days:
            stage = "at_risk"
        else:
            stage = "active"
        methods = [e["properties"].get("method") for e in es
                   if e["event_type"] in ("login", "signup") and e["properties"].get("method")]
        login_methods = Counter(e["properties"]["method"] for e in es
                                if e["event_type"] == "login" and e["properties"].get("method"))
        preferred = min(login_methods, key=lambda m: (-login_methods[m], m)) if login_methods else None
        out[u] = {"lifecycle_stage": stage, "last_active_date": last_active,
                  "signup_cohort": f"{created:%Y-%m}-W{math.ceil(created.day / 7)}",
                  "auth_methods": sorted(set(methods)) or None, "preferred_auth_method": preferred,
                  "email_domain": users[u]["email_domain"] if u in users else None}
    return out


def active_users(events: list[dict[str, Any]]) -> dict[date, dict[str, Any]]:
    days: dict[date, set[str]] = defaultdict(set)
    for e in events:
        if e["user_key"]:
            days[e["ts"].date()].add(e["user_key"])
    out = {}
    for d in days:
        wau = set().union(*(days.get(d - timedelta(days=i), set()) for i in range(7)))
        mau = set().union(*(days.get(d - timedelta(days=i), set()) for i in range(30)))
        out[d] = {"dau": len(days[d]), "wau": len(wau), "mau": len(mau),
                  "stickiness": len(days[d]) / len(mau)}
    return out


def _trunc(ts: datetime, unit: str) -> datetime:
    day = datetime(ts.year, ts.month, ts.day)
    if unit == "hour":
        return ts.replace(minute=0, second=0, microsecond=0)
    if unit == "day":
        return day
    return day - timedelta(days=day.weekday())


def event_aggregations(events: list[dict[str, Any]]) -> dict[tuple, tuple[int, int, int]]:
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        for unit in ("hour", "day", "week"):
            groups[(unit, _trunc(e["ts"], unit), e["event_type"], e["source"])].append(e)
    return {k: (len(es), len({e["user_key"] for e in es if e["user_key"]}),
                len({e["session_id"] for e in es if e["session_id"]})) for k, es in groups.items()}


def heatmap(events: list[dict[str, Any]], k: int = 5) -> dict[tuple[datetime, str], tuple[int, int]]:
    groups: dict[tuple[datetime, str], list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        person = e["user_key"] or e["anonymous_key"]
        if e["h3_r9"] and person:
            groups[(_trunc(e["ts"], "hour"), e["h3_r9"])].append(e)
    out = {}
    for key, es in groups.items():
        people = {e["user_key"] or e["anonymous_key"] for e in es}
        if len(people) >= k:
            out[key] = (len(es), len(people))
    return out


def daily_engagement(events: list[dict[str, Any]]) -> dict[tuple[date, str], tuple[int, int, int, int]]:
    groups: dict[tuple[date, str], list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        it = e["properties"].get("interaction_type")
        if e["event_type"] == "place_interaction" and e["h3_r6"] and it in ("post", "reaction", "comment"):
            groups[(e["ts"].date(), e["h3_r6"])].append(e)
    return {k: (sum(e["properties"]["interaction_type"] == "post" for e in es),
                sum(e["properties"]["interaction_type"] == "reaction" for e in es),
                sum(e["properties"]["interaction_type"] == "comment" for e in es),
                len({e["user_key"] or e["anonymous_key"] for e in es})) for k, es in groups.items()}


def place_popularity(events: list[dict[str, Any]], as_of: datetime, k: int = 5) -> dict[str, dict]:
    pis = [e for e in events if e["event_type"] == "place_interaction" and e["ts"] <= as_of]
    per: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in pis:
        per[e["properties"]["place_id"]].append(e)
    rows = {}
    for place, es in per.items():
        people = {e["user_key"] or e["anonymous_key"] for e in es}
        if len(people) < k:
            continue
        state: dict[str, tuple] = {}
        for e in es:
            if e["properties"]["interaction_type"] in ("follow", "unfollow") and e["user_key"]:
                key = (e["ts"], e["event_id"])
                if e["user_key"] not in state or key > state[e["user_key"]][0]:
                    state[e["user_key"]] = (key, e["properties"]["interaction_type"])
        recent = [e for e in es if e["ts"] > as_of - timedelta(days=7)]
        rows[place] = {
            "unique_users": len(people),
            "follower_count": sum(1 for _, t in state.values() if t == "follow"),
            "post_count": sum(e["properties"]["interaction_type"] == "post" for e in es),
            "recent_engagement": sum({"reaction": 1, "comment": 2}.get(
                e["properties"]["interaction_type"], 0) for e in recent),
        }
    mx = {c: max((r[c] for r in rows.values()), default=0)
          for c in ("follower_count", "post_count", "recent_engagement")}
    def part(r: dict[str, Any], c: str) -> float:
        return r[c] / mx[c] if mx[c] else 0.0

    for r in rows.values():
        r["popularity_score"] = 0.4 * part(r, "follower_count") + 0.3 * part(r, "post_count") + \
            0.3 * part(r, "recent_engagement")
    for r in rows.values():
        r["popularity_rank"] = 1 + sum(o["popularity_score"] > r["popularity_score"] for o in rows.values())
    return rows
