"""Serving recommendations: candidates, point-in-time features, the promoted model, reasons, cache.

``Recommender`` is one per process (``recommender(runtime)``). Its feature ``Snapshot`` is rebuilt
from the warehouse every ``refresh_s`` (by the ML service, or lazily); users whose features changed
lose their cached lists. Candidates: places near ``lat/lng`` (the places index), the most active
places, and the user's own history. With no promoted model the list is ranked by popularity.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

from hexlake.errors import BadRequest
from hexlake.ml.cache import RecommendationCache
from hexlake.ml.features import FEATURES, ServingView, Snapshot
from hexlake.ml.registry import Registry, arm_for
from hexlake.runtime import Runtime

MAX_PENDING_EVENTS = 10_000  # served events waiting for the log, at most
MAX_EXPLAINED = 50_000  # rows whose reasons are remembered until the next refresh (~10 MB)
POPULARITY = FEATURES.index("place_interactions_30d")  # the fallback's score
SERVING_DAYS = 90  # history the serving snapshot reads (training reads all of it)
REASONS = {
    "place_interactions_30d": "popular lately",
    "place_interactions_7d": "busy this week",
    "place_unique_users": "many people go",
    "place_followers": "many followers",
    "place_avg_rating": "well rated",
    "place_trending": "trending",
    "user_interactions_30d": "you are active",
    "user_place_prior": "you have been here",
    "user_category_share": "a category you like",
    "distance_km": "near you",
}


class Recommender:
    def __init__(self, registry: Registry, cache: RecommendationCache, *, refresh_s: float = 60.0) -> None:
        self.registry, self.cache, self.refresh_s = registry, cache, refresh_s
        self.snapshot: Snapshot | None = None
        self.view: ServingView | None = None  # the snapshot as lookups, for scoring
        self.snapshot_at = 0.0
        self.names: dict[str, dict[str, str]] = {}
        self._top: list[str] = []
        #: place ids -> ids of places similar to them (the vector index), when there are vectors
        self.similar: Callable[[list[str]], list[str]] | None = None
        self._boosters: dict[str, Any] = {}
        #: reasons by (model version, feature values): rows repeat (any new user at a place, a returning
        #: user before the next refresh); emptied by each refresh and by an erasure
        self._why: dict[bytes, list[str]] = {}
        self._lock = threading.Lock()
        self.served: list[dict[str, Any]] = []  # recommendation_served events waiting for the log
        self.dropped_events = 0

    # --- features ---
    def refresh(self, interactions: pl.DataFrame, places: pl.DataFrame, now: datetime | None = None) -> int:
        """Rebuild the snapshot; drop the cache of users whose features changed. Returns that count."""
        new = Snapshot.at(interactions, places, now or datetime.utcnow())
        old, changed = self.snapshot, set()
        if old is not None:
            cols = ["user_key", "user_interactions_30d", "home_lat", "home_lng"]
            diff = new.user.select(cols).join(old.user.select(cols), on=cols, how="anti")
            changed = set(diff["user_key"].to_list())
        top = new.place.sort(["place_interactions_30d", "place_id"], descending=[True, False]).head(100)
        names = {
            r[0]: {"name": r[1], "category": r[2]}
            for r in new.places.select("place_id", "name", "category").iter_rows()
        }
        view = ServingView.of(new)
        with self._lock:
            self.snapshot, self.view, self.snapshot_at, self.names = new, view, time.monotonic(), names
            self._top, self._why = top["place_id"].to_list(), {}
        if old is None:
            self.cache.clear()
        for user in changed:
            self.cache.invalidate_user(user)
        return len(changed)

    def stale(self) -> bool:
        """True when the snapshot is missing, older than ``refresh_s``, or empty for more than 2 s."""
        age = time.monotonic() - self.snapshot_at
        return self.snapshot is None or age > self.refresh_s or (self.snapshot.places.is_empty() and age > 2.0)

    def _booster(self, version: str) -> Any:
        if version not in self._boosters:
            import lightgbm

            self._boosters[version] = lightgbm.Booster(model_file=str(self.registry.model_path(version)))
        return self._boosters[version]

    # --- serving ---
    def cache_key(self, user_key: str, lat: float | None, lng: float | None, k: int) -> tuple[str, str, str | None]:
        """(cache key, arm, model version) of a request: the key carries the model and its generation."""
        if not 1 <= k <= 100:
            raise BadRequest("k must be between 1 and 100", field="k")
        state, generation = self.registry.state_and_generation()  # one stat per request, not two
        arm, version = arm_for(user_key, state)
        key = (
            f"{user_key}|{lat if lat is None else round(lat, 3)}|{lng if lng is None else round(lng, 3)}|{k}|"
            f"{version}|{generation}"
        )
        return key, arm, version

    def cached(
        self, user_key: str, *, lat: float | None = None, lng: float | None = None, k: int = 10
    ) -> dict[str, Any] | None:
        """The list from this process's cache (L1, a dict lookup, no I/O), or None."""
        hit = self.cache.get_local(self.cache_key(user_key, lat, lng, k)[0])
        return None if hit is None else {**hit, "cached": True}

    def recommend(
        self,
        user_key: str,
        *,
        lat: float | None = None,
        lng: float | None = None,
        k: int = 10,
        nearby: Callable[[], list[str]] | None = None,
    ) -> dict[str, Any]:
        """The top ``k`` for ``user_key``; ``nearby`` (called on a cache miss only) lists candidate ids."""
        key, arm, version = self.cache_key(user_key, lat, lng, k)
        hit = self.cache.get(key)
        if hit is not None:
            return {**hit, "cached": True}
        result = self._score(user_key, version, nearby() if nearby else [], k)
        result.update(arm=arm, model_version=version or "popularity")
        if result["items"]:  # an empty list (no places yet) is not worth keeping
            self.cache.put(key, result)
        return {**result, "cached": False}

    def _score(self, user_key: str, version: str | None, nearby: list[str], k: int) -> dict[str, Any]:
        view, names = self.view, self.names
        if view is None or not view.row_of:
            return {"items": [], "fallback": "no places", "candidates": 0}
        cands = self._candidates(view, user_key, nearby)
        x = view.matrix(user_key, cands)
        booster = None if version is None else self._booster(version)
        # one thread: LightGBM's OpenMP pool costs more than it saves on a few hundred rows (and the
        # server's other threads compete for the same two cores)
        scores = x[:, POPULARITY] if booster is None else booster.predict(x, num_threads=1)
        order = np.lexsort((np.array(cands), -scores))[:k]
        reasons = [["popular lately"]] * len(order) if booster is None else self._explain(version, booster, x[order])
        items = [
            {
                "place_id": cands[i],
                "position": pos,
                "score": round(float(scores[i]), 6),
                "reasons": reasons[pos],
                **names.get(cands[i], {}),
            }
            for pos, i in enumerate(order)
        ]
        return {"items": items, "fallback": None if version else "popularity", "candidates": len(cands)}

    def _explain(self, version: str | None, booster: Any, x: np.ndarray) -> list[list[str]]:
        """Reasons of the shown rows only (SHAP contributions cost ~0.3 ms a row, far more than the
        scores), and only of rows not explained before: the same values give the same contributions."""
        keys = [f"{version}|".encode() + row.tobytes() for row in x]
        why = self._why
        reasons = [why.get(key) for key in keys]
        todo = [i for i, r in enumerate(reasons) if r is None]
        if todo:
            contrib = booster.predict(x[todo], pred_contrib=True, num_threads=1)
            if len(why) > MAX_EXPLAINED:  # a new dict, not clear(): other threads may be reading this one
                why = self._why = {}
            for i, row in zip(todo, contrib, strict=True):
                reasons[i] = why[keys[i]] = _reasons(row)
        return [r for r in reasons if r is not None]

    def _candidates(self, view: ServingView, user_key: str, nearby: list[str]) -> list[str]:
        """Nearby places, the most active ones, the user's own, and places similar to the user's favourites."""
        mine = list(view.history.get(user_key, ()))
        similar = self.similar(mine[:3]) if self.similar is not None and mine else []
        seen: dict[str, None] = {}
        known = view.row_of
        for p in [*nearby, *self._top, *mine, *similar]:
            if p in known:
                seen.setdefault(p, None)
        return list(seen)[:300]

    def served_event(self, user_key: str, result: dict[str, Any], k: int) -> dict[str, Any]:
        """The ``recommendation_served`` event of one response (ids, positions, model, arm)."""
        rid = str(uuid.uuid4())
        result["recommendation_id"] = rid
        event = {
            "event_id": str(uuid.uuid4()),
            "event_type": "recommendation_served",
            "user_key": user_key,
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "properties": {
                "recommendation_id": rid,
                "model_version": result["model_version"],
                "arm": result["arm"],
                "k": k,
                "cached": result["cached"],
                "place_ids": [i["place_id"] for i in result["items"]],
                "positions": [i["position"] for i in result["items"]],
            },
        }
        with self._lock:
            self.served.append(event)
            self._bound()
        return event

    def take_served(self) -> list[dict[str, Any]]:
        """Every waiting event, oldest first; the queue is empty afterwards."""
        with self._lock:
            out, self.served = self.served, []
        return out

    def requeue(self, events: list[dict[str, Any]]) -> None:
        """Put back events a flush could not log, ahead of newer ones (they go with the next flush)."""
        with self._lock:
            self.served[:0] = events
            self._bound()

    def _bound(self) -> None:
        over = len(self.served) - MAX_PENDING_EVENTS
        if over > 0:  # nothing draining them (--no-background) or the log down for long: drop the oldest
            del self.served[:over]
            self.dropped_events += over

    def forget(self, user_key: str, *, delete: bool) -> int:
        """Count (and with ``delete`` drop) the person's cached lists, serving features and waiting events."""
        n = self.cache.invalidate_user(user_key) if delete else self.cache.count_user(user_key)
        with self._lock:
            snap, view = self.snapshot, self.view
            if snap is not None:
                n += sum(
                    f.filter(pl.col("user_key") == user_key).height
                    for f in (snap.user, snap.user_place, snap.user_category)
                )
            waiting = [e for e in self.served if e.get("user_key") == user_key]
            if delete:
                self.served = [e for e in self.served if e.get("user_key") != user_key]
                if snap is not None:
                    keep = pl.col("user_key") != user_key
                    snap.user, snap.user_place = snap.user.filter(keep), snap.user_place.filter(keep)
                    snap.user_category = snap.user_category.filter(keep)
                if view is not None:
                    view.forget(user_key)
                self._why = {}  # its keys are feature values, some of them the person's
        return n + len(waiting)


