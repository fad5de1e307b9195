"""Point-in-time features for (user, place) pairs, from place interactions and the places catalogue.

A ``Snapshot`` holds what was known strictly before its ``as_of`` time: per-place activity, per-user
habits and each user's history with each place. Training rows take the snapshot of their label's
day (``as_of`` = the start of that day), and serving takes the snapshot of now, so the model sees
the same definitions in both places and no training feature can use an event after its label.

Inputs are polars frames:
* interactions: ``user_key, place_id, interaction_type, rating, ts`` (+ ``lat, lng`` optional)
* places: ``place_id, name, category, lat, lng``
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl

#: Model inputs, in order (the registry stores this list with each model).
FEATURES: tuple[str, ...] = (
    "place_interactions_30d",
    "place_interactions_7d",
    "place_unique_users",
    "place_followers",
    "place_avg_rating",
    "place_trending",
    "user_interactions_30d",
    "user_place_prior",
    "user_category_share",
    "distance_km",
)
POSITIVE_TYPES = ("visit", "check_in", "place_save", "save", "rating", "review")


def positives_filter() -> pl.Expr:
    """Seed 001's positive label: a visit, check-in, save, or a rating/review of at least 3."""
    rated = pl.col("interaction_type").is_in(["rating", "review"])
    return pl.col("interaction_type").is_in(POSITIVE_TYPES) & (~rated | (pl.col("rating").fill_null(0) >= 3))


@dataclass
class Snapshot:
    """Features as of ``as_of`` (events with ``ts < as_of`` only)."""

    as_of: datetime
    place: pl.DataFrame  # place_id + place_* columns
    user: pl.DataFrame  # user_key, user_interactions_30d, home_lat, home_lng
    user_place: pl.DataFrame  # user_key, place_id, user_place_prior
    user_category: pl.DataFrame  # user_key, category, user_category_share
    places: pl.DataFrame  # the catalogue

    @classmethod
    def at(cls, interactions: pl.DataFrame, places: pl.DataFrame, as_of: datetime) -> Snapshot:
        before = interactions.filter(pl.col("ts") < as_of).join(
            places.select("place_id", "category", pl.col("lat").alias("p_lat"), pl.col("lng").alias("p_lng")),
            on="place_id",
            how="inner",
        )
        d30, d7 = as_of - timedelta(days=30), as_of - timedelta(days=7)
        place = (
            before.group_by("place_id")
            .agg(
                (pl.col("ts") >= d30).sum().cast(pl.Float64).alias("place_interactions_30d"),
                (pl.col("ts") >= d7).sum().cast(pl.Float64).alias("place_interactions_7d"),
                pl.col("user_key").n_unique().cast(pl.Float64).alias("place_unique_users"),
                (pl.col("interaction_type") == "follow").sum().cast(pl.Float64).alias("place_followers"),
                pl.col("rating").mean().cast(pl.Float64).alias("place_avg_rating"),
            )
            .with_columns(
                (pl.col("place_interactions_7d") / (pl.col("place_interactions_30d") * 7 / 30 + 1)).alias(
                    "place_trending"
                )
            )
        )
        user = before.group_by("user_key").agg(
            (pl.col("ts") >= d30).sum().cast(pl.Float64).alias("user_interactions_30d"),
            pl.col("p_lat").mean().alias("home_lat"),
            pl.col("p_lng").mean().alias("home_lng"),
            pl.len().alias("user_total"),
        )
        user_place = before.group_by("user_key", "place_id").agg(pl.len().cast(pl.Float64).alias("user_place_prior"))
        user_category = (
            before.group_by("user_key", "category")
            .agg(pl.len().alias("n"))
            .join(user.select("user_key", "user_total"), on="user_key")
            .select("user_key", "category", (pl.col("n") / pl.col("user_total")).alias("user_category_share"))
        )
        return cls(as_of, place, user.drop("user_total"), user_place, user_category, places)

    def pair_features(self, pairs: pl.DataFrame) -> pl.DataFrame:
        """``pairs`` (user_key, place_id, …) with every column of ``FEATURES`` added (0 when unknown)."""
        out = (
            pairs.join(self.places.select("place_id", "category", "lat", "lng"), on="place_id", how="left")
            .join(self.place, on="place_id", how="left")
            .join(self.user, on="user_key", how="left")
            .join(self.user_place, on=["user_key", "place_id"], how="left")
            .join(self.user_category, on=["user_key", "category"], how="left")
        )
        out = out.with_columns(_distance_km().alias("distance_km"))
        fills = [pl.col(f).fill_null(0.0).cast(pl.Float64) for f in FEATURES if f != "distance_km"]
        return out.with_columns(*fills, pl.col("distance_km").fill_null(50.0)).drop(
            "category", "lat", "lng", "home_lat", "home_lng"
        )


PLACE_FEATURES = tuple(f for f in FEATURES if f.startswith("place_"))
FAR_KM = 50.0  # the distance of a pair whose user or place has no position (and the clip)


