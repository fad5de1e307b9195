from pydantic import Field

from hexlake._configbase import Section


class SpatialConfig(Section):
    """Places, nearby search, heatmaps, popularity, clustering."""

    max_radius_m: float = Field(50_000.0, description="Largest nearby radius accepted (400 above).")
    max_limit: int = Field(1_000, description="Largest `limit` a nearby or list query may ask for.")
    live_res: int = Field(9, description="H3 resolution live-map positions are coarsened to (events nearby).")
    live_k: int = Field(3, description="Live-map cells with fewer distinct users than this are not returned.")
    max_live_minutes: int = Field(24 * 60, description="Largest `minutes` window of the events-nearby query.")
    cluster_interval_s: float = Field(300.0, description="Seconds between runs of the hotspot clustering job.")
    cluster_window_minutes: int = Field(60, description="Location pings of the last N minutes are clustered.")
    cluster_eps_m: float = Field(150.0, description="DBSCAN neighbourhood radius in metres (haversine).")
    cluster_min_samples: int = Field(10, description="DBSCAN core-point size: pings within eps, self included.")
    cluster_max_points: int = Field(200_000, description="Most recent pings one clustering run considers.")
    region_k: int = Field(8, description="K-means regions computed per city (fewer if the city has few pings).")
    popularity_follow_events: list[str] = Field(
        ["follow", "place_followed", "place_save"],
        description="Interaction kinds counted as followers of `properties.place_id` (distinct users).",
    )
    popularity_post_events: list[str] = Field(
        ["post", "post_created", "review"], description="Interaction kinds counted as posts at a place."
    )
    popularity_reaction_events: list[str] = Field(
        ["like", "reaction", "reaction_added"],
        description="Interaction kinds counted as reactions (weight 1) in recent engagement.",
    )
    popularity_comment_events: list[str] = Field(
        ["comment", "comment_created"],
        description="Interaction kinds counted as comments (weight 2) in recent engagement.",
    )
    popularity_recent_days: int = Field(7, description="Window of the 'recent engagement' component, days.")