def _reasons(contrib: np.ndarray) -> list[str]:
    """The top two features pushing this place up (SHAP contributions; the last column is the bias)."""
    idx = [int(i) for i in np.argsort(-contrib[:-1])[:2] if contrib[i] > 0]
    return [REASONS[FEATURES[i]] for i in idx] or ["a close match"]


def refresh_from(runtime: Runtime) -> int:
    """Rebuild ``recommender(runtime)``'s snapshot from the warehouse (last ``SERVING_DAYS``) and the places;
    returns how many users' features changed."""
    from hexlake.ml import source
    from hexlake.ml.service import materialise_places

    changed = recommender(runtime).refresh(source.interactions(runtime, SERVING_DAYS), source.places(runtime))
    materialise_places(runtime)  # place features next to the users' in the online store
    return changed


def recommender(runtime: Runtime) -> Recommender:
    """This process's recommender (L2 cache on Redis when ``online_store`` is Redis)."""
    from hexlake.ml.source import ml_dir

    def factory(rt: Runtime) -> Recommender:
        client, prefix = _redis(rt)
        return Recommender(Registry(ml_dir(rt)), RecommendationCache(redis=client, prefix=prefix))

    rec: Recommender = runtime.resource("ml.recommender", factory)
    return rec


def _redis(runtime: Runtime) -> tuple[Any, str]:
    """L2 is the online store's Redis (``online_url=redis://…[#prefix]``) when there is one."""
    url = runtime.settings.resolved_online_url()
    if not url.startswith(("redis://", "rediss://")):
        return None, "hexlake:ml:rec:"
    import redis

    base, _, prefix = url.partition("#")
    return redis.Redis.from_url(base), f"{prefix or 'hexlake'}:ml:rec:"


__all__ = ["REASONS", "SERVING_DAYS", "Recommender", "recommender", "refresh_from"]