@dataclass
class ServingView:
    """A ``Snapshot`` as arrays and dicts, so one user's candidates get their features by lookups
    (tens of microseconds) instead of five polars joins (milliseconds). ``matrix`` gives the values
    ``Snapshot.pair_features`` gives; it is built once per refresh, off the request path."""

    row_of: dict[str, int]  # catalogue place id -> row of the arrays below; the last row is "unknown"
    place: np.ndarray  # (places + 1, len(PLACE_FEATURES)), 0 when the place has no interactions
    lat: np.ndarray  # NaN when the catalogue has no position
    lng: np.ndarray
    category: list[str | None]
    users: dict[str, tuple[float, float | None, float | None]]  # interactions_30d, home_lat, home_lng
    history: dict[str, dict[str, float]]  # user -> place -> prior, most visited first (ties: by id)
    tastes: dict[str, dict[str, float]]  # user -> category -> share

    @classmethod
    def of(cls, snap: Snapshot) -> ServingView:
        cat = snap.places.select("place_id", "category", "lat", "lng")
        feats = cat.select("place_id").join(snap.place, on="place_id", how="left")
        place = feats.select(pl.col(f).fill_null(0.0).cast(pl.Float64) for f in PLACE_FEATURES).to_numpy()
        return cls(
            row_of={p: i for i, p in enumerate(cat["place_id"].to_list())},
            place=np.vstack([place.reshape(-1, len(PLACE_FEATURES)), np.zeros((1, len(PLACE_FEATURES)))]),
            lat=_with_nan(cat["lat"]),
            lng=_with_nan(cat["lng"]),
            category=[*cat["category"].to_list(), None],
            users={
                u: (n, la, ln)
                for u, n, la, ln in snap.user.select(
                    "user_key", "user_interactions_30d", "home_lat", "home_lng"
                ).iter_rows()
            },
            history=_nested(
                snap.user_place.sort(["user_key", "user_place_prior", "place_id"], descending=[False, True, False]),
                "place_id",
                "user_place_prior",
            ),
            tastes=_nested(
                snap.user_category.filter(pl.col("category").is_not_null()), "category", "user_category_share"
            ),
        )

    def matrix(self, user_key: str, place_ids: list[str]) -> np.ndarray:
        """``(len(place_ids), len(FEATURES))`` in ``FEATURES`` order; unknown places get zeros, far away."""
        unknown = len(self.category) - 1
        rows = [self.row_of.get(p, unknown) for p in place_ids]
        n30, home_lat, home_lng = self.users.get(user_key, (0.0, None, None))
        mine, taste = self.history.get(user_key, {}), self.tastes.get(user_key, {})
        x = np.empty((len(place_ids), len(FEATURES)))
        x[:, _PLACE_COLS] = self.place[rows]
        x[:, _COL["user_interactions_30d"]] = n30
        x[:, _COL["user_place_prior"]] = [mine.get(p, 0.0) for p in place_ids]
        x[:, _COL["user_category_share"]] = [taste.get(self.category[r], 0.0) for r in rows]  # type: ignore[arg-type]
        x[:, _COL["distance_km"]] = self._distance(np.asarray(rows, dtype=np.int64), home_lat, home_lng)
        return x

    def forget(self, user_key: str) -> None:
        """Drop the person (erasure): they score as a new user from now on."""
        for table in (self.users, self.history, self.tastes):
            table.pop(user_key, None)

    def _distance(self, rows: np.ndarray, home_lat: float | None, home_lng: float | None) -> np.ndarray:
        if home_lat is None or home_lng is None:
            return np.full(len(rows), FAR_KM)
        lat, lng = self.lat[rows], self.lng[rows]
        dlat = np.radians(lat - home_lat)
        dlng = np.radians(lng - home_lng) * np.cos(np.radians(home_lat))
        km = np.clip(np.sqrt(dlat**2 + dlng**2) * 6371.0, 0.0, FAR_KM)
        return np.where(np.isnan(km), FAR_KM, km)  # no position: far, as fill_null does in pair_features


_COL = {f: i for i, f in enumerate(FEATURES)}
_PLACE_COLS = [_COL[f] for f in PLACE_FEATURES]


def _with_nan(column: pl.Series) -> np.ndarray:
    """A float column as numpy with NaN for null, plus the "unknown place" row."""
    return np.append(column.cast(pl.Float64).fill_null(np.nan).to_numpy(), np.nan)


def _nested(frame: pl.DataFrame, key: str, value: str) -> dict[str, dict[str, float]]:
    """``user_key -> {key: value}`` from a frame's rows, in the frame's order."""
    out: dict[str, dict[str, float]] = {}
    for user, k, v in frame.select("user_key", key, value).iter_rows():
        out.setdefault(user, {})[k] = float(v)
    return out


def _distance_km() -> pl.Expr:
    """Equirectangular distance from the user's home (mean place position) to the place, km."""
    dlat = (pl.col("lat") - pl.col("home_lat")).radians()
    dlng = (pl.col("lng") - pl.col("home_lng")).radians() * pl.col("home_lat").radians().cos()
    return ((dlat**2 + dlng**2).sqrt() * 6371.0).clip(0.0, 50.0)


def day_start(ts: datetime) -> datetime:
    return ts.replace(hour=0, minute=0, second=0, microsecond=0)


__all__ = ["FEATURES", "POSITIVE_TYPES", "ServingView", "Snapshot", "day_start", "positives_filter"]
