"""The models' public names and columns: what the read API may serve and filter on."""

from __future__ import annotations

MARTS: list[str] = [
    "marts_core_user_activity_daily",
    "marts_core_dim_users",
    "marts_core_auth_events",
    "event_aggregations",
    "daily_engagement",
    "place_popularity",
    "heatmap_hourly",
    "metrics_active_users",
]

STAGING: list[str] = [
    "stg_events", "stg_users", "stg_auth_events", "stg_place_interactions", "stg_location_pings",
]

#: The as-of tier (``hexlake.transform.tiers``; a test checks this against the DAG): FULL models
#: rebuilt over all events on ``transform.asof_cron``. Every other model is in the fresh tier.
ASOF: frozenset[str] = frozenset({
    "marts.marts_core_dim_users", "marts.place_popularity", "marts.dim_places", "marts.fact_recommendations",
    "features.user_features", "features.place_features", "staging.stg_extracted_users",
})


def tier(name: str) -> str:
    """``fresh`` or ``asof`` for a model's schema-qualified name."""
    return "asof" if name in ASOF else "fresh"


# The event-time column of each model (freshness, default ordering of /v1/marts).
TIME_COLUMNS: dict[str, str] = {
    "stg_events": "ts",
    "stg_users": "updated_at",
    "stg_auth_events": "ts",
    "stg_place_interactions": "ts",
    "stg_location_pings": "ts",
    "marts_core_user_activity_daily": "activity_date",
    "marts_core_dim_users": "last_active_date",
    "marts_core_auth_events": "ts",
    "event_aggregations": "period_start",
    "daily_engagement": "date",
    "place_popularity": "last_interaction_at",
    "heatmap_hourly": "hour",
    "metrics_active_users": "activity_date",
}

# Stable default order for paging (the grain, so offsets are deterministic).
ORDER_BY: dict[str, str] = {
    "marts_core_user_activity_daily": "activity_date, user_id",
    "marts_core_dim_users": "user_id",
    "marts_core_auth_events": "ts, event_id",
    "event_aggregations": "period_type, period_start, event_type, source",
    "daily_engagement": "date, h3_cell_res6",
    "place_popularity": "popularity_rank, place_id",
    "heatmap_hourly": "hour, h3_cell",
    "metrics_active_users": "activity_date",
}


def model_table(name: str) -> str:
    """``marts.x`` / ``x`` -> the schema-qualified view SQLMesh keeps pointing at prod."""
    short = name.split(".")[-1]
    schema = "staging" if short.startswith("stg_") else "marts"
    return f"{schema}.{short}"


def time_column(name: str) -> str:
    return TIME_COLUMNS[name.split(".")[-1]]


__all__ = ["ASOF", "MARTS", "ORDER_BY", "STAGING", "TIME_COLUMNS", "model_table", "tier", "time_column"]
