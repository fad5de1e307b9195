"""Interactions and places frames straight from a ``DemoWorld`` (tests and benchmarks, no gate)."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from hexlake.demo.generate import DemoWorld


def world_frames(world: DemoWorld) -> tuple[pl.DataFrame, pl.DataFrame]:
    rows = []
    for e in world.events():
        if e["event_type"] != "place_interaction":
            continue
        d = e["data"]
        ts = datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")).replace(tzinfo=None)
        rows.append((e["user_id"], str(d["place_id"]), d["interaction_type"], d.get("rating"), ts))
    inter = pl.DataFrame(rows, schema={"user_key": pl.String, "place_id": pl.String, "interaction_type": pl.String,
                                       "rating": pl.Float64, "ts": pl.Datetime}, orient="row")
    places = pl.DataFrame([(str(p.id), p.name, p.category, p.lat, p.lng) for p in world.places],
                          schema={"place_id": pl.String, "name": pl.String, "category": pl.String,
                                  "lat": pl.Float64, "lng": pl.Float64}, orient="row")
    return inter, places


__all__ = ["world_frames"]
