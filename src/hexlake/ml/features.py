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

import polars as pl

#: Model inputs, in order (the registry stores this list with each model).
FEATURES: tuple[str, ...] = (
    "place_interactions_30d", "place_interactions_7d", "place_unique_users", "place_followers",
    "place_avg_rating", "place_trending", "user_interactions_30d", "user_place_prior",
    "user_category_share", "distance_km",
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
            on="place_id", how="inner")
        d30, d7 = as_of - timedelta(days=30), as_of - timedelta(days=7)
        place = before.group_by("place_id").agg(
            (pl.col("ts") >= d30).sum().cast(pl.Float64).alias("place_interactions_30d"),
            (pl.col("ts") >= d7).sum().cast(pl.Float64).alias("place_interactions_7d"),
            pl.col("user_key").n_unique().cast(pl.Float64).alias("place_unique_users"),
            (pl.col("interaction_type") == "follow").sum().cast(pl.Float64).alias("place_followers"),
            pl.col("rating").mean().cast(pl.Float64).alias("place_avg_rating"),
        ).with_columns(
            (pl.col("place_interactions_7d") / (pl.col("place_interactions_30d") * 7 / 30 + 1)).alias("place_trending"))
        user = before.group_by("user_key").agg(
            (pl.col("ts") >= d30).sum().cast(pl.Float64).alias("user_interactions_30d"),
            pl.col("p_lat").mean().alias("home_lat"), pl.col("p_lng").mean().alias("home_lng"),
            pl.len().alias("user_total"))
        user_place = before.group_by("user_key", "place_id").agg(pl.len().cast(pl.Float64).alias("user_place_prior"))
        user_category = before.group_by("user_key", "category").agg(pl.len().alias("n")).join(
            user.select("user_key", "user_total"), on="user_key").select(
            "user_key", "category", (pl.col("n") / pl.col("user_total")).alias("user_category_share"))
        return cls(as_of, place, user.drop("user_total"), user_place, user_category, places)

    def pair_features(self, pairs: pl.DataFrame) -> pl.DataFrame:
        """``pairs`` (user_key, place_id, …) with every column of ``FEATURES`` added (0 when unknown)."""
        out = (pairs.join(self.places.select("place_id", "category", "lat", "lng"), on="place_id", how="left")
               .join(self.place, on="place_id", how="left")
               .join(self.user, on="user_key", how="left")
               .join(self.user_place, on=["user_key", "place_id"], how="left")
               .join(self.user_category, on=["user_key", "category"], how="left"))
        out = out.with_columns(_distance_km().alias("distance_km"))
        fills = [pl.col(f).fill_null(0.0).cast(pl.Float64) for f in FEATURES if f != "distance_km"]
        return out.with_columns(*fills, pl.col("distance_km").fill_null(50.0)).drop(
            "category", "lat", "lng", "home_lat", "home_lng")


def _distance_km() -> pl.Expr:
    """Equirectangular distance from the user's home (mean place position) to the place, km."""
    dlat = (pl.col("lat") - pl.col("home_lat")).radians()
    dlng = (pl.col("lng") - pl.col("home_lng")).radians() * pl.col("home_lat").radians().cos()
    return ((dlat ** 2 + dlng ** 2).sqrt() * 6371.0).clip(0.0, 50.0)


def day_start(ts: datetime) -> datetime:
    return ts.replace(hour=0, minute=0, second=0, microsecond=0)


__all__ = ["FEATURES", "POSITIVE_TYPES", "Snapshot", "day_start", "positives_filter"]
